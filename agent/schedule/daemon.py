"""The built-in scheduler: fires schedules from config.yaml, once per slot, one daemon per store.

    scheduler = Scheduler(aijia, log=log)                    # an AsyncAijia; clock=… in tests
    await scheduler.serve(stop_event)                        # `aijia schedule run`
    fire = await scheduler.trigger("hourly_returns")         # `aijia schedule trigger`

Each tick: renew the daemon lock, then for every enabled schedule compute the due slot
(`agent.schedule.times.due_slot`) and claim it in the store; only a successful claim fires
(UNIQUE(schedule, slot)), so a restarted daemon never fires a slot twice. A slot later than
the misfire grace is claimed as `missed`; a slot due while the schedule's previous fire still
runs is claimed as `skipped` (overlap: skip) or waits for it (overlap: queue). On start, fires
left open by a daemon that died are picked up and finish their remaining rows. The daemon also
commits runs approved with `--no-resume` (`AsyncAijia.resume`, exactly once each), and (with
`scheduler.sweep`) closes overdue gates and settles runs left `committing` by a committer
whose lease lapsed, through reconcile. Every run starts through the facade, as the
scheduler's policy user.

The clock and the fire executor are injectable: tests drive `tick(now)` with a controlled clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent.core.errors import AgentError, ScheduleError
from agent.schedule.fire import Log, execute_fire, manual_fire_slot
from agent.schedule.status import ScheduleView, inputs_problem, schedule_view
from agent.schedule.times import Due, due_slot, parse_slot, slot_key
from agent.schedule.worker import CommitWorker
from evidence.schedules import Fire, LockHolder, ScheduleLedger, this_process

if TYPE_CHECKING:
    from agent.api.async_api import AsyncAijia
    from agent.core.settings import ScheduleSettings

Clock = Callable[[], datetime]
Executor = Callable[..., Awaitable[Fire]]  # execute_fire's signature


def utc_clock() -> datetime:
    return datetime.now(UTC)


def _quiet(event: str, **fields: Any) -> None:
    return None


class Scheduler:
    def __init__(
        self,
        aijia: AsyncAijia,
        *,
        clock: Clock = utc_clock,
        log: Log = _quiet,
        execute: Executor = execute_fire,
    ) -> None:
        self.aijia, self.settings, self.store = aijia, aijia.settings, aijia.store
        self.ledger = ScheduleLedger(self.store)
        self.clock, self.log, self.execute = clock, log, execute
        self.owner = this_process()
        self.stop = asyncio.Event()
        self.running: dict[str, asyncio.Task[Fire]] = {}  # schedule -> its fire in flight
        self.queued: dict[str, Due] = {}  # overlap: queue -> the slot waiting for it
        self.lock: LockHolder | None = None
        self._resuming: asyncio.Task[None] | None = None
        # Commits runs approved with --no-resume, as the scheduler's user, once they waited
        # scheduler.resume_after_s (the approver's own `aijia approve` goes first).
        self.worker = CommitWorker(
            aijia,
            user=self.settings.scheduler.user,
            wait_s=self.settings.scheduler.resume_after_s,
            sweep=self.settings.scheduler.sweep,
            log=log,
            clock=clock,
        )
        self._last_resume_check = datetime.min.replace(tzinfo=UTC)

    def schedule(self, name: str) -> ScheduleSettings:
        if name not in self.settings.schedules:
            known = ", ".join(sorted(self.settings.schedules)) or "none"
            raise ScheduleError(
                f"no schedule {name!r} in {self.settings.source or 'config.yaml'} "
                f"(schedules: {known})",
                hint="`aijia schedule list` shows them",
            )
        return self.settings.schedules[name]

    def check(self) -> None:
        """Before the daemon starts: every enabled schedule's recipes exist and the scheduler
        user may run them (RecipeError, ConfigError or PolicyError now, not at 3 a.m.)."""
        policy = self.aijia.policy
        user = self.settings.scheduler.user
        for schedule in self.settings.schedules.values():
            if not schedule.enabled:
                continue
            names = [schedule.recipe] + ([schedule.source.recipe] if schedule.source else [])
            for name in names:
                self.aijia.recipe(name, schedule.site)
                policy.check_may_run(user, name)

    def warn_inputs(self) -> None:
        """At start: say which enabled schedule's inputs file cannot be read now (a warning,
        not a refusal: an export job may drop the file before the slot; the fire fails then)."""
        for name, schedule in self.settings.schedules.items():
            problem = inputs_problem(schedule) if schedule.enabled else None
            if problem is not None:
                self.log("schedule_inputs_unreadable", schedule=name, error=problem)

    # ------------------------------------------------------------------ the lock

    def acquire(self) -> LockHolder:
        """Take the daemon lock or raise ScheduleError naming the live holder."""
        now = self.clock()
        holder = self.ledger.acquire_lock(now=now, lease_s=self.settings.scheduler.lease_s)
        if holder is None:
            held = self.ledger.lock_holder()
            who = f"{held.owner}, lease until {held.expires_at}" if held else "another daemon"
            raise ScheduleError(
                f"another scheduler daemon runs on the evidence store {self.store.root} ({who})",
                hint="stop it first; a crashed daemon's lease expires after "
                f"scheduler.lease_s = {self.settings.scheduler.lease_s:g}s",
            )
        self.lock = holder
        self.log("lock_acquired", owner=holder.owner, expires_at=holder.expires_at)
        return holder

    def release(self) -> None:
        if self.lock is not None:
            self.ledger.release_lock(self.lock.token)
            self.lock = None

    # ------------------------------------------------------------------ ticks

    async def tick(self, now: datetime | None = None) -> list[Fire]:
        """One look at the clock: claim what is due, start it; returns the fires claimed."""
        now = now or self.clock()
        if self.lock is not None and not self.ledger.renew_lock(
            self.lock.token, now=now, lease_s=self.settings.scheduler.lease_s
        ):
            self.log("lock_lost", owner=self.owner)
            self.stop.set()
            return []
        claimed = []
        for name, schedule in self.settings.schedules.items():
            if not schedule.enabled:
                continue
            fire = self._tick_one(name, schedule, now)
            if fire is not None:
                claimed.append(fire)
        if self.settings.scheduler.resume_approved:
            self._maybe_resume(now)
        return claimed

    def _tick_one(self, name: str, schedule: ScheduleSettings, now: datetime) -> Fire | None:
        busy = name in self.running and not self.running[name].done()
        if not busy and name in self.queued:
            waited = self.queued.pop(name)
            return self._claim_and_start(name, schedule, waited.slot, now)
        last = self.ledger.last_slot(name)
        due = due_slot(name, schedule, now=now, last=parse_slot(last) if last else None)
        if due is None:
            return None
        if due.missed and last is None:  # a new schedule: what came before it is not missed
            return self.ledger.claim(
                name,
                slot_key(due.slot),
                owner=self.owner,
                state="skipped",
                reason="before the schedule's first fire",
            )
        if due.missed:
            fire = self.ledger.claim(
                name,
                slot_key(due.slot),
                owner=self.owner,
                state="missed",
                reason=f"{due.late_s:.0f}s late; misfire grace {schedule.misfire_grace_s:g}s",
            )
            if fire is not None:
                self.log("fire_missed", schedule=name, slot=fire.slot, reason=fire.reason)
            return fire
        if busy:
            if schedule.overlap == "queue":
                if name not in self.queued:
                    self.queued[name] = due
                    self.log("fire_queued", schedule=name, slot=slot_key(due.slot))
                return None
            fire = self.ledger.claim(
                name,
                slot_key(due.slot),
                owner=self.owner,
                state="skipped",
                reason="overlap: the previous fire is still running",
            )
            if fire is not None:
                self.log("fire_skipped", schedule=name, slot=fire.slot, reason=fire.reason)
            return fire
        return self._claim_and_start(name, schedule, due.slot, now)

    def _claim_and_start(
        self, name: str, schedule: ScheduleSettings, slot: datetime, now: datetime
    ) -> Fire | None:
        fire = self.ledger.claim(name, slot_key(slot), owner=self.owner)
        if fire is None:  # someone had it: a restart after this slot fired
            return None
        self._start(name, schedule, fire)
        return fire

    def _start(self, name: str, schedule: ScheduleSettings, fire: Fire) -> None:
        self.log("fire_started", schedule=name, fire_id=fire.fire_id, slot=fire.slot)
        self.running[name] = asyncio.create_task(self._run_fire(name, schedule, fire))

    async def _run_fire(self, name: str, schedule: ScheduleSettings, fire: Fire) -> Fire:
        try:
            done = await self.execute(
                fire,
                name,
                schedule,
                aijia=self.aijia,
                stop=self.stop,
                log=self.log,
                now=self.clock,
            )
        except Exception as exc:  # never let one fire take the daemon down
            self.log("fire_crashed", schedule=name, fire_id=fire.fire_id, error=repr(exc))
            done = self.ledger.finish_fire(fire.fire_id, "failed", f"crashed: {exc!r}")
        self.log(
            "fire_finished",
            schedule=name,
            fire_id=done.fire_id,
            state=done.state,
            rows=done.rows,
            done=done.done,
            failed=done.failed,
            skipped=done.skipped,
            reason=done.reason,
        )
        return done

    # ------------------------------------------------------------------ recovery, trigger

    def recover(self) -> list[Fire]:
        """Pick up fires a dead daemon left open, or a stopped one left interrupted (we hold
        the lock: nobody else runs them); their settled rows are not run again."""
        picked = []
        for fire in self.ledger.open_fires(with_interrupted=True):
            if fire.schedule not in self.settings.schedules:
                self.ledger.finish_fire(fire.fire_id, "interrupted", "schedule no longer in config")
                continue
            self.ledger.reopen(fire.fire_id, self.owner)
            self.log(
                "fire_recovered",
                schedule=fire.schedule,
                fire_id=fire.fire_id,
                slot=fire.slot,
                previous_owner=fire.owner,
            )
            self._start(fire.schedule, self.settings.schedules[fire.schedule], fire)
            picked.append(fire)
        return picked

    async def trigger(self, name: str) -> Fire:
        """Fire `name` once, now, whatever its trigger (`aijia schedule trigger`)."""
        schedule = self.schedule(name)
        slot = manual_fire_slot(
            self.ledger,
            name,
            hint="wait for it (`aijia schedule list`); a fire left by a dead daemon is "
            "finished by the next `aijia schedule run`",
        )
        fire = self.ledger.claim(name, slot, owner=self.owner)
        assert fire is not None  # a fresh manual slot is never taken
        self._start(name, schedule, fire)
        return await self.running[name]

    # ------------------------------------------------------------------ approved runs

    def _maybe_resume(self, now: datetime) -> None:
        """The commit worker's pass (agent/schedule/worker.py) every 5 s, in the background."""
        if self._resuming is not None and not self._resuming.done():
            return
        if now - self._last_resume_check < timedelta(seconds=5):
            return
        self._last_resume_check = now
        self._resuming = asyncio.create_task(self.worker.sweep(now))

    # ------------------------------------------------------------------ the daemon

    async def serve(self, stop: asyncio.Event | None = None) -> None:
        """Run until `stop` (or `self.stop`) is set; in-flight fires finish or are interrupted."""
        if stop is not None:
            self.stop = stop
        self.worker.stop = self.stop
        self.check()
        self.warn_inputs()
        self.acquire()
        try:
            self.recover()
            names = [n for n, s in self.settings.schedules.items() if s.enabled]
            self.log("scheduler_started", owner=self.owner, schedules=names)
            while not self.stop.is_set():
                try:
                    await self.tick()
                except AgentError as exc:  # e.g. the store busy for too long: try next tick
                    self.log("tick_failed", error=str(exc).splitlines()[0])
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), self.settings.scheduler.tick_s)
            self.log(
                "scheduler_stopping", in_flight=[n for n, t in self.running.items() if not t.done()]
            )
            await asyncio.gather(*self.running.values(), return_exceptions=True)
            if self._resuming is not None:
                await asyncio.gather(self._resuming, return_exceptions=True)
        finally:
            self.release()
            self.log("scheduler_stopped", owner=self.owner)

    # ------------------------------------------------------------------ list / status

    def views(self, now: datetime | None = None) -> list[ScheduleView]:
        now = now or self.clock()
        return [self.view(name, now) for name in self.settings.schedules]

    def view(self, name: str, now: datetime) -> ScheduleView:
        """One schedule as `schedule list/status` shows it (agent/schedule/status.py)."""
        self.schedule(name)  # ScheduleError for an unknown name
        return schedule_view(name, self.settings, self.ledger, now=now)
