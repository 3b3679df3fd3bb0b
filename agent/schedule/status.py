"""What `aijia schedule list/status` says about one schedule, and only what is true.

    view = schedule_view("hourly_returns", settings, ledger, now=now)
    view.problem   # None, or why `schedule status` exits 1 for it

Three things make a schedule a problem:

- **its last fire did not end well**: `last fire failed: 2 of 5 rows failed (row 3: …)`. The
  reason is the fire's own, else taken from its failed rows (fires recorded before fires kept
  a reason);
- **it is overdue**: a slot was due and no fire was claimed for it within the scheduler's
  tolerance (the misfire grace, plus a tick and a little slack: the daemon claims a slot on
  its first tick after it). A schedule that never fired counts slots only from when it was
  added, i.e. when the config file last changed: a schedule just added is not overdue;
- **its inputs file cannot be read** (missing, unreadable, malformed): said now, not at 3 a.m.
  when it fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from agent.core.errors import AgentError
from agent.schedule.times import jitter_for, next_slot, parse_slot

if TYPE_CHECKING:
    from agent.core.settings import ScheduleSettings, Settings
    from evidence.schedules import Fire, ScheduleLedger

# Beyond the misfire grace and one tick: a store busy for a moment, a slow tick.
OVERDUE_SLACK_S = 5.0


@dataclass(frozen=True)
class ScheduleView:
    """What `aijia schedule list/status` shows for one schedule."""

    name: str
    enabled: bool
    trigger: str  # "cron 0 * * * * (Asia/Singapore)" or "every 60s"
    recipe: str
    next_fire: datetime | None
    last: Fire | None  # the newest fire that ran (done, failed, interrupted)
    open: Fire | None  # a fire still running
    overdue: bool  # enabled, and a slot due beyond the tolerance got no fire (or was missed)
    problem: str | None  # why `status` fails for it, else None


def schedule_view(
    name: str, settings: Settings, ledger: ScheduleLedger, *, now: datetime
) -> ScheduleView:
    schedule = settings.schedules[name]
    trigger = (
        f"cron {schedule.cron} ({schedule.timezone})"
        if schedule.cron
        else f"every {schedule.every_s:g}s"
    )
    last = ledger.last_finished(name)
    opened = next((f for f in ledger.open_fires() if f.schedule == name), None)
    overdue, problem = False, None
    if schedule.enabled:
        overdue = is_overdue(name, settings, ledger, now=now)
        if last is not None and last.state != "done":
            problem = f"last fire {last.state}: {fire_reason(last, ledger)}"
        elif overdue:
            problem = "overdue: a slot passed without a fire (is the daemon running?)"
        inputs = inputs_problem(schedule)
        if inputs is not None:
            problem = f"{problem}; {inputs}" if problem else inputs
    return ScheduleView(
        name=name,
        enabled=schedule.enabled,
        trigger=trigger,
        recipe=schedule.recipe,
        next_fire=next_slot(schedule, now) if schedule.enabled else None,
        last=last,
        open=opened,
        overdue=overdue,
        problem=problem,
    )


def tolerance_s(schedule: ScheduleSettings, settings: Settings) -> float:
    """How late a slot may be before nobody firing it is an alarm."""
    return schedule.misfire_grace_s + settings.scheduler.tick_s + OVERDUE_SLACK_S


def is_overdue(name: str, settings: Settings, ledger: ScheduleLedger, *, now: datetime) -> bool:
    """A slot was due more than the tolerance ago and no fire was claimed for it (or the
    newest claim is a missed slot)."""
    schedule = settings.schedules[name]
    newest = next(iter(ledger.fires(name, limit=1)), None)
    if newest is not None and newest.state == "missed":
        return True
    last = ledger.last_slot(name)
    since = parse_slot(last) if last is not None else added_at(settings)
    if since is None:  # never fired, no file to date it: nothing is known to have been due
        return False
    # the oldest slot nobody claimed (later ones are coalesced into one fire, not excused)
    first = next_slot(schedule, since)
    late_s = (now - first).total_seconds() - jitter_for(name, first, schedule.jitter_s)
    if late_s <= tolerance_s(schedule, settings):
        return False
    # a manual fire since that slot counts
    return newest is None or parse_slot(newest.claimed_at) < first


def added_at(settings: Settings) -> datetime | None:
    """When the schedules were last changed: the config file's modification time."""
    if settings.source is None:
        return None
    try:
        return datetime.fromtimestamp(settings.source.stat().st_mtime, UTC)
    except OSError:
        return None


def fire_reason(fire: Fire, ledger: ScheduleLedger) -> str:
    """Why a fire did not end `done`: its own reason, else what its failed rows say."""
    if fire.reason:
        return fire.reason
    return rows_reason(ledger, fire.fire_id) or "no reason recorded"


def rows_reason(ledger: ScheduleLedger, fire_id: str) -> str | None:
    """`2 of 5 rows failed (row 3: …)` from the fire's rows, or None when none failed."""
    items = ledger.items(fire_id)
    bad = [i for i in items if i.state in ("failed", "interrupted")]
    if not bad:
        return None
    first = bad[0]
    why = f"row {first.n}: {first.reason}" if first.reason else f"row {first.n}"
    if first.run_id:
        why += f"; `aijia runs show {first.run_id}`"
    return f"{len(bad)} of {len(items)} rows {bad[0].state} ({why})"


def inputs_problem(schedule: ScheduleSettings) -> str | None:
    """Why the schedule's inputs file cannot be used now, or None (no file, or it reads)."""
    if schedule.inputs_file is None:
        return None
    from agent.recipes.rows import read_rows

    if not schedule.inputs_file.exists():
        return f"inputs file {schedule.inputs_file} does not exist"
    try:
        read_rows(schedule.inputs_file)
    except AgentError as err:  # it says where (file:line) and what
        return " ".join(err.message.split())
    return None
