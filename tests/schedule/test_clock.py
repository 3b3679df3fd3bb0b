"""The scheduler with a controlled clock: fire times (cron, time zones, DST), misfires,
overlap, restarts and the daemon lock, on a real evidence store. The fire executor is a
stand-in that records what fired (the browser side is covered by test_daemon.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent import AsyncAijia
from agent.core.errors import ConfigError, ScheduleError
from agent.core.settings import ScheduleSettings, Settings
from agent.schedule.daemon import Scheduler
from agent.schedule.times import due_slot, jitter_for, next_slot
from evidence.schedules import Fire, ScheduleLedger
from evidence.store import EvidenceStore


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def sched(**fields: Any) -> ScheduleSettings:
    return ScheduleSettings.model_validate({"recipe": "capture_order_evidence", **fields})


def times(schedule: ScheduleSettings, after: datetime, n: int) -> list[str]:
    out, moment = [], after
    for _ in range(n):
        moment = next_slot(schedule, moment)
        out.append(moment.strftime("%Y-%m-%d %H:%M"))
    return out


# ---------------------------------------------------------------- fire times


def test_cron_fire_times_are_read_in_the_schedules_time_zone() -> None:
    hourly = sched(cron="0 * * * *")
    assert times(hourly, utc(2026, 11, 26, 6, 15), 2) == ["2026-11-26 07:00", "2026-11-26 08:00"]
    morning = sched(cron="0 9 * * 1-5", timezone="Asia/Singapore")  # UTC+8, weekdays
    # Thu 26 Nov 09:00 SGT has passed at 06:15 UTC; Fri, then Mon
    assert times(morning, utc(2026, 11, 26, 6, 15), 2) == ["2026-11-27 01:00", "2026-11-30 01:00"]


def test_dst_changes_keep_wall_clock_times_and_fire_once() -> None:
    nine = sched(cron="0 9 * * *", timezone="Europe/Berlin")
    # 28 March is CET (UTC+1), from 29 March CEST (UTC+2)
    assert times(nine, utc(2026, 3, 27, 12), 3) == [
        "2026-03-28 08:00",
        "2026-03-29 07:00",
        "2026-03-30 07:00",
    ]
    night = sched(cron="30 2 * * *", timezone="Europe/Berlin")
    # spring forward: 02:30 does not exist on 29 March; it fires once, an hour on
    assert times(night, utc(2026, 3, 28, 12), 2) == ["2026-03-29 01:30", "2026-03-30 00:30"]
    # fall back: 02:30 happens twice on 25 October; a daily job fires once
    assert times(night, utc(2026, 10, 24, 12), 2) == ["2026-10-25 00:30", "2026-10-26 01:30"]
    hourly = sched(cron="30 * * * *", timezone="Europe/Berlin")  # elapsed time: every hour
    assert times(hourly, utc(2026, 10, 25, 0), 3) == [
        "2026-10-25 00:30",
        "2026-10-25 01:30",
        "2026-10-25 02:30",
    ]


def test_interval_slots_are_aligned_so_every_daemon_agrees() -> None:
    every = sched(every_s=15)
    assert next_slot(every, utc(2026, 11, 26, 6, 15, 15)) == utc(2026, 11, 26, 6, 15, 30)
    assert next_slot(every, utc(2026, 11, 26, 6, 15, 7)) == utc(2026, 11, 26, 6, 15, 15)


def test_bad_triggers_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="invalid cron"):
        sched(cron="61 * * * *")
    with pytest.raises(ConfigError, match="time zone"):
        sched(cron="0 * * * *", timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="exactly one of `cron` and `every_s`"):
        sched()


def test_jitter_is_the_same_for_a_slot_on_every_daemon_and_bounded() -> None:
    slot = utc(2026, 11, 26, 7)
    delay = jitter_for("returns", slot, 120)
    assert delay == jitter_for("returns", slot, 120)
    assert 0 <= delay < 120
    hourly = sched(cron="0 * * * *", jitter_s=120)
    waiting = due_slot("returns", hourly, now=slot + timedelta(seconds=delay - 1), last=None)
    assert waiting is not None and waiting.slot == slot - timedelta(hours=1)  # not 07:00 yet
    fired = due_slot("returns", hourly, now=slot + timedelta(seconds=delay + 1), last=None)
    assert fired is not None and fired.slot == slot and not fired.missed


# ---------------------------------------------------------------- the scheduler


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Recorder:
    """Stands in for execute_fire: records the fire; `hold` keeps fires running."""

    def __init__(self) -> None:
        self.fired: list[tuple[str, str]] = []
        self.hold: asyncio.Event | None = None

    async def __call__(self, fire: Fire, name: str, schedule: Any, **kw: Any) -> Fire:
        self.fired.append((name, fire.slot))
        if self.hold is not None:
            await self.hold.wait()
        return ScheduleLedger(kw["aijia"].store).finish_fire(fire.fire_id, "done")


def settings_with(**schedules: ScheduleSettings) -> Settings:
    return Settings(schedules=schedules)


def scheduler_on(settings: Settings, store: EvidenceStore, **options: Any) -> Scheduler:
    """A scheduler over the facade on `store` (no browser: the executor is a stand-in)."""
    return Scheduler(AsyncAijia(settings, store=store), **options)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with EvidenceStore(tmp_path / "evidence") as opened:
        yield opened


async def settle(scheduler: Scheduler) -> None:
    await asyncio.gather(*scheduler.running.values())


def test_misfire_grace_decides_between_firing_late_and_recording_a_miss(
    store: EvidenceStore, run: Any
) -> None:
    clock, recorder = Clock(utc(2026, 11, 26, 6, 0, 1)), Recorder()
    strict = sched(cron="0 * * * *", misfire_grace_s=300)
    lenient = sched(cron="0 * * * *", misfire_grace_s=1800)
    scheduler = scheduler_on(
        settings_with(strict=strict, lenient=lenient), store, clock=clock, execute=recorder
    )

    async def scenario() -> list[Fire]:
        await scheduler.tick()  # 06:00:01: both fire on time
        await settle(scheduler)
        clock.now = utc(2026, 11, 26, 8, 10)  # the daemon was away for 07:00 and 08:00
        claimed = await scheduler.tick()
        await settle(scheduler)
        return claimed

    claimed = run(scenario())
    assert recorder.fired == [
        ("strict", "2026-11-26T06:00:00Z"),
        ("lenient", "2026-11-26T06:00:00Z"),
        ("lenient", "2026-11-26T08:00:00Z"),  # 10 min late, within 30 min: fires once
    ]
    by_name = {f.schedule: f for f in claimed}
    assert by_name["strict"].state == "missed"  # 10 min late > 5 min grace: recorded, not run
    assert by_name["strict"].slot == "2026-11-26T08:00:00Z"  # 07:00 is coalesced into it
    assert "misfire grace 300s" in (by_name["strict"].reason or "")
    view = scheduler.view("strict", clock.now)
    assert view.overdue and view.problem


def test_overlap_skip_records_the_skipped_slot_and_queue_waits(
    store: EvidenceStore, run: Any
) -> None:
    clock, recorder = Clock(utc(2026, 11, 26, 6, 0, 0)), Recorder()
    skip = sched(every_s=60, overlap="skip", misfire_grace_s=600)
    queue = sched(every_s=60, overlap="queue", misfire_grace_s=600)
    scheduler = scheduler_on(
        settings_with(skip=skip, queue=queue), store, clock=clock, execute=recorder
    )

    async def scenario() -> list[Fire]:
        recorder.hold = asyncio.Event()
        await scheduler.tick()  # 06:00 both start and keep running
        clock.now = utc(2026, 11, 26, 6, 1, 0)
        skipped = await scheduler.tick()  # 06:01: skip records a skip; queue waits
        recorder.hold.set()
        await settle(scheduler)
        clock.now = utc(2026, 11, 26, 6, 1, 5)
        await scheduler.tick()  # queue's 06:01 slot runs now
        await settle(scheduler)
        return skipped

    skipped = run(scenario())
    assert [(f.schedule, f.slot, f.state) for f in skipped] == [
        ("skip", "2026-11-26T06:01:00Z", "skipped")
    ]
    assert recorder.fired == [
        ("skip", "2026-11-26T06:00:00Z"),
        ("queue", "2026-11-26T06:00:00Z"),
        ("queue", "2026-11-26T06:01:00Z"),
    ]


def test_a_restarted_daemon_does_not_fire_a_slot_twice(store: EvidenceStore, run: Any) -> None:
    clock = Clock(utc(2026, 11, 26, 6, 0, 2))
    settings = settings_with(hourly=sched(cron="0 * * * *"))
    first, second = Recorder(), Recorder()

    async def scenario() -> None:
        before = scheduler_on(settings, store, clock=clock, execute=first)
        await before.tick()
        await settle(before)
        after = scheduler_on(settings, store, clock=clock, execute=second)  # "restarted"
        clock.now = utc(2026, 11, 26, 6, 0, 30)
        assert await after.tick() == []
        clock.now = utc(2026, 11, 26, 7, 0, 1)
        await after.tick()
        await settle(after)

    run(scenario())
    assert first.fired == [("hourly", "2026-11-26T06:00:00Z")]
    assert second.fired == [("hourly", "2026-11-26T07:00:00Z")]
    # the claim itself is exactly-once, whoever races for it
    ledger = ScheduleLedger(store)
    assert ledger.claim("hourly", "2026-11-26T07:00:00Z", owner="someone else") is None


def test_a_fire_left_open_by_a_dead_daemon_is_picked_up_once(
    store: EvidenceStore, run: Any
) -> None:
    clock = Clock(utc(2026, 11, 26, 6, 0, 2))
    settings = settings_with(hourly=sched(cron="0 * * * *"))
    ledger = ScheduleLedger(store)
    left = ledger.claim("hourly", "2026-11-26T06:00:00Z", owner="999999@elsewhere")
    assert left is not None
    recorder = Recorder()

    async def scenario() -> None:
        scheduler = scheduler_on(settings, store, clock=clock, execute=recorder)
        assert [f.fire_id for f in scheduler.recover()] == [left.fire_id]
        await settle(scheduler)
        assert await scheduler.tick() == []  # the slot is claimed: no second fire
        assert scheduler.recover() == []

    run(scenario())
    assert recorder.fired == [("hourly", "2026-11-26T06:00:00Z")]
    assert ledger.fire(left.fire_id).state == "done"


def test_one_daemon_per_store_and_a_dead_ones_lock_does_not_stick(store: EvidenceStore) -> None:
    now = utc(2026, 11, 26, 6, 0)
    settings = settings_with()
    first = scheduler_on(settings, store, clock=Clock(now))
    held = first.acquire()
    with pytest.raises(ScheduleError, match="another scheduler daemon"):
        scheduler_on(settings, store, clock=Clock(now + timedelta(seconds=5))).acquire()
    # the lease expires when the holder stops renewing it
    later = scheduler_on(settings, store, clock=Clock(now + timedelta(seconds=31)))
    assert later.acquire().token != held.token
    assert not ScheduleLedger(store).renew_lock(held.token, now=now, lease_s=30)  # taken over
    later.release()
    # a holder on this host whose process is gone is taken over at once
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(gone.stdout)
    ledger = ScheduleLedger(store)
    assert ledger.acquire_lock(now=now, lease_s=3600) is not None
    store.db.execute("UPDATE scheduler_lock SET pid = ?", [pid])
    store.db.conn.commit()
    taker = scheduler_on(settings, store, clock=Clock(now + timedelta(seconds=1)))
    assert taker.acquire().token


def test_a_new_schedule_does_not_count_slots_before_its_first_fire_as_missed(
    store: EvidenceStore, run: Any
) -> None:
    clock, recorder = Clock(utc(2026, 11, 26, 6, 40)), Recorder()
    scheduler = scheduler_on(
        settings_with(hourly=sched(cron="0 * * * *", misfire_grace_s=300)),
        store,
        clock=clock,
        execute=recorder,
    )
    # just added (in memory: no config file dates it): nothing is known to have been due
    assert not scheduler.view("hourly", clock.now).overdue

    async def scenario() -> list[Fire]:
        claimed = await scheduler.tick()
        clock.now = utc(2026, 11, 26, 7, 0, 1)
        await scheduler.tick()
        await settle(scheduler)
        return claimed

    (first,) = run(scenario())
    assert (first.slot, first.state) == ("2026-11-26T06:00:00Z", "skipped")
    assert recorder.fired == [("hourly", "2026-11-26T07:00:00Z")]
    assert scheduler.view("hourly", clock.now).problem is None


def test_trigger_refuses_while_a_fire_of_the_schedule_runs(store: EvidenceStore, run: Any) -> None:
    scheduler = scheduler_on(
        settings_with(hourly=sched(cron="0 * * * *")), store, execute=Recorder()
    )
    ScheduleLedger(store).claim("hourly", "2026-11-26T06:00:00Z", owner="123@elsewhere")
    with pytest.raises(ScheduleError, match=r"already has fire .* running"):
        run(scheduler.trigger("hourly"))
    with pytest.raises(ScheduleError, match="no schedule 'nightly'"):
        run(scheduler.trigger("nightly"))
