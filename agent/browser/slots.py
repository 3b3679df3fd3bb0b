"""Holding a session slot around a run's browser context (`sites.<name>.max_sessions`).

    async with hold_session_slot(store, "shoplane", "ops", cap=2, on_wait=note) as held:
        …open the context, run, close it…
    held.waited_s    # how long it queued for a slot (0.0 when one was free)

Back offices throttle, lock or flag an account that opens too many sessions at once; the cap
counts every worker sharing the evidence store, on any machine (the store side is
`evidence.slots`: a lease per slot). While all slots are held this polls (0.1 s, growing to
1 s), calling `on_wait` once with a sentence such as "waiting for a session slot on
shoplane/ops (2 of 2 held: 4242@host-a, …)". A held slot is renewed every lease/3; if this
process dies its slot frees itself within SLOT_LEASE_S. `session_slot` is the form the
engine uses (agent/engine/setup.py): an empty hold when the site sets no cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from agent.core.errors import ConfigError, EvidenceError
from evidence.slots import (
    LeaseStore,
    SessionSlot,
    release_session_slot,
    renew_session_slot,
    session_slot_holders,
    take_session_slot,
)

SLOT_LEASE_S = 30.0  # a dead worker's slot is free again after at most this long
_POLL_FIRST_S, _POLL_MAX_S = 0.1, 1.0
log = logging.getLogger(__name__)


@dataclass
class HeldSlot:
    """The slot this block holds, and how long it waited for it."""

    slot: SessionSlot
    waited_s: float


def waiting_message(store: LeaseStore, site: str, account: str, cap: int) -> str:
    holders = session_slot_holders(store, site, account)
    names = ", ".join(sorted({h.holder for h in holders})) or "none"
    return (
        f"waiting for a session slot on {site}/{account} ({len(holders)} of {cap} held: {names}; "
        f"sites.{site}.max_sessions = {cap})"
    )


@contextlib.asynccontextmanager
async def hold_session_slot(
    store: LeaseStore,
    site: str,
    account: str,
    *,
    cap: int,
    on_wait: Callable[[str], None] | None = None,
    lease_s: float = SLOT_LEASE_S,
) -> AsyncIterator[HeldSlot]:
    """Wait for a free slot of (site, account), hold it (renewed) for the block, free it."""
    holder = f"{os.getpid()}@{socket.gethostname()}"
    started = time.monotonic()
    pause = _POLL_FIRST_S
    told = False
    while True:
        slot = take_session_slot(store, site, account, cap=cap, holder=holder, lease_s=lease_s)
        if slot is not None:
            break
        if not told:
            told = True
            message = waiting_message(store, site, account, cap)
            log.info(message)
            if on_wait is not None:
                on_wait(message)
        await asyncio.sleep(pause)
        pause = min(pause * 2, _POLL_MAX_S)
    held = HeldSlot(slot, round(time.monotonic() - started, 3))
    keeper = asyncio.ensure_future(_keep(store, slot, lease_s))
    try:
        yield held
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        with contextlib.suppress(EvidenceError):  # it expires by itself otherwise
            release_session_slot(store, slot)


async def _keep(store: LeaseStore, slot: SessionSlot, lease_s: float) -> None:
    """Renew every lease/3. A lost slot (this process stalled past the lease) is logged, not
    fatal: the run is read-only or holds its own commit lease; the cap was briefly exceeded."""
    while True:
        await asyncio.sleep(lease_s / 3)
        with contextlib.suppress(EvidenceError):  # a busy store: the next turn retries
            if not renew_session_slot(store, slot, lease_s=lease_s):
                log.warning("session slot %s was lost (lease expired)", slot.key)
                return


@dataclass
class SessionSlotHold:
    """A run's session slot, or none (the site has no cap); `aclose()` frees it."""

    site: str
    cap: int | None
    held: HeldSlot | None = None
    stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    waiting: list[str] = field(default_factory=list)  # "waiting for a session slot on …"

    def describe(self) -> dict[str, Any]:
        """The `session_slot_taken` event's data."""
        assert self.held is not None
        slot = self.held.slot
        return {
            "site": slot.site,
            "account": slot.account,
            "slot": slot.number,
            "max_sessions": self.cap,
            "waited_s": self.held.waited_s,
            "waiting": self.waiting[0] if self.waiting else None,
        }

    async def aclose(self) -> None:
        await self.stack.aclose()


async def session_slot(sink: object, site: str, account: str, cap: int | None) -> SessionSlotHold:
    """For agent/engine/setup.py: a held slot when the site caps its sessions (waits for
    one), else an empty hold. `sink` is the run's evidence sink or the store under it."""
    hold = SessionSlotHold(site, cap)
    if cap is not None:
        hold.held = await hold.stack.enter_async_context(
            hold_session_slot(
                lease_store(sink), site, account, cap=cap, on_wait=hold.waiting.append
            )
        )
    return hold


def lease_store(sink: object) -> LeaseStore:
    """The store under a run's sink (a wrapper such as the gate recorder keeps it as
    `.store`): slots are commit leases of the store itself."""
    while not hasattr(sink, "acquire_commit_lease"):
        inner = getattr(sink, "store", None)
        if inner is None:
            raise ConfigError(
                f"max_sessions needs an evidence store with leases; this run writes to "
                f"{type(sink).__name__}",
                hint="remove max_sessions from the site, or run through the Aijia facade",
            )
        sink = inner
    return cast("LeaseStore", sink)
