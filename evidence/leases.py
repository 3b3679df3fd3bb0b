"""Commit leases: at most one process commits (or reconciles) a run at a time.

    lease = store.acquire_commit_lease(run_id, holder="4242@host-a", lease_s=30)
    if isinstance(lease, LeaseHeld): …someone else holds it until lease.expires_at…
    store.renew_commit_lease(run_id, lease.token, lease_s=30)    # False: lost (taken over)
    store.release_commit_lease(run_id, lease.token)

Liveness by lease, not by the last event: a committer renews its lease while it works
(agent/engine/lifecycle.py, every lease/3) and renews it once more immediately before the
commit request leaves the browser; a process that stopped (killed, paused, cut off) stops
renewing, its lease expires, and only then may reconcile or another resume take the run over.
Taking over writes a new token, so the old holder's next renewal fails and it sends nothing.

Every write is one BEGIN IMMEDIATE transaction of the store: acquire is a compare-and-set
(insert, or replace an expired row), renew succeeds only for the holder's token while its
lease is still running. Times are UTC ISO 8601 (`evidence.ids.utc_now`), which sort as text.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from evidence.ids import iso

if TYPE_CHECKING:
    from evidence.transaction import Transaction


@dataclass(frozen=True)
class CommitLease:
    """A lease row: who holds the run, with which token, until when."""

    run_id: str
    holder: str  # pid@host, and what for ("4242@host-a (resume by reviewer)")
    token: str
    acquired_at: str
    renewed_at: str
    expires_at: str

    def live(self, now: datetime | None = None) -> bool:
        return self.expires_at > iso(now or datetime.now(UTC))


@dataclass(frozen=True)
class LeaseHeld:
    """Acquiring failed: `current` holds a live lease."""

    current: CommitLease

    def describe(self) -> str:
        return f"{self.current.holder}; lease until {self.current.expires_at}"


class CommitLeases:
    """Mixed into EvidenceStore: the `commit_leases` table (evidence/migrations.py)."""

    if TYPE_CHECKING:

        def transaction(self) -> contextlib.AbstractContextManager[Transaction]: ...
        def query_one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None: ...

    def commit_lease(self, run_id: str) -> CommitLease | None:
        """The run's lease row (live or expired), or None when nobody holds one."""
        row = self.query_one("SELECT * FROM commit_leases WHERE run_id = ?", [run_id])
        return CommitLease(**row) if row else None

    def acquire_commit_lease(
        self, run_id: str, *, holder: str, lease_s: float, now: datetime | None = None
    ) -> CommitLease | LeaseHeld:
        """Take the run's lease: a new one, or over an expired one. LeaseHeld when a live
        lease belongs to someone else (a second acquire by the same process is refused too:
        a token is per claim, not per process)."""
        moment = now or datetime.now(UTC)
        at, until = iso(moment), iso(moment + timedelta(seconds=lease_s))
        with self.transaction() as tx:
            row = tx.one("SELECT * FROM commit_leases WHERE run_id = ?", [run_id])
            if row is not None:
                current = CommitLease(**row)
                if current.live(moment):
                    return LeaseHeld(current)
                tx.execute("DELETE FROM commit_leases WHERE run_id = ?", [run_id])
            lease = CommitLease(run_id, holder, secrets.token_hex(16), at, at, until)
            tx.table("commit_leases").insert(asdict(lease))
        return lease

    def renew_commit_lease(
        self, run_id: str, token: str, *, lease_s: float, now: datetime | None = None
    ) -> bool:
        """Extend the holder's lease by `lease_s` from now; False when it expired or another
        process took the run over (the holder must then stop: it is no longer the committer)."""
        moment = now or datetime.now(UTC)
        at, until = iso(moment), iso(moment + timedelta(seconds=lease_s))
        with self.transaction() as tx:
            cursor = tx.execute(
                "UPDATE commit_leases SET renewed_at = ?, expires_at = ? "
                "WHERE run_id = ? AND token = ? AND expires_at > ?",
                [at, until, run_id, token, at],
            )
            return cursor.rowcount == 1

    def release_commit_lease(self, run_id: str, token: str) -> None:
        """Give the lease back (only the holder's own token removes it)."""
        with self.transaction() as tx:
            tx.execute("DELETE FROM commit_leases WHERE run_id = ? AND token = ?", [run_id, token])
