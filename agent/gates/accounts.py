"""Managing accounts: who may add, disable and reset users and see or revoke their tokens.

    add_user(store, settings, "sam", roles=["reviewer"], password=pw, actor=None)  # first one
    add_user(store, settings, "kim", roles=["reviewer"], password=pw, actor=admin)
    disable_user(store, settings, "kim", actor=admin)

The rules (each refusal a PolicyError naming it, exit 6):

- bootstrap: while the store has no account, anyone who can write the store may add the
  first one, and it must have the admin role (`policy.admin_role`), or nobody could ever
  add the next. It is recorded with created_by "bootstrap".
- after that, only a signed-in admin (a token or a password; never the OS user) adds,
  disables, enables and resets accounts. Embedding code (`as_user=`, proof "api") with the
  admin role may too: it holds the store already.
- a signed-in user changes their own password and lists and revokes their own tokens.
- the last enabled admin cannot be disabled (nobody could manage accounts afterwards).

Every change is written to the store's signed ledger with who made it
(`evidence.accounts`). A person who can add accounts can make a second identity, so the
ledger names the creator of every account: an auditor sees who made the second approver.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agent.core.errors import InputError, PolicyError
from agent.gates.identity import PROOF_API, Identity, hash_password

if TYPE_CHECKING:
    from agent.core.settings import Settings
    from evidence.accounts import TokenRecord, UserRecord
    from evidence.store import EvidenceStore

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def may_manage(store: EvidenceStore, settings: Settings, actor: Identity | None) -> bool:
    """True when `actor` is an admin proven strongly enough to manage accounts."""
    if actor is None or not (actor.signed_in or actor.proof == PROOF_API):
        return False
    account = store.get_user(actor.user)
    if account is not None:
        roles = () if account.disabled else account.roles
    else:
        roles = tuple(settings.policy.users.get(actor.user, ())) if actor.proof == PROOF_API else ()
    return settings.policy.admin_role in roles


def _require_admin(
    store: EvidenceStore, settings: Settings, actor: Identity | None, doing: str
) -> str:
    if not may_manage(store, settings, actor):
        who = f"{actor.user!r} (proven by {actor.proof})" if actor else "nobody signed in"
        raise PolicyError(
            f"{who} may not {doing}: it takes a signed-in user with role "
            f"{settings.policy.admin_role!r}",
            hint="sign in as an admin with `aijia login`",
        )
    assert actor is not None
    return actor.user


def _require_self_or_admin(
    store: EvidenceStore, settings: Settings, actor: Identity | None, name: str, doing: str
) -> str:
    if actor is not None and actor.user == name and (actor.signed_in or actor.proof == PROOF_API):
        return actor.user
    return _require_admin(store, settings, actor, doing)


def _check_new(settings: Settings, name: str, roles: Sequence[str], password: str) -> None:
    if not NAME.match(name):
        raise InputError(
            f"cannot use {name!r} as a user name",
            hint="1-64 characters: lower-case letters, digits, '.', '_' or '-'",
        )
    check_roles(settings, roles)
    check_password(settings, password)


def check_roles(settings: Settings, roles: Sequence[str]) -> None:
    declared = {*settings.policy.roles, settings.policy.admin_role}
    unknown = [r for r in roles if r not in declared]
    if not roles or unknown:
        what = f"unknown role(s) {', '.join(unknown)}" if unknown else "no role given"
        raise InputError(
            f"cannot give an account {what}",
            hint=f"--role one of: {', '.join(sorted(declared))} (policy.roles in config.yaml)",
        )


def check_password(settings: Settings, password: str) -> None:
    shortest = settings.accounts.min_password_length
    if len(password) < shortest:
        raise InputError(
            f"the password is too short ({len(password)} characters)",
            hint=f"use at least {shortest} (accounts.min_password_length)",
        )


def add_user(
    store: EvidenceStore,
    settings: Settings,
    name: str,
    *,
    roles: Sequence[str],
    password: str,
    actor: Identity | None,
) -> UserRecord:
    """A new account (see the module docstring for who may)."""
    from evidence.accounts import BOOTSTRAP

    _check_new(settings, name, roles, password)
    roles = list(dict.fromkeys(roles))
    if store.count_users() == 0:
        admin = settings.policy.admin_role
        if admin not in roles:
            raise PolicyError(
                f"the first account must have role {admin!r}, or nobody could add the next",
                hint=f"aijia users add {name} --role {admin} --role …",
            )
        by = BOOTSTRAP
    else:
        by = _require_admin(store, settings, actor, "add accounts")
    return store.add_user(name, roles=roles, password_hash=hash_password(password), created_by=by)


def set_enabled(
    store: EvidenceStore, settings: Settings, name: str, *, enabled: bool, actor: Identity | None
) -> UserRecord:
    """Disable (its tokens stop working at once) or enable an account; admins only."""
    by = _require_admin(store, settings, actor, "disable or enable accounts")
    admin = settings.policy.admin_role
    if not enabled:
        others = [
            u for u in store.list_users() if u.name != name and not u.disabled and admin in u.roles
        ]
        target = store.get_user(name)
        if target is not None and admin in target.roles and not others:
            raise PolicyError(
                f"{name!r} is the last enabled {admin}; disabling it would leave nobody to "
                "manage accounts",
                hint=f"add another user with role {admin} first",
            )
    kind = "user_enabled" if enabled else "user_disabled"
    return store.update_user(name, kind, by=by, disabled=0 if enabled else 1)


def set_password(
    store: EvidenceStore, settings: Settings, name: str, *, password: str, actor: Identity | None
) -> UserRecord:
    """A new password: the user themselves, or an admin (which also lifts a lock-out)."""
    by = _require_self_or_admin(store, settings, actor, name, f"change {name!r}'s password")
    check_password(settings, password)
    return store.update_user(
        name,
        "password_changed",
        by=by,
        password_hash=hash_password(password),
        failed_logins=0,
        locked_until=None,
    )


def tokens_of(
    store: EvidenceStore, settings: Settings, name: str, *, actor: Identity | None
) -> list[TokenRecord]:
    _require_self_or_admin(store, settings, actor, name, f"list {name!r}'s tokens")
    return store.tokens_of(name)


def revoke_token(
    store: EvidenceStore, settings: Settings, token_id: str, *, actor: Identity | None
) -> TokenRecord:
    """Revoke a token: its owner or an admin. InputError when there is no such token."""
    record = store.get_token(token_id)
    if record is None:
        raise InputError(
            f"no token {token_id!r} in the evidence store {store.root}",
            hint="`aijia users tokens NAME` lists a user's tokens",
        )
    by = _require_self_or_admin(store, settings, actor, record.user, f"revoke {token_id}")
    store.revoke_token(token_id, by=by)
    found = store.get_token(token_id)
    assert found is not None
    return found
