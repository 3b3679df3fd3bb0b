"""Schedule state in the evidence store: fires (one per claimed slot), their rows, the daemon lock.

    ledger = ScheduleLedger(store)
    fire = ledger.claim("hourly_returns", "2026-11-26T06:00:00Z", owner="123@host")
    # None: another daemon (or this one before a restart) already has this slot
    ledger.add_items(fire.fire_id, rows); ledger.item_running(...); ledger.finish_fire(...)

Every write is one transaction of the store (`EvidenceStore.transaction`). The lock is a lease:
the holder renews `expires_at`; an expired lease, or one held by a dead process on this host,
may be taken over, so a crashed daemon never blocks the next one for longer than the lease.

Every write of a fire or an item is also recorded, row as written, in the store's ledger
(`evidence.ledger`), which `verify` replays. The daemon lock is not: it is a lease that only
decides which daemon may fire next, never evidence of what happened.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent.core.errors import EvidenceError
from evidence.ids import iso, new_id, utc_now
from evidence.jsonvalue import dumps, loads
from evidence.writer import pid_alive

if TYPE_CHECKING:
    from evidence.store import EvidenceStore

LOCK_NAME = "daemon"
OPEN_FIRE = "running"  # a fire whose rows are not all settled


@dataclass(frozen=True)
class Fire:
    fire_id: str
    schedule: str
    slot: str
    state: str  # running | done | failed | interrupted | skipped | missed
    reason: str | None
    owner: str | None
    rows: int
    done: int
    failed: int
    skipped: int
    claimed_at: str
    finished_at: str | None


@dataclass(frozen=True)
class Item:
    fire_id: str
    n: int
    inputs: dict[str, Any]
    state: str  # pending | running | done | failed | paused | skipped | interrupted
    run_id: str | None
    reason: str | None


@dataclass(frozen=True)
class LockHolder:
    owner: str
    pid: int
    host: str
    token: str
    expires_at: str


def this_process() -> str:
    return f"{os.getpid()}@{socket.gethostname()}"


class ScheduleLedger:
    def __init__(self, store: EvidenceStore) -> None:
        self.store = store

    # ------------------------------------------------------------------ fires

    def claim(
        self, schedule: str, slot: str, *, owner: str, state: str = OPEN_FIRE, reason: str = ""
    ) -> Fire | None:
        """Insert the fire for (schedule, slot); None when that slot was already claimed."""
        fire_id = new_id("fire-")
        try:
            with self.store.transaction() as tx:
                tx.table("schedule_fires").insert(
                    {
                        "fire_id": fire_id,
                        "schedule": schedule,
                        "slot": slot,
                        "state": state,
                        "reason": reason or None,
                        "owner": owner,
                        "rows": 0,
                        "done": 0,
                        "failed": 0,
                        "skipped": 0,
                        "claimed_at": utc_now(),
                        "finished_at": None if state == OPEN_FIRE else utc_now(),
                    }
                )
                tx.ledger_row("fire_claimed", "schedule_fires", {"fire_id": fire_id})
        except sqlite3.IntegrityError:
            return None
        return self.fire(fire_id)

    def fire(self, fire_id: str) -> Fire:
        row = self.store.query_one("SELECT * FROM schedule_fires WHERE fire_id = ?", [fire_id])
        if row is None:
            raise EvidenceError(f"no schedule fire {fire_id!r} in {self.store.root}")
        return Fire(**row)

    def fire_at(self, schedule: str, slot: str) -> Fire | None:
        """The fire that claimed (schedule, slot), if any."""
        row = self.store.query_one(
            "SELECT * FROM schedule_fires WHERE schedule = ? AND slot = ?", [schedule, slot]
        )
        return Fire(**row) if row else None

    def fires(self, schedule: str | None = None, *, limit: int = 20) -> list[Fire]:
        """Newest first."""
        where, params = ("WHERE schedule = ?", [schedule]) if schedule else ("", [])
        rows = self.store.query(
            f"SELECT * FROM schedule_fires {where} ORDER BY claimed_at DESC, fire_id DESC "
            f"LIMIT {int(limit)}",
            params,
        )
        return [Fire(**r) for r in rows]

    def last_slot(self, schedule: str) -> str | None:
        """The newest clock slot claimed (manual triggers are not slots)."""
        row = self.store.query_one(
            "SELECT MAX(slot) AS slot FROM schedule_fires WHERE schedule = ? "
            "AND slot NOT LIKE 'manual:%'",
            [schedule],
        )
        return row["slot"] if row else None

    def last_finished(self, schedule: str) -> Fire | None:
        """The newest fire that ran and ended (done, failed or interrupted)."""
        row = self.store.query_one(
            "SELECT * FROM schedule_fires WHERE schedule = ? AND state IN "
            "('done', 'failed', 'interrupted') ORDER BY claimed_at DESC, fire_id DESC LIMIT 1",
            [schedule],
        )
        return Fire(**row) if row else None

    def open_fires(self, *, with_interrupted: bool = False) -> list[Fire]:
        """Fires still running; with `with_interrupted`, also those a stopped daemon left
        with rows to do (the next daemon finishes them)."""
        states = [OPEN_FIRE, "interrupted"] if with_interrupted else [OPEN_FIRE]
        rows = self.store.query(
            f"SELECT * FROM schedule_fires WHERE state IN ({', '.join('?' * len(states))}) "
            "ORDER BY claimed_at",
            states,
        )
        return [Fire(**r) for r in rows]

    def finish_fire(self, fire_id: str, state: str, reason: str | None = None) -> Fire:
        """Close the fire with its counts taken from its items."""
        with self.store.transaction() as tx:
            counts = dict(
                tx.execute(
                    "SELECT state, COUNT(*) FROM schedule_items WHERE fire_id = ? GROUP BY state",
                    [fire_id],
                ).fetchall()
            )
            tx.execute(
                "UPDATE schedule_fires SET state = ?, reason = ?, rows = ?, done = ?, "
                "failed = ?, skipped = ?, finished_at = ? WHERE fire_id = ?",
                [
                    state,
                    reason,
                    sum(counts.values()),
                    counts.get("done", 0) + counts.get("paused", 0),
                    counts.get("failed", 0) + counts.get("interrupted", 0),
                    counts.get("skipped", 0),
                    utc_now(),
                    fire_id,
                ],
            )
            tx.ledger_row("fire_finished", "schedule_fires", {"fire_id": fire_id})
        return self.fire(fire_id)

    def reopen(self, fire_id: str, owner: str) -> None:
        """An interrupted fire's remaining rows are picked up by a new daemon."""
        with self.store.transaction() as tx:
            tx.execute(
                "UPDATE schedule_fires SET state = ?, owner = ?, finished_at = NULL "
                "WHERE fire_id = ?",
                [OPEN_FIRE, owner, fire_id],
            )
            tx.ledger_row("fire_reopened", "schedule_fires", {"fire_id": fire_id})

    # ------------------------------------------------------------------ items

    def add_items(self, fire_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """The fire's rows, once (a recovered fire keeps the rows it had)."""
        with self.store.transaction() as tx:
            if tx.execute(
                "SELECT 1 FROM schedule_items WHERE fire_id = ? LIMIT 1", [fire_id]
            ).fetchone():
                return
            now = utc_now()
            tx.table("schedule_items").insert_all(
                {
                    "fire_id": fire_id,
                    "n": n,
                    "inputs": dumps(dict(row)),
                    "state": "pending",
                    "run_id": None,
                    "reason": None,
                    "updated_at": now,
                }
                for n, row in enumerate(rows, start=1)
            )
            for n in range(1, len(rows) + 1):
                tx.ledger_row("item_added", "schedule_items", {"fire_id": fire_id, "n": n})

    def items(self, fire_id: str) -> list[Item]:
        rows = self.store.query(
            "SELECT * FROM schedule_items WHERE fire_id = ? ORDER BY n", [fire_id]
        )
        return [
            Item(r["fire_id"], r["n"], loads(r["inputs"]), r["state"], r["run_id"], r["reason"])
            for r in rows
        ]

    def set_item(
        self,
        fire_id: str,
        n: int,
        state: str,
        *,
        run_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        with self.store.transaction() as tx:
            tx.execute(
                "UPDATE schedule_items SET state = ?, run_id = COALESCE(?, run_id), "
                "reason = COALESCE(?, reason), updated_at = ? WHERE fire_id = ? AND n = ?",
                [state, run_id, reason, utc_now(), fire_id, n],
            )
            tx.ledger_row("item_updated", "schedule_items", {"fire_id": fire_id, "n": n})

    def fresh_run(
        self, recipe: str, site: str, key: Mapping[str, Any], since: str
    ) -> dict[str, Any] | None:
        """A `done` run of `recipe` on `site` created since `since` whose inputs match `key`."""
        rows = self.store.query(
            "SELECT run_id, inputs, created_at FROM runs WHERE recipe = ? AND site = ? "
            "AND state = 'done' AND created_at >= ? ORDER BY created_at DESC",
            [recipe, site, since],
        )
        wanted = {k: str(v) for k, v in key.items()}
        for row in rows:
            inputs = loads(row["inputs"])
            if all(str(inputs.get(k)) == v for k, v in wanted.items()):
                return dict(row)
        return None

    # ------------------------------------------------------------------ daemon lock

    def acquire_lock(self, *, now: datetime, lease_s: float) -> LockHolder | None:
        """Take the daemon lock: None when a live daemon holds it (see `lock_holder`)."""
        host, pid = socket.gethostname(), os.getpid()
        token = secrets.token_hex(8)
        with self.store.transaction() as tx:
            row = tx.execute(
                "SELECT owner, pid, host, token, expires_at FROM scheduler_lock WHERE name = ?",
                [LOCK_NAME],
            ).fetchone()
            if row is not None:
                held = LockHolder(*row)
                expired = held.expires_at <= iso(now)
                dead = held.host == host and not pid_alive(held.pid)
                if not expired and not dead:
                    return None
                tx.execute("DELETE FROM scheduler_lock WHERE name = ?", [LOCK_NAME])
            holder = LockHolder(
                f"{pid}@{host}", pid, host, token, iso(now + timedelta(seconds=lease_s))
            )
            tx.table("scheduler_lock").insert(
                {
                    "name": LOCK_NAME,
                    "owner": holder.owner,
                    "pid": pid,
                    "host": host,
                    "token": token,
                    "acquired_at": iso(now),
                    "expires_at": holder.expires_at,
                }
            )
        return holder

    def lock_holder(self) -> LockHolder | None:
        row = self.store.query_one(
            "SELECT owner, pid, host, token, expires_at FROM scheduler_lock WHERE name = ?",
            [LOCK_NAME],
        )
        return LockHolder(**row) if row else None

    def renew_lock(self, token: str, *, now: datetime, lease_s: float) -> bool:
        """Extend our lease; False when it is no longer ours (taken over after expiry)."""
        with self.store.transaction() as tx:
            cursor = tx.execute(
                "UPDATE scheduler_lock SET expires_at = ? WHERE name = ? AND token = ?",
                [iso(now + timedelta(seconds=lease_s)), LOCK_NAME, token],
            )
            return cursor.rowcount == 1

    def release_lock(self, token: str) -> None:
        with self.store.transaction() as tx:
            tx.execute(
                "DELETE FROM scheduler_lock WHERE name = ? AND token = ?", [LOCK_NAME, token]
            )
