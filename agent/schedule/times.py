"""When a schedule fires: slots from a cron expression (croniter, in the schedule's time zone)
or a fixed interval, with misfire grace and a per-slot jitter. Pure functions of a clock.

A *slot* is the nominal fire time of a schedule, a UTC instant; it is what the store claims
exactly once (UNIQUE(schedule, slot)), so every daemon, before or after a restart, computes the
same slots from the same config.

    due = due_slot(schedule, now=clock(), last=ledger.last_slot(name))
    # None: nothing to fire; else a Due(slot, late_s, missed) to claim and fire

Across a DST change a cron slot with fixed hours is a wall-clock time: "0 9 * * *" in
Europe/Berlin is 07:00 UTC in summer and 08:00 UTC in winter; "30 2 * * *" fires once on the
night the clocks go back (the first 02:30), and on the spring-forward night, when 02:30 does not
exist, at 03:30 CEST (01:30 UTC: as if the clock had not jumped), once. An hourly expression
("30 * * * *") follows elapsed time instead, as cron does: it fires every hour on both nights.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from agent.core.settings import ScheduleSettings

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# How far back `due_slot` looks for a slot missed while no daemon ran; older ones are simply
# missed (a misfire grace longer than this is treated as this).
LOOKBACK = timedelta(days=2)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("schedule times must be timezone-aware")
    return moment.astimezone(UTC)


def next_slot(schedule: ScheduleSettings, after: datetime) -> datetime:
    """The first slot strictly after `after` (UTC)."""
    after = _utc(after)
    if schedule.every_s is not None:
        step = schedule.every_s
        n = math.floor((after - EPOCH).total_seconds() / step) + 1
        return EPOCH + timedelta(seconds=n * step)
    from croniter import croniter

    assert schedule.cron is not None
    zone = ZoneInfo(schedule.timezone)
    if schedule.cron.split()[1].startswith("*"):  # every hour: elapsed time, as cron does
        found: datetime = croniter(schedule.cron, after.astimezone(zone)).get_next(datetime)
        return _utc(found)
    # fixed hours: wall-clock times, each once a day even when the clocks go back
    wall = croniter(schedule.cron, after.astimezone(zone).replace(tzinfo=None))
    while True:
        local: datetime = wall.get_next(datetime)
        moment = _utc(local.replace(tzinfo=zone, fold=0))
        if moment > after:
            return moment


def latest_slot(schedule: ScheduleSettings, at_or_before: datetime) -> datetime | None:
    """The last slot at or before the moment (None if none within LOOKBACK)."""
    moment = _utc(at_or_before)
    if schedule.every_s is not None:
        n = math.floor((moment - EPOCH).total_seconds() / schedule.every_s)
        return EPOCH + timedelta(seconds=n * schedule.every_s)
    slot = next_slot(schedule, moment - LOOKBACK)
    if slot > moment:
        return None
    while True:
        following = next_slot(schedule, slot)
        if following > moment:
            return slot
        slot = following


def jitter_for(schedule_name: str, slot: datetime, jitter_s: float) -> float:
    """A delay in [0, jitter_s) derived from the name and slot: every daemon agrees on it."""
    if jitter_s <= 0:
        return 0.0
    digest = hashlib.sha256(f"{schedule_name}|{slot_key(slot)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * jitter_s


def slot_key(slot: datetime) -> str:
    """How a slot is stored: ISO 8601 UTC with seconds, e.g. 2026-11-26T06:00:00Z."""
    return _utc(slot).strftime("%Y-%m-%dT%H:%M:%SZ")  # slots are whole seconds: keys sort


def parse_slot(key: str) -> datetime:
    return datetime.fromisoformat(key.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Due:
    slot: datetime  # the nominal fire time being claimed
    late_s: float  # how far past slot (+ jitter) the clock is
    missed: bool  # later than the misfire grace: record it as missed, do not run it


def due_slot(
    name: str, schedule: ScheduleSettings, *, now: datetime, last: datetime | None
) -> Due | None:
    """The slot to act on now, if any: the latest slot at or before `now` (after jitter)
    that is newer than `last` (the last slot this schedule claimed). Older unclaimed slots
    are coalesced into it: a daemon that was down for three hours fires once, not three times.
    """
    now = _utc(now)
    slot = latest_slot(schedule, now)
    while slot is not None and now < slot + timedelta(
        seconds=jitter_for(name, slot, schedule.jitter_s)
    ):
        # the latest slot is still inside its jitter: the one before may be due
        earlier = latest_slot(schedule, slot - timedelta(microseconds=1))
        slot = earlier
    if slot is None or (last is not None and slot <= _utc(last)):
        return None
    late = (now - slot).total_seconds() - jitter_for(name, slot, schedule.jitter_s)
    return Due(slot=slot, late_s=late, missed=late > schedule.misfire_grace_s)
