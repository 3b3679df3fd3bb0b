"""`RunWorkflow`: one run as a Temporal workflow (workflow id = run id).

    prepare (activity) ──▶ done / failed ──▶ end
           │ paused at a gate
           ▼
    wait for a signal (`approved`, `rejected`) or the gate's expiry (a timer)
           ▼
    settle (activity): re-read the store; expire an overdue gate, commit an approved run
    (the engine's commit path: lease, compare-and-set, ledger), reconcile an in-doubt one
           └── still paused (one approval of two, drift) or approved (site down): wait again

A phase that fails for good (past its retries, or a non-retryable error) fails the workflow,
after the `fail` activity has recorded the error in the run's store state (failure.py).

A signal only wakes the workflow: whether the gate is approved is the store's and the
policy's decision, read by the settle activity. Workflow code must be deterministic: it calls
activities by name and imports nothing of the engine.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from agent.backends.temporal.messages import (
    APPROVED,
    FAIL,
    OUTCOME,
    PREPARE,
    REJECTED,
    SETTLE,
    WORKFLOW,
    Outcome,
    RunRequest,
)

# Errors a retry cannot fix: config, policy, inputs, secrets, a gate refused (agent/core/errors).
NOT_RETRYABLE = [
    "ConfigError",
    "PolicyError",
    "InputError",
    "SecretError",
    "RecipeError",
    "GateError",
    "EvidenceError",
]
PHASE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=5,
    non_retryable_error_types=NOT_RETRYABLE,
)
PHASE_TIMEOUT = timedelta(minutes=15)  # a whole prepare or commit phase, browser included
HEARTBEAT = timedelta(seconds=20)  # a worker that stops heartbeating this long is presumed dead
RECHECK = timedelta(hours=1)  # a waiting gate is re-read this often even without a signal
FAIL_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=10)


@workflow.defn(name=WORKFLOW)
class RunWorkflow:
    def __init__(self) -> None:
        self._outcome: Outcome | None = None
        self._wakes = 0  # signals received: each one means "re-read the store"

    @workflow.signal(name=APPROVED)
    def approved(self, gate_id: str) -> None:
        self._wakes += 1

    @workflow.signal(name=REJECTED)
    def rejected(self, gate_id: str) -> None:
        self._wakes += 1

    @workflow.query(name=OUTCOME)
    def outcome(self) -> Outcome | None:
        return self._outcome

    @workflow.run
    async def run(self, request: RunRequest) -> Outcome:
        try:
            return await self._run(request)
        except ActivityError as exc:  # the store says so before the workflow fails
            await workflow.execute_activity(
                FAIL,
                args=[request.run_id, failure_text(exc)],
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=FAIL_RETRY,
            )
            raise

    async def _run(self, request: RunRequest) -> Outcome:
        outcome = await self._phase(PREPARE, request)
        while outcome.waiting:
            if outcome.state == "paused":
                await self._wait_for_decision(outcome)
            else:  # approved, the site was down before anything was sent: try again later
                await workflow.sleep(timedelta(seconds=outcome.retry_in_s or 30))
            outcome = await self._phase(SETTLE, request.run_id)
        return outcome

    async def _phase(self, activity: str, arg: object) -> Outcome:
        self._outcome = await workflow.execute_activity(
            activity,
            arg,
            result_type=Outcome,
            start_to_close_timeout=PHASE_TIMEOUT,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=PHASE_RETRY,
        )
        return self._outcome

    async def _wait_for_decision(self, outcome: Outcome) -> None:
        """Until a signal, the gate's expiry, or RECHECK, whichever is first."""
        timeout = RECHECK
        if outcome.expires_at:
            left = datetime.fromisoformat(outcome.expires_at) - workflow.now()
            timeout = max(min(timeout, left), timedelta(seconds=1))
        seen = self._wakes
        # expiry or recheck: settle reads the store and expires the gate if it is due
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self._wakes > seen, timeout=timeout)


def failure_text(exc: ActivityError) -> str:
    """The activity's own error (its cause) as "ErrorClass: message", else the error's text."""
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type}: {cause.message}" if cause.type else cause.message
    return str(cause or exc)
