"""One fire of a schedule: work out its rows, run the recipe once per row, record every row.

    fire = await execute_fire(fire, "hourly_returns", schedule, aijia=aijia,
                              stop=stop_event, log=log)

Rows come from the schedule's static `inputs`, its `inputs_file`, or a `source` recipe's output
list (mapped through `source.map`). They are stored with the fire before any row runs, so a
daemon that picks up an interrupted fire runs the same rows and never repeats a row that is
already done. Runs are started through the facade (`AsyncAijia.run`) as the scheduler's policy
user, so policy applies and the initiator is recorded; each run is linked to its row the moment
it is created.

Idempotent capture: with `fresh_within_s`, a row whose `fresh_key` inputs already have a `done`
run of the same recipe within the window is skipped, and the row records which run made it so.

Stopping: when `stop` is set no new row starts; rows in flight get `stop_grace_s`, then they
are cancelled, their runs closed as failed ("interrupted", evidence kept) and the fire marked
interrupted, to be finished by the next daemon. `max_run_time_s` stops a fire the same way,
but marks it failed: its rows are not tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from agent.core.errors import AgentError, InputError, ScheduleError
from agent.core.states import RunState
from agent.schedule.status import rows_reason
from evidence.schedules import Fire, Item, ScheduleLedger

if TYPE_CHECKING:
    from agent.api.async_api import AsyncAijia
    from agent.core.settings import ScheduleSettings
    from agent.engine.result import RunResult
    from agent.gates.recorder import OnCreated
    from agent.recipes.model import Recipe
    from evidence.api import RunRecord
    from evidence.store import EvidenceStore

Log = Callable[..., None]  # log(event, **fields): one structured line
SETTLED = {"done", "failed", "paused", "skipped"}
TOO_LONG = "max_run_time_s exceeded"


SCHEDULED = "scheduled"  # event kind: which schedule, fire, slot and row started this run


class RowRunner(Protocol):
    """How a fire runs one row: `AsyncAijia.run` in this process (the default), or a run
    workflow on the temporal backend (agent/backends/temporal/fires.py)."""

    def __call__(
        self,
        recipe: Recipe,
        inputs: Mapping[str, Any],
        *,
        as_user: str,
        site: str,
        row: int,
        on_created: OnCreated,
    ) -> Awaitable[RunResult]: ...


# A row's run that outlived its fire's executor (the temporal backend: the run is its own
# workflow): its first outcome, or None when nothing carries it on and it must run again.
FollowRun = Callable[[str], Awaitable["RunResult | None"]]


def link_to_row(store: EvidenceStore, ledger: ScheduleLedger, item: Item) -> OnCreated:
    """Link a run to its schedule row the moment it is created, so a daemon killed mid-run
    leaves a row that names its (unfinished) run; the run's trail says which schedule
    started it."""

    def linked(record: RunRecord) -> None:
        ledger.set_item(item.fire_id, item.n, "running", run_id=record.run_id)
        fire = ledger.fire(item.fire_id)
        store.append_event(
            record.run_id,
            SCHEDULED,
            {"schedule": fire.schedule, "fire_id": fire.fire_id, "slot": fire.slot, "row": item.n},
        )

    return linked


def manual_fire_slot(ledger: ScheduleLedger, name: str, *, hint: str) -> str:
    """A fresh slot for a manual fire of `name` (`aijia schedule trigger`); ScheduleError
    with `hint` while a fire of it runs: never two at once, whoever started them."""
    from evidence.ids import new_id

    running = [f for f in ledger.open_fires() if f.schedule == name]
    if running:
        raise ScheduleError(
            f"schedule {name} already has fire {running[0].fire_id} running "
            f"(claimed {running[0].claimed_at} by {running[0].owner})",
            hint=hint,
        )
    return f"manual:{new_id()}"


def one_line(message: str) -> str:
    """A multi-line error message as one line, for a row's reason and `schedule status`."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def close_interrupted(store: EvidenceStore, run_id: str, why: str) -> None:
    """A run left pending/running by a stopped or dead daemon: failed, with its evidence."""
    run = store.get_run(run_id)
    if run.state not in (RunState.PENDING, RunState.RUNNING):
        return
    with contextlib.suppress(AgentError):
        store.finish_run(run_id, outputs=run.outputs, error=why)
    store.transition(run_id, run.state, RunState.FAILED, reason=why)


