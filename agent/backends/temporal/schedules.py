"""config.yaml's schedules as Temporal schedules (`runs.backend: temporal`).

    changes = await sync_schedules(aijia)        # `aijia schedule sync`: config is the truth
    fire = await trigger_fire(aijia, "hourly")   # `aijia schedule trigger`: one fire, now

A schedule `<name>` becomes the Temporal schedule `aijia:<task queue>:<name>`, whose action
starts a `FireWorkflow` on the task queue the workers poll:

    cron + timezone   → a cron spec in that time zone     every_s → an interval (epoch-aligned)
    jitter_s          → the spec's jitter                 enabled: false → paused
    overlap: skip     → SKIP                              overlap: queue → BUFFER_ONE
    misfire_grace_s   → the catch-up window (Temporal's minimum is 10 s)

Each synced schedule carries a digest of its config in its note: a sync leaves an unchanged
one alone (a pause made in Temporal's UI stays), replaces a changed one, and deletes those
of this task queue no longer in config.yaml. Fires are recorded in the store as the local
scheduler records them, so `aijia schedule status` reads the same ledger on either backend.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowFailureError,
)
from temporalio.service import RPCError, RPCStatusCode

from agent.backends.temporal.client import connect, polled
from agent.backends.temporal.messages import FIRE_WORKFLOW, FireRequest
from agent.core.errors import ConfigError, ScheduleError
from agent.schedule.fire import manual_fire_slot
from evidence.schedules import Fire, ScheduleLedger

if TYPE_CHECKING:
    from agent.api.async_api import AsyncAijia
    from agent.core.settings import ScheduleSettings, Settings

MIN_CATCHUP_S = 10.0  # Temporal refuses a shorter catch-up window
NOTE = "aijia config "  # + the schedule's digest: what the last sync put there
WAIT_POLL_S = 2.0  # how often a trigger checks that a worker still polls


@dataclass(frozen=True)
class ScheduleChange:
    """What a sync did to one schedule: created, updated, unchanged or deleted."""

    name: str
    schedule_id: str
    change: str
    paused: bool = False


def schedule_prefix(settings: Settings) -> str:
    return f"aijia:{settings.runs.temporal.task_queue}:"


def schedule_id(settings: Settings, name: str) -> str:
    return schedule_prefix(settings) + name


def digest(name: str, schedule: ScheduleSettings) -> str:
    """What decides the Temporal schedule: a change to any of it is a change to push."""
    shown = schedule.model_dump(mode="json")
    return hashlib.sha256(json.dumps([name, shown], sort_keys=True).encode()).hexdigest()[:16]


def fire_request(name: str, schedule: ScheduleSettings, *, slot: str | None) -> FireRequest:
    return FireRequest(
        schedule=name,
        slot=slot,
        max_run_time_s=schedule.max_run_time_s,
        definition=schedule.model_dump(mode="json"),
    )


def temporal_schedule(settings: Settings, name: str, schedule: ScheduleSettings) -> Schedule:
    """The Temporal schedule for config's schedule `name`."""
    jitter = timedelta(seconds=schedule.jitter_s) if schedule.jitter_s else None
    if schedule.cron is not None:
        spec = ScheduleSpec(
            cron_expressions=[schedule.cron], time_zone_name=schedule.timezone, jitter=jitter
        )
    else:
        assert schedule.every_s is not None  # the settings require one of the two
        every = ScheduleIntervalSpec(every=timedelta(seconds=schedule.every_s))
        spec = ScheduleSpec(intervals=[every], jitter=jitter)
    overlap = ScheduleOverlapPolicy.SKIP
    if schedule.overlap == "queue":
        overlap = ScheduleOverlapPolicy.BUFFER_ONE
    task_queue = settings.runs.temporal.task_queue
    return Schedule(
        action=ScheduleActionStartWorkflow(
            FIRE_WORKFLOW,
            fire_request(name, schedule, slot=None),
            id=f"aijia-fire:{task_queue}:{name}",  # Temporal appends the scheduled time
            task_queue=task_queue,
        ),
        spec=spec,
        policy=SchedulePolicy(
            overlap=overlap,
            catchup_window=timedelta(seconds=max(schedule.misfire_grace_s, MIN_CATCHUP_S)),
        ),
        state=ScheduleState(paused=not schedule.enabled, note=NOTE + digest(name, schedule)),
    )


async def sync_schedules(aijia: AsyncAijia) -> list[ScheduleChange]:
    """Make the Temporal schedules of this task queue what config.yaml says. Checks first
    that every enabled schedule's recipes exist and the scheduler's user may run them."""
    settings = aijia.settings
    aijia.scheduler().check()
    client = await connect(settings)
    changes = [
        await _sync_one(client, settings, name, schedule)
        for name, schedule in sorted(settings.schedules.items())
    ]
    prefix = schedule_prefix(settings)
    async for listed in await client.list_schedules():
        name = listed.id.removeprefix(prefix)
        if listed.id.startswith(prefix) and name not in settings.schedules:
            try:
                await client.get_schedule_handle(listed.id).delete()
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:  # gone already (lagging list)
                    raise
                continue
            changes.append(ScheduleChange(name, listed.id, "deleted"))
    return changes


async def _sync_one(
    client: Client, settings: Settings, name: str, schedule: ScheduleSettings
) -> ScheduleChange:
    wanted = temporal_schedule(settings, name, schedule)
    sid = schedule_id(settings, name)
    handle = client.get_schedule_handle(sid)
    try:
        described = await handle.describe()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        await client.create_schedule(sid, wanted)
        return ScheduleChange(name, sid, "created", paused=not schedule.enabled)
    if described.schedule.state.note == wanted.state.note:
        return ScheduleChange(name, sid, "unchanged", paused=described.schedule.state.paused)

    def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=wanted)

    await handle.update(replace)
    return ScheduleChange(name, sid, "updated", paused=not schedule.enabled)


async def trigger_fire(aijia: AsyncAijia, name: str) -> Fire:
    """Fire `name` once, now (a manual slot), on a worker; returns the fire once it ended.
    ScheduleError when a fire of it is running; ConfigError when no worker polls."""
    settings = aijia.settings
    schedule = aijia.scheduler().schedule(name)
    ledger = ScheduleLedger(aijia.store)
    slot = manual_fire_slot(ledger, name, hint="wait for it (`aijia schedule list`)")
    client = await connect(settings)
    task_queue = settings.runs.temporal.task_queue
    handle = await client.start_workflow(
        FIRE_WORKFLOW,
        fire_request(name, schedule, slot=slot),
        id=f"aijia-fire:{task_queue}:{name}-{slot}",
        task_queue=task_queue,
        result_type=dict,
    )
    result = asyncio.ensure_future(handle.result())
    try:
        while not result.done():
            await asyncio.wait({result}, timeout=WAIT_POLL_S)
            if not result.done() and not await polled(client, task_queue):
                raise ConfigError(
                    f"schedule {name}: no `aijia worker` polls task queue {task_queue}",
                    hint="start one (`aijia worker`, same runs.temporal settings); the fire "
                    f"waits in Temporal as workflow {handle.id}",
                )
        fire: dict[str, Any] = result.result()
    except WorkflowFailureError as exc:
        raise ScheduleError(
            f"schedule {name}: its fire failed: {exc.cause or exc}",
            hint=f"`temporal workflow show --workflow-id {handle.id}` says why",
        ) from None
    finally:
        result.cancel()
    return Fire(**fire)
