"""`FireWorkflow`: one fire of a schedule, as a Temporal workflow that a Temporal schedule
(agent/backends/temporal/schedules.py) or `aijia schedule trigger` starts.

    fire (activity) ──▶ the fire, closed: done, failed (or interrupted, retried)

The slot is the schedule's scheduled time (Temporal's `TemporalScheduledStartTime` search
attribute), so a retried activity, or a second workflow of the same slot, claims the same
fire in the store and never runs a row twice. The rows are run workflows of their own
(`RunWorkflow`): the fire only waits for their first outcome, and a gated row waits at its
gate in its own workflow after the fire has ended.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

from agent.backends.temporal.messages import FIRE, FIRE_WORKFLOW, FireRequest

SCHEDULED_AT = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
FIRE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=5,
    # what a retry cannot fix: the schedule, the recipe, the policy, the config
    non_retryable_error_types=["ScheduleError", "ConfigError", "PolicyError", "RecipeError"],
)
FIRE_HEARTBEAT = timedelta(seconds=20)
FIRE_MARGIN = timedelta(minutes=5)  # on top of the schedule's max_run_time_s


@workflow.defn(name=FIRE_WORKFLOW)
class FireWorkflow:
    @workflow.run
    async def run(self, request: FireRequest) -> dict[str, object]:
        slot = request.slot or scheduled_slot()
        longest = timedelta(seconds=request.max_run_time_s or 24 * 3600)
        fire: dict[str, object] = await workflow.execute_activity(
            FIRE,
            FireRequest(request.schedule, slot, request.max_run_time_s, request.definition),
            result_type=dict,
            # the activity ends the fire itself at max_run_time_s; this only catches a hang
            start_to_close_timeout=longest + FIRE_MARGIN,
            heartbeat_timeout=FIRE_HEARTBEAT,
            retry_policy=FIRE_RETRY,
        )
        return fire


def scheduled_slot() -> str:
    """The slot key (agent/schedule/times.slot_key) of the time the schedule meant this fire
    for; the workflow's start time when no schedule started it."""
    info = workflow.info()
    moment = info.typed_search_attributes.get(SCHEDULED_AT) or info.start_time
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