async def resolve_rows(
    schedule: ScheduleSettings, *, aijia: AsyncAijia, log: Log
) -> list[dict[str, Any]]:
    """The rows of one fire (deduplicated by `fresh_key` for source rows)."""
    from agent.recipes.rows import read_rows

    if schedule.inputs_file is not None:
        return read_rows(schedule.inputs_file)
    if schedule.source is None:
        return [dict(r) for r in schedule.inputs] or [{}]
    source = schedule.source
    result = await aijia.run(
        source.recipe,
        source.inputs,
        as_user=aijia.settings.scheduler.user,
        site=schedule.site,
    )
    log("source_finished", recipe=source.recipe, run_id=result.run_id, state=result.state.value)
    if result.state is not RunState.DONE:
        raise ScheduleError(
            f"source recipe {source.recipe} ended {result.state.value} (run {result.run_id}): "
            f"{result.error or ''}".strip(),
            hint=f"`aijia runs show {result.run_id}` shows where it stopped",
        )
    items = result.outputs.get(source.output)
    if not isinstance(items, list):
        raise ScheduleError(
            f"source recipe {source.recipe}: output {source.output!r} is not a list "
            f"(got {type(items).__name__})",
            hint=f'the recipe\'s `outputs:` needs {source.output}: "{{{{ … }}}}" giving a list',
        )
    rows, seen = [], set()
    for item in items:
        if not isinstance(item, Mapping):
            item = {"value": item}
        row = {field: item.get(key) for field, key in source.map.items()}
        marker = tuple(str(row.get(k)) for k in (schedule.fresh_key or sorted(row)))
        if marker not in seen:
            seen.add(marker)
            rows.append(row)
    return rows


async def execute_fire(
    fire: Fire,
    name: str,
    schedule: ScheduleSettings,
    *,
    aijia: AsyncAijia,
    stop: asyncio.Event,
    log: Log,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    run_row: RowRunner | None = None,
    follow: FollowRun | None = None,
) -> Fire:
    """Run the fire's rows to the end (or until stopped); returns the closed fire.
    `run_row` runs one row (default: `aijia.run` here); `follow` finds a row's earlier run
    still carried on elsewhere (default: none is, an unfinished one is closed and run again)."""
    store = aijia.store
    ledger = ScheduleLedger(store)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + schedule.max_run_time_s
    runner: RowRunner = run_row or aijia.run
    try:
        recipe = aijia.recipe(schedule.recipe, schedule.site)
        if not ledger.items(fire.fire_id):
            ledger.add_items(fire.fire_id, await resolve_rows(schedule, aijia=aijia, log=log))
        limit = asyncio.Semaphore(schedule.concurrency)
        stopping = asyncio.Event()

        async def one(item: Item) -> None:
            async with limit:
                if stop.is_set() or stopping.is_set():
                    return
                await _run_row(item, recipe, schedule, aijia, ledger, log, now, runner, follow)

        todo = [i for i in ledger.items(fire.fire_id) if i.state not in SETTLED]
        tasks = [asyncio.create_task(one(i)) for i in todo]
        grace = aijia.settings.scheduler.stop_grace_s
        why = await _drain(tasks, stop, stopping, deadline, grace)
    except AgentError as exc:
        log("fire_failed", schedule=name, fire_id=fire.fire_id, error=str(exc))
        return ledger.finish_fire(fire.fire_id, "failed", one_line(exc.message))
    items = ledger.items(fire.fire_id)
    if why is None and stop.is_set() and any(i.state not in SETTLED for i in items):
        why = "the scheduler is stopping"  # rows the stop kept from starting
    if why or any(i.state not in SETTLED for i in items):
        for item in items:
            if item.state == "running" and item.run_id:
                close_interrupted(store, item.run_id, f"interrupted: {why or 'stopped'}")
            if item.state == "running":
                ledger.set_item(fire.fire_id, item.n, "interrupted", reason=why or "stopped")
        # a daemon stop leaves the rest to the next daemon; a fire over its time is over
        state = "failed" if why == TOO_LONG else "interrupted"
        return ledger.finish_fire(fire.fire_id, state, why or "stopped")
    # every row settled, even when a stop came meanwhile: the fire is over, not interrupted
    failed = any(i.state == "failed" for i in items)
    if failed:
        return ledger.finish_fire(fire.fire_id, "failed", rows_reason(ledger, fire.fire_id))
    return ledger.finish_fire(fire.fire_id, "done")


