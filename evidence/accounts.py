"""Accounts and personal API tokens: the rows that say who a person is, kept as evidence.

    users        name, roles (JSON list), argon2id password hash, disabled, who created
                 them and when, failed sign-ins in a row, locked until
    api_tokens   one personal token: its owner, the sha256 of the token (never the token),
                 a label, created / last used / expires / revoked times

The store records; it does not decide. Hashing passwords, minting tokens, lock-out and who
may manage accounts are `agent.gates.identity`'s job. Every write here is one transaction
that also appends the row as written to the store's ledger (`evidence.ledger`), with who made
the change (`by`), so the ledger is sealed and signed with it and `verify` finds a role,
hash or revocation edited afterwards.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.core.errors import InputError, PolicyError
from evidence.ids import new_id, utc_now

if TYPE_CHECKING:
    from evidence.transaction import Transaction

BOOTSTRAP = "bootstrap"  # created_by of the first account, made when no account existed


@dataclass(frozen=True)
class UserRecord:
    name: str
    roles: tuple[str, ...]
    disabled: bool
    created_at: str
    created_by: str | None
    failed_logins: int
    locked_until: str | None


@dataclass(frozen=True)
class TokenRecord:
    token_id: str
    user: str
    label: str
    created_at: str
    last_used_at: str | None
    expires_at: str | None
    revoked_at: str | None


def _user(row: Mapping[str, Any]) -> UserRecord:
    return UserRecord(
        name=row["name"],
        roles=tuple(json.loads(row["roles"])),
        disabled=bool(row["disabled"]),
        created_at=row["created_at"],
        created_by=row["created_by"],
        failed_logins=row["failed_logins"],
        locked_until=row["locked_until"],
    )


def _token(row: Mapping[str, Any]) -> TokenRecord:
    return TokenRecord(**{k: row[k] for k in TokenRecord.__dataclass_fields__})


def _record(tx: Transaction, kind: str, table: str, key: str, value: str, by: str | None) -> None:
    """The row as it is now, into the ledger (`{"table", "key", "row"}` + who changed it)."""
    row = tx.one(f"SELECT * FROM {table} WHERE {key} = ?", [value])
    data: dict[str, Any] = {"table": table, "key": {key: value}, "row": row}
    if by is not None:
        data["by"] = by
    tx.ledger_append(kind, data)


class Accounts:
    """Mixed into EvidenceStore: one transaction per write, and the reads."""

    if TYPE_CHECKING:
        root: Path

        def transaction(self) -> contextlib.AbstractContextManager[Transaction]: ...
        def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...
        def query_one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None: ...

    # ------------------------------------------------------------------ users

    def count_users(self) -> int:
        row = self.query_one("SELECT COUNT(*) AS n FROM users")
        return int(row["n"]) if row else 0

    def get_user(self, name: str) -> UserRecord | None:
        row = self.query_one("SELECT * FROM users WHERE name = ?", [name])
        return _user(row) if row else None

    def list_users(self) -> list[UserRecord]:
        return [_user(r) for r in self.query("SELECT * FROM users ORDER BY name")]

    def account_roles(self) -> dict[str, list[str]]:
        """name -> roles of every account; a disabled account has none."""
        return {u.name: [] if u.disabled else list(u.roles) for u in self.list_users()}

    def password_hash(self, name: str) -> str | None:
        row = self.query_one("SELECT password_hash FROM users WHERE name = ?", [name])
        return str(row["password_hash"]) if row else None

    def add_user(
        self, name: str, *, roles: Sequence[str], password_hash: str, created_by: str
    ) -> UserRecord:
        """A new, enabled account. `created_by` BOOTSTRAP: only while no account exists
        (checked inside the transaction, so two first users cannot both be made)."""
        with self.transaction() as tx:
            if created_by == BOOTSTRAP and tx.one("SELECT 1 AS x FROM users LIMIT 1"):
                raise PolicyError(
                    f"cannot add {name!r} as the first account: another account was just made",
                    hint="sign in as an admin (`aijia login`) and add users from there",
                )
            if tx.one("SELECT 1 AS x FROM users WHERE name = ?", [name]):
                raise InputError(
                    f"user {name!r} already exists in the evidence store {self.root}",
                    hint="`aijia users list` shows the accounts",
                )
            tx.table("users").insert(
                {
                    "name": name,
                    "roles": json.dumps(list(roles)),
                    "password_hash": password_hash,
                    "disabled": 0,
                    "created_at": utc_now(),
                    "created_by": created_by,
                    "failed_logins": 0,
                    "locked_until": None,
                }
            )
            _record(tx, "user_added", "users", "name", name, created_by)
        return self._must_user(name)

    def update_user(self, name: str, kind: str, *, by: str | None, **columns: Any) -> UserRecord:
        """Set `columns` of the account (e.g. password_hash, disabled, failed_logins,
        locked_until), recorded in the ledger as `kind` by `by`."""
        allowed = {"password_hash", "disabled", "failed_logins", "locked_until", "roles"}
        if not columns or set(columns) - allowed:
            raise ValueError(f"update_user: columns must be among {sorted(allowed)}")
        if "roles" in columns:
            columns["roles"] = json.dumps(list(columns["roles"]))
        sets = ", ".join(f"{c} = ?" for c in columns)
        with self.transaction() as tx:
            cursor = tx.execute(
                f"UPDATE users SET {sets} WHERE name = ?", [*columns.values(), name]
            )
            if cursor.rowcount == 0:
                raise self._no_user(name)
            _record(tx, kind, "users", "name", name, by)
        return self._must_user(name)

    def _must_user(self, name: str) -> UserRecord:
        user = self.get_user(name)
        if user is None:
            raise self._no_user(name)
        return user

    def _no_user(self, name: str) -> InputError:
        return InputError(
            f"no user {name!r} in the evidence store {self.root}",
            hint="`aijia users list` shows the accounts",
        )

    # ------------------------------------------------------------------ tokens

    def add_token(
        self, user: str, *, token_sha256: str, label: str, expires_at: str | None, by: str
    ) -> TokenRecord:
        token_id = new_id("t-")
        with self.transaction() as tx:
            if tx.one("SELECT 1 AS x FROM users WHERE name = ?", [user]) is None:
                raise self._no_user(user)
            tx.table("api_tokens").insert(
                {
                    "token_id": token_id,
                    "user": user,
                    "token_sha256": token_sha256,
                    "label": label,
                    "created_at": utc_now(),
                    "last_used_at": None,
                    "expires_at": expires_at,
                    "revoked_at": None,
                }
            )
            _record(tx, "token_created", "api_tokens", "token_id", token_id, by)
        found = self.get_token(token_id)
        assert found is not None
        return found

    def get_token(self, token_id: str) -> TokenRecord | None:
        row = self.query_one("SELECT * FROM api_tokens WHERE token_id = ?", [token_id])
        return _token(row) if row else None

    def token_by_hash(self, token_sha256: str) -> TokenRecord | None:
        row = self.query_one("SELECT * FROM api_tokens WHERE token_sha256 = ?", [token_sha256])
        return _token(row) if row else None

    def tokens_of(self, user: str) -> list[TokenRecord]:
        rows = self.query('SELECT * FROM api_tokens WHERE "user" = ? ORDER BY created_at', [user])
        return [_token(r) for r in rows]

    def revoke_token(self, token_id: str, *, by: str) -> bool:
        """Revoke the token now; False when it was revoked already or does not exist."""
        with self.transaction() as tx:
            cursor = tx.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
                [utc_now(), token_id],
            )
            if cursor.rowcount == 0:
                return False
            _record(tx, "token_revoked", "api_tokens", "token_id", token_id, by)
        return True

    def touch_token(self, token_id: str, at: str) -> None:
        """Record that the token was used at `at` (callers throttle this: it is a ledger
        event, one per write, not one per command)."""
        with self.transaction() as tx:
            tx.execute("UPDATE api_tokens SET last_used_at = ? WHERE token_id = ?", [at, token_id])
            _record(tx, "token_used", "api_tokens", "token_id", token_id, None)
