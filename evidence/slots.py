"""Session slots: at most N browser sessions of one (site, account) at once, across every
process and machine sharing the store (`sites.<name>.max_sessions`).

    slot = take_session_slot(store, "shoplane", "ops", cap=2, holder="4242@host-a")
    if slot is None: …all 2 slots are held; try again later…
    renew_session_slot(store, slot, lease_s=30)      # False: lost (expired, taken over)
    release_session_slot(store, slot)

A slot is a commit lease (evidence/leases.py) on the key `slot:<site>/<account>/<n>`, n in
0..N-1: the same compare-and-set row, token, expiry and renewal, in the same `commit_leases`
table, so it works on every store that has commit leases (SQLite, PostgreSQL) with no schema
of its own. A holder that dies stops renewing; its slot frees itself when the lease expires.
Keys never collide with runs: run ids have no `:`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from evidence.ids import iso
from evidence.leases import CommitLease, LeaseHeld

PREFIX = "slot:"


class LeaseStore(Protocol):
    """What slots need of a store: its commit leases (evidence.leases.CommitLeases)."""

    def acquire_commit_lease(
        self, run_id: str, *, holder: str, lease_s: float, now: datetime | None = None
    ) -> CommitLease | LeaseHeld: ...

    def renew_commit_lease(
        self, run_id: str, token: str, *, lease_s: float, now: datetime | None = None
    ) -> bool: ...

    def release_commit_lease(self, run_id: str, token: str) -> None: ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class SessionSlot:
    """Slot `number` of (site, account), held through `lease`."""

    site: str
    account: str
    number: int
    lease: CommitLease

    @property
    def key(self) -> str:
        return self.lease.run_id


def slot_key(site: str, account: str, number: int) -> str:
    return f"{PREFIX}{site}/{account}/{number}"


def take_session_slot(
    store: LeaseStore, site: str, account: str, *, cap: int, holder: str, lease_s: float = 30
) -> SessionSlot | None:
    """A free slot of (site, account), or None when all `cap` are held by live leases.
    Slots are tried from a random one, so waiting workers do not all race for slot 0."""
    start = random.randrange(cap)
    for offset in range(cap):
        number = (start + offset) % cap
        got = store.acquire_commit_lease(
            slot_key(site, account, number), holder=holder, lease_s=lease_s
        )
        if isinstance(got, CommitLease):
            return SessionSlot(site, account, number, got)
    return None


def renew_session_slot(store: LeaseStore, slot: SessionSlot, *, lease_s: float = 30) -> bool:
    """Extend the slot's lease; False when it expired or another worker took it over."""
    return store.renew_commit_lease(slot.key, slot.lease.token, lease_s=lease_s)


def release_session_slot(store: LeaseStore, slot: SessionSlot) -> None:
    """Free the slot (only this holder's token removes it)."""
    store.release_commit_lease(slot.key, slot.lease.token)


def session_slot_holders(store: LeaseStore, site: str, account: str) -> list[CommitLease]:
    """The live slot leases of (site, account): who holds a session there now."""
    prefix = slot_key(site, account, 0)[:-1]  # "slot:<site>/<account>/"
    rows = store.query(
        "SELECT * FROM commit_leases WHERE run_id LIKE 'slot:%' AND expires_at > ? ORDER BY run_id",
        [iso(datetime.now(UTC))],
    )
    # `_` is a LIKE wildcard and site names have them: match the exact prefix here
    return [CommitLease(**row) for row in rows if str(row["run_id"]).startswith(prefix)]