async def _drain(
    tasks: list[asyncio.Task[None]],
    stop: asyncio.Event,
    stopping: asyncio.Event,
    deadline: float,
    grace: float,
) -> str | None:
    """Wait for the rows; on stop give in-flight rows `grace`, at the deadline none."""
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set(tasks)
    stop_by: float | None = None
    why: str | None = None
    while pending:
        if stop.is_set() and stop_by is None:
            stop_by, why = loop.time() + grace, "the scheduler is stopping"
            stopping.set()
        limit = min(deadline, stop_by) if stop_by is not None else deadline
        if loop.time() >= limit:
            why = why if stop_by is not None and limit == stop_by else TOO_LONG
            stopping.set()
            break
        _, pending = await asyncio.wait(pending, timeout=min(0.2, limit - loop.time()))
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    # a stop that came while rows ran, but let every one of them finish, cut nothing
    return why if pending else None


async def _run_row(
    item: Item,
    recipe: Recipe,
    schedule: ScheduleSettings,
    aijia: AsyncAijia,
    ledger: ScheduleLedger,
    log: Log,
    now: Callable[[], datetime],
    runner: RowRunner,
    follow: FollowRun | None,
) -> None:
    from agent.engine.setup import site_name_for

    store = aijia.store
    site = site_name_for(recipe, aijia.settings, schedule.site)
    if item.run_id:  # picked up after an interruption: that run first
        earlier = store.get_run(item.run_id)
        if earlier.state is RunState.DONE:
            ledger.set_item(item.fire_id, item.n, "done")
            return
        followed = await follow(item.run_id) if follow is not None else None
        if followed is not None:  # its run went on without us: take its outcome
            _record_row(item, followed, ledger, log)
            return
        close_interrupted(store, item.run_id, "interrupted: the scheduler daemon stopped")
    if schedule.fresh_within_s is not None:
        key = {k: item.inputs.get(k) for k in schedule.fresh_key}
        since = now() - timedelta(seconds=schedule.fresh_within_s)
        fresh = ledger.fresh_run(recipe.name, site, key, since.strftime("%Y-%m-%dT%H:%M:%S"))
        if fresh is not None:
            reason = f"fresh evidence: run {fresh['run_id']} at {fresh['created_at']}"
            ledger.set_item(item.fire_id, item.n, "skipped", reason=reason)
            log("row_skipped", fire_id=item.fire_id, row=item.n, inputs=key, reason=reason)
            return
    ledger.set_item(item.fire_id, item.n, "running")
    try:
        result = await runner(
            recipe,
            item.inputs,
            as_user=aijia.settings.scheduler.user,
            site=site,
            row=item.n,
            on_created=link_to_row(store, ledger, item),
        )
    except asyncio.CancelledError:
        raise
    except AgentError as exc:
        state = "failed"
        reason = one_line(exc.message)  # the whole message: its first line may only say where
        if isinstance(exc, InputError):
            reason = f"invalid row: {reason}"
        ledger.set_item(item.fire_id, item.n, state, reason=reason)
        log("row_finished", fire_id=item.fire_id, row=item.n, state=state, error=reason)
        return
    _record_row(item, result, ledger, log)


def _record_row(item: Item, result: RunResult, ledger: ScheduleLedger, log: Log) -> None:
    """The row's state from its run's result: done, paused (at a gate), or failed."""
    state = {RunState.DONE: "done", RunState.PAUSED: "paused"}.get(result.state, "failed")
    error = (result.error or "").splitlines()[0] if result.error else None
    ledger.set_item(item.fire_id, item.n, state, run_id=result.run_id, reason=error)
    log(
        "row_finished",
        fire_id=item.fire_id,
        row=item.n,
        run_id=result.run_id,
        state=state,
        duration_s=result.duration_s,
        **({"error": error} if error else {}),
    )
