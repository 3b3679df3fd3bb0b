"""The fire activity: one fire of a schedule, on an `aijia worker`, for `FireWorkflow`.

    activities = FireActivities(aijia)     # an AsyncAijia: the worker's store and config
    Worker(..., activities=activities.all())

It claims the fire's slot in the store (UNIQUE(schedule, slot): a slot fires once, however
often Temporal retries or starts it), works out the rows (a source recipe runs here, in the
worker), and starts one run workflow per row (`client.start_run`, the run linked to its row
the moment it exists), waiting only for each row's first outcome: done, failed, or paused at
a gate. A worker that dies mid-fire leaves the fire open; Temporal retries the activity on
another worker, which finds the fire by its slot and goes on with the rows not yet settled,
following the run workflows already started instead of starting a row twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from temporalio import activity

from agent.backends.temporal.activities import heartbeating
from agent.backends.temporal.client import connect, follow_run, start_run
from agent.backends.temporal.messages import FIRE, FireRequest
from agent.core.errors import ScheduleError
from agent.schedule.fire import execute_fire
from evidence.schedules import OPEN_FIRE, Fire, ScheduleLedger

if TYPE_CHECKING:
    from collections.abc import Callable

    from agent.api.async_api import AsyncAijia
    from agent.core.settings import ScheduleSettings
    from agent.engine.result import RunResult
    from agent.gates.recorder import OnCreated
    from agent.recipes.model import Recipe

logger = logging.getLogger("aijia.schedule")


def log_line(event: str, **fields: Any) -> None:
    """The fire's structured events in the worker's log, one JSON object a line."""
    logger.info("%s", json.dumps({"event": event, **fields}, default=str, sort_keys=True))


class FireActivities:
    """The fire activity of one worker process, sharing its facade."""

    def __init__(self, aijia: AsyncAijia) -> None:
        self.aijia = aijia

    def all(self) -> list[Callable[..., Any]]:
        return [self.fire]

    @activity.defn(name=FIRE)
    async def fire(self, request: FireRequest) -> dict[str, Any]:
        aijia = self.aijia
        schedule = schedule_of(aijia, request)
        if request.slot is None:
            raise ScheduleError(f"schedule {request.schedule}: a fire without a slot")
        fire = claim_or_find(
            ScheduleLedger(aijia.store),
            request.schedule,
            request.slot,
            owner=f"temporal {activity.info().workflow_id} attempt {activity.info().attempt}",
        )
        if fire.state not in (OPEN_FIRE, "interrupted"):  # an earlier attempt ended it
            return asdict(fire)
        log_line("fire_started", schedule=fire.schedule, fire_id=fire.fire_id, slot=fire.slot)
        async with heartbeating():
            client = await connect(aijia.settings)

            async def run_row(
                recipe: Recipe,
                inputs: Mapping[str, Any],
                *,
                as_user: str,
                site: str,
                row: int,
                on_created: OnCreated,
            ) -> RunResult:
                return await start_run(
                    aijia,
                    schedule.recipe,  # as config names it: each worker looks it up
                    inputs,
                    as_user=as_user,
                    site=site,
                    row=row,
                    client=client,
                    on_created=on_created,
                )

            async def follow(run_id: str) -> RunResult | None:
                return await follow_run(aijia, run_id, client)

            ended = await execute_fire(
                fire,
                request.schedule,
                schedule,
                aijia=aijia,
                stop=asyncio.Event(),  # a worker that stops leaves the fire to a retry
                log=log_line,
                run_row=run_row,
                follow=follow,
            )
        log_line("fire_finished", **asdict(ended))
        return asdict(ended)


def schedule_of(aijia: AsyncAijia, request: FireRequest) -> ScheduleSettings:
    """The schedule as synced (carried in the request), else as this worker's config says
    (ScheduleError when it has no such schedule)."""
    from agent.core.settings import ScheduleSettings

    if request.definition is not None:
        return ScheduleSettings.model_validate(request.definition)
    return aijia.scheduler().schedule(request.schedule)


def claim_or_find(ledger: ScheduleLedger, schedule: str, slot: str, *, owner: str) -> Fire:
    """The fire of (schedule, slot): claimed now, or the one an earlier attempt claimed and
    did not end, taken over by `owner` (recorded in the store's ledger)."""
    fire = ledger.claim(schedule, slot, owner=owner)
    if fire is not None:
        return fire
    found = ledger.fire_at(schedule, slot)
    if found is None:  # claimed and gone: cannot happen, fires are never deleted
        raise ScheduleError(f"schedule {schedule}: slot {slot} is claimed but has no fire")
    if found.state in (OPEN_FIRE, "interrupted"):
        ledger.reopen(found.fire_id, owner)
        return ledger.fire(found.fire_id)
    return found
