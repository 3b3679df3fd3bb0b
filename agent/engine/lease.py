"""Holding a run's commit lease while committing or reconciling it.

    async with hold_commit_lease(store, run_id, lease_s=30, purpose="resume by sam") as lease:
        …prepare again…
        lost = lease.confirm()        # immediately before the commit request is released
        if lost is not None: …abort the request, send nothing…

Acquiring refuses (GateError, exit 5) while another process holds a live lease: "run X is
being committed by pid@host (resume by …); lease until T". While held, a background task
renews it every lease/3. `confirm` renews it once more, synchronously, right before the
mutating request leaves the browser: it fails when the lease expired (this process was
paused or cut off for longer than the lease) or was taken over (reconcile or another resume
acted meanwhile), and then nothing is sent. Released when the block ends, unless lost.
The store side is `evidence.leases`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from agent.core.errors import EvidenceError, GateError
from evidence.leases import LeaseHeld

if TYPE_CHECKING:
    from evidence.leases import CommitLease
    from evidence.store import EvidenceStore


def this_process() -> str:
    return f"{os.getpid()}@{socket.gethostname()}"


class HeldLease:
    """A lease this process holds on one run."""

    def __init__(self, store: EvidenceStore, lease: CommitLease, lease_s: float) -> None:
        self.store, self.lease, self.lease_s = store, lease, lease_s
        self.run_id, self.token = lease.run_id, lease.token
        self.lost: str | None = None  # why this process no longer holds it

    def confirm(self) -> str | None:
        """Renew now: None while this process still holds the run; else why not (and it
        must send nothing)."""
        if self.lost is None and not self._renew():
            self.lost = (
                f"the commit lease of run {self.run_id} expired or was taken over "
                f"(policy.commit_lease_s = {self.lease_s:g}s): another process may be acting "
                "on the run, so this one sends nothing"
            )
        return self.lost

    def _renew(self) -> bool:
        return self.store.renew_commit_lease(self.run_id, self.token, lease_s=self.lease_s)

    async def keep(self) -> None:
        """Renew every lease/3 until cancelled or lost (a failed write is tried again)."""
        while self.lost is None:
            await asyncio.sleep(self.lease_s / 3)
            with contextlib.suppress(EvidenceError):  # a busy store: the next turn retries
                if not self._renew():
                    self.confirm()


def refuse_held(run_id: str, held: LeaseHeld, lease_s: float) -> GateError:
    return GateError(
        f"run {run_id} is being committed by {held.describe()}",
        hint="wait for it to finish; if that process died, its lease expires at that time "
        f"(policy.commit_lease_s = {lease_s:g}s) and `aijia runs reconcile {run_id}` "
        "settles the run",
    )


@contextlib.asynccontextmanager
async def hold_commit_lease(
    store: EvidenceStore, run_id: str, *, lease_s: float, purpose: str
) -> AsyncIterator[HeldLease]:
    """The run's lease for the block (see the module docstring); GateError when held."""
    got = store.acquire_commit_lease(
        run_id, holder=f"{this_process()} ({purpose})", lease_s=lease_s
    )
    if isinstance(got, LeaseHeld):
        raise refuse_held(run_id, got, lease_s)
    held = HeldLease(store, got, lease_s)
    keeper = asyncio.ensure_future(held.keep())
    try:
        yield held
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        if held.lost is None:
            with contextlib.suppress(EvidenceError):  # it expires by itself otherwise
                store.release_commit_lease(run_id, held.token)
