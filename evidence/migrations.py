"""The store's schema, as an ordered list of migrations.

Each migration is a plain function applied once, in order, inside one write transaction;
`PRAGMA user_version` records how many have run. Append new ones at the end, never edit old
ones: a store written by an older Aijia must open with a newer one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from sqlite_utils import Database
from sqlite_utils.db import Table


def table(db: Database, name: str) -> Table:
    """`db[name]` typed as a table (every name here is a table, never a view)."""
    return cast(Table, db[name])


def create_core_tables(db: Database) -> None:
    table(db, "cases").create(
        {
            "case_id": str,
            "channel": str,
            "ask": str,
            "customer": str,
            "status": str,  # open | closed
            "created_at": str,
            "closed_at": str,
        },
        pk="case_id",
        not_null={"case_id", "channel", "status", "created_at"},
    )
    table(db, "runs").create(
        {
            "run_id": str,
            "recipe": str,
            "recipe_version": str,
            "site": str,
            "account": str,
            "case_id": str,
            "state": str,
            "inputs": str,  # JSON, secrets masked
            "outputs": str,  # JSON
            "error": str,
            "created_at": str,
            "updated_at": str,
            # The chain head, updated with every append: removing the last event shows.
            "last_seq": int,
            "head_hash": str,
        },
        pk="run_id",
        not_null={"run_id", "recipe", "site", "state", "created_at", "updated_at"},
    )
    table(db, "runs").create_index(["state"])
    table(db, "runs").create_index(["case_id"])
    table(db, "runs").create_index(["created_at"])
    table(db, "events").create(
        {
            "run_id": str,
            "seq": int,
            "kind": str,
            "data": str,  # JSON
            "artifacts": str,  # JSON list of sha256
            "at": str,
            "prev_hash": str,
            "hash": str,
        },
        pk=("run_id", "seq"),
        not_null={"run_id", "seq", "kind", "data", "artifacts", "at", "prev_hash", "hash"},
    )
    table(db, "events").create_index(["kind"])
    table(db, "artifacts").create(
        {
            "sha256": str,
            "kind": str,
            "media_type": str,
            "size": int,
            "path": str,
            "created_at": str,
        },
        pk="sha256",
        not_null={"sha256", "kind", "media_type", "size", "path", "created_at"},
    )
    # Which events use which artifact: lets prune keep files another run still references.
    table(db, "event_artifacts").create(
        {"run_id": str, "seq": int, "sha256": str}, pk=("run_id", "seq", "sha256")
    )
    table(db, "event_artifacts").create_index(["sha256"])
    table(db, "manifests").create(
        {"run_id": str, "n": int, "root_hash": str, "manifest": str, "at": str},
        pk=("run_id", "n"),
        not_null={"run_id", "n", "root_hash", "manifest", "at"},
    )


def create_gate_tables(db: Database) -> None:
    table(db, "gates").create(
        {
            "gate_id": str,
            "run_id": str,
            "action": str,
            "summary": str,
            "binds": str,  # JSON
            "bind_hash": str,
            "state": str,  # pending | approved | rejected | expired | used
            "required_approvals": int,
            "created_at": str,
            "expires_at": str,
        },
        pk="gate_id",
        not_null={"gate_id", "run_id", "action", "binds", "bind_hash", "state", "created_at"},
    )
    table(db, "gates").create_index(["run_id"])
    table(db, "gates").create_index(["state"])
    table(db, "approvals").create(
        {
            "approval_id": str,
            "gate_id": str,
            "run_id": str,
            "approver": str,
            "decision": str,  # approved | rejected
            "bind_hash": str,  # the hash the approver signed
            "note": str,
            "at": str,
        },
        pk="approval_id",
        not_null={"approval_id", "gate_id", "run_id", "approver", "decision", "bind_hash", "at"},
    )
    table(db, "approvals").create_index(["gate_id"])


def create_prune_log(db: Database) -> None:
    # Retention leaves a trace: what was removed, its sealed hashes, when and why.
    table(db, "prunes").create(
        {
            "run_id": str,
            "recipe": str,
            "case_id": str,
            "created_at": str,
            "event_count": int,
            "head_hash": str,
            "root_hash": str,
            "reason": str,
            "pruned_at": str,
        },
        pk="run_id",
        not_null={"run_id", "pruned_at"},
    )


def forbid_event_changes(db: Database) -> None:
    # Append-only in the database itself, not only by convention. Deleting is allowed only for
    # runs recorded in `prunes` first (retention removes whole runs, never part of a chain).
    db.executescript(
        """
        CREATE TRIGGER events_no_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'evidence events are append-only'); END;
        CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        WHEN NOT EXISTS (SELECT 1 FROM prunes WHERE prunes.run_id = OLD.run_id)
        BEGIN SELECT RAISE(ABORT, 'evidence events are append-only'); END;
        CREATE TRIGGER approvals_no_update BEFORE UPDATE ON approvals
        BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END;
        CREATE TRIGGER manifests_no_update BEFORE UPDATE ON manifests
        BEGIN SELECT RAISE(ABORT, 'manifests are append-only'); END;
        """
    )


def create_schedule_tables(db: Database) -> None:
    # One row per schedule slot acted on. UNIQUE(schedule, slot) is the exactly-once claim:
    # two daemons (or one restarted) racing for a slot, only one INSERT succeeds.
    table(db, "schedule_fires").create(
        {
            "fire_id": str,
            "schedule": str,
            "slot": str,  # nominal fire time, ISO UTC ("manual:<id>" for `schedule trigger`)
            "state": str,  # running | done | failed | interrupted | skipped | missed
            "reason": str,
            "owner": str,  # the daemon that claimed it: pid@host
            "rows": int,
            "done": int,
            "failed": int,
            "skipped": int,
            "claimed_at": str,
            "finished_at": str,
        },
        pk="fire_id",
        not_null={"fire_id", "schedule", "slot", "state", "claimed_at"},
    )
    db.execute("CREATE UNIQUE INDEX schedule_fires_slot ON schedule_fires (schedule, slot)")
    table(db, "schedule_fires").create_index(["schedule", "claimed_at"])
    # One row per input row of a fire: its run, or why it was skipped (fresh evidence).
    table(db, "schedule_items").create(
        {
            "fire_id": str,
            "n": int,  # 1-based row
            "inputs": str,  # JSON
            "state": str,  # pending | running | done | failed | paused | skipped | interrupted
            "run_id": str,
            "reason": str,
            "updated_at": str,
        },
        pk=("fire_id", "n"),
        not_null={"fire_id", "n", "inputs", "state", "updated_at"},
    )
    table(db, "schedule_items").create_index(["run_id"])
    # At most one daemon per store: a lease the holder renews; an expired one may be taken.
    table(db, "scheduler_lock").create(
        {
            "name": str,
            "owner": str,
            "pid": int,
            "host": str,
            "token": str,
            "acquired_at": str,
            "expires_at": str,
        },
        pk="name",
        not_null={"name", "owner", "pid", "host", "token", "acquired_at", "expires_at"},
    )


def add_signatures_and_leases(db: Database) -> None:
    # A sealed manifest's signature: JSON {"alg", "key", "sig", "tsa"?} (evidence/signing.py).
    table(db, "manifests").add_column("signature", str)
    # One commit at a time per run: the holder renews its lease; reconcile and another resume
    # act only once it has expired; the holder checks it before the mutating request.
    table(db, "commit_leases").create(
        {
            "run_id": str,
            "holder": str,  # pid@host (who, for people reading `runs show`)
            "token": str,  # random per claim: only the claimant renews or releases it
            "acquired_at": str,
            "renewed_at": str,
            "expires_at": str,
        },
        pk="run_id",
        not_null={"run_id", "holder", "token", "acquired_at", "renewed_at", "expires_at"},
    )
    # RFC 3161 timestamp tokens on sealed roots, asked for after the seal is committed (a TSA
    # on the network is never waited for inside a write transaction).
    table(db, "root_timestamps").create(
        {
            "run_id": str,
            "n": int,  # the manifest
            "root_hash": str,
            "tsa_url": str,
            "token": str,  # base64 DER TimeStampResp token
            "at": str,
        },
        pk=("run_id", "n"),
        not_null={"run_id", "n", "root_hash", "tsa_url", "token", "at"},
    )


def add_ledger_and_root_log(db: Database) -> None:
    # The store's own chain, for what belongs to no single run: cases, schedule fires and
    # their items, prunes, and which runs exist. Each event carries the row as written
    # (evidence/ledger.py); `verify` replays it and compares the tables with the result.
    table(db, "ledger").create(
        {
            "seq": int,
            "kind": str,
            "data": str,  # JSON {"table", "key", "row"} (row null: deleted)
            "at": str,
            "prev_hash": str,
            "hash": str,
        },
        pk="seq",
        not_null={"seq", "kind", "data", "at", "prev_hash", "hash"},
    )
    # Signed seals of the ledger: root_hash = the ledger's head hash after event_count events.
    table(db, "ledger_seals").create(
        {"n": int, "event_count": int, "root_hash": str, "signature": str, "at": str},
        pk="n",
        not_null={"n", "event_count", "root_hash", "signature", "at"},
    )
    # Root log lines written in the sealing transaction, appended to the log file after
    # COMMIT (evidence/rootlog.py); a crash in between is caught up on the next open.
    db.execute(
        "CREATE TABLE root_log_outbox (entry INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL)"
    )
    db.executescript(
        """
        CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
        BEGIN SELECT RAISE(ABORT, 'the evidence ledger is append-only'); END;
        CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
        BEGIN SELECT RAISE(ABORT, 'the evidence ledger is append-only'); END;
        CREATE TRIGGER ledger_seals_no_update BEFORE UPDATE ON ledger_seals
        BEGIN SELECT RAISE(ABORT, 'ledger seals are append-only'); END;
        CREATE TRIGGER ledger_seals_no_delete BEFORE DELETE ON ledger_seals
        BEGIN SELECT RAISE(ABORT, 'ledger seals are append-only'); END;
        """
    )


def add_accounts(db: Database) -> None:
    # People who sign in (evidence/accounts.py). Every write of these two tables is recorded
    # in the ledger with the row as written, so `verify` catches an edited role or hash.
    table(db, "users").create(
        {
            "name": str,
            "roles": str,  # JSON list of policy roles
            "password_hash": str,  # argon2id (PHC string); never the password
            "disabled": int,  # 0 | 1
            "created_at": str,
            "created_by": str,  # who added them ("bootstrap" for the first account)
            "failed_logins": int,  # wrong passwords in a row since the last good one
            "locked_until": str,  # sign-in refused until then (after too many failures)
        },
        pk="name",
        not_null={"name", "roles", "password_hash", "disabled", "created_at", "failed_logins"},
    )
    # Personal API tokens for the CLI: only their sha256 is kept (a token is 32 random bytes,
    # so a fast hash cannot be reversed by guessing).
    table(db, "api_tokens").create(
        {
            "token_id": str,
            "user": str,
            "token_sha256": str,
            "label": str,
            "created_at": str,
            "last_used_at": str,
            "expires_at": str,
            "revoked_at": str,
        },
        pk="token_id",
        not_null={"token_id", "user", "token_sha256", "created_at"},
    )
    table(db, "api_tokens").create_index(["token_sha256"], unique=True)
    table(db, "api_tokens").create_index(["user"])
    # How each approval's identity was proven ("token t-…", "password", "os_user", "api",
    # "policy:auto"); null for approvals recorded before accounts existed.
    db.execute("ALTER TABLE approvals ADD COLUMN proof TEXT")


MIGRATIONS: list[Callable[[Database], None]] = [
    create_core_tables,
    create_gate_tables,
    create_prune_log,
    forbid_event_changes,
    create_schedule_tables,
    add_signatures_and_leases,
    add_ledger_and_root_log,
    add_accounts,
]


def pending(version: int) -> list[Callable[[Database], None]]:
    """The migrations a store at `user_version` = `version` still needs."""
    return MIGRATIONS[version:]
