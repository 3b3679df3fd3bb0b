"""The engine's phases as Temporal activities, run by `aijia worker` on its facade.

    activities = RunActivities(aijia)      # an AsyncAijia: one Chromium, one store
    Worker(..., activities=activities.all())

prepare  the prepare phase of a run the client created (pending, initiator recorded): the
         facade's own steps (policy, plan, `run_recipe`, a gate policy approves by itself);
         evidence goes to the same store. A retried attempt never runs a phase twice: a run
         that is no longer pending is reported as it stands (one left `running` by a worker
         that died is closed as failed: the prepare phase changed nothing).
settle   re-read the store and act on what it says: close an overdue gate, commit an
         approved run (`AsyncAijia.resume`: the commit lease, the compare-and-set and the
         ledger make a retried activity commit at most once), reconcile an in-doubt one.
fail     the workflow is failing: record its error and close the run (failure.py).

Both heartbeat while they work; a config, policy or input error is raised under its own
class name, which the workflow's retry policy lists as not retryable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from temporalio import activity

from agent.backends.temporal.messages import FAIL, PREPARE, SETTLE, Outcome, RunRequest
from agent.core.errors import ConfigError, GateError, InputError
from agent.core.states import RunState
from agent.gates.recorder import GateRecorder, retries_since_approval

if TYPE_CHECKING:
    from agent.api.async_api import AsyncAijia
    from agent.engine.result import RunResult
    from evidence.api import RunRecord
    from evidence.store import EvidenceStore

HEARTBEAT_S = 5.0
RETRIED = "phase_retried"  # event: Temporal retried a phase whose worker stopped


@contextlib.asynccontextmanager
async def heartbeating(every_s: float = HEARTBEAT_S) -> AsyncIterator[None]:
    """Heartbeat while the block runs, so Temporal tells a busy worker from a dead one."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(every_s)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class CreatedRun(GateRecorder):
    """A GateRecorder for a run the client already created: `create_run` hands the engine
    that run (pending, its initiator recorded) instead of creating a second one."""

    def __init__(self, record: RunRecord, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._record = record

    def create_run(self, **fields: Any) -> RunRecord:
        return self._record


WARM_IDLE_S = 300.0  # a worker's warm context idle longer than this is closed, not reused


class RunActivities:
    """The activities of one worker process, sharing its facade and its warm contexts: the
    prepare phase of a read-only recipe borrows a context of the same site and account that
    an earlier run on this worker left (cookies and HTTP cache warm, a fresh page each run,
    its containment kept), as a local batch does; anything gated gets a fresh one.
    `close()` when the worker stops."""

    def __init__(self, aijia: AsyncAijia) -> None:
        from agent.browser.pool import ContextPool

        self.aijia = aijia
        self.pool = ContextPool(max_idle_s=WARM_IDLE_S)

    async def close(self) -> None:
        await self.pool.close()

    def all(self) -> list[Callable[..., Any]]:
        return [self.prepare, self.settle, self.fail]

    @activity.defn(name=PREPARE)
    async def prepare(self, request: RunRequest) -> Outcome:
        store, run_id = self.aijia.store, request.run_id
        async with heartbeating():
            state = store.get_run(run_id).state
            result: RunResult | None = None
            if state in (RunState.PENDING, RunState.RUNNING):
                async with self._prepare_lease(run_id):
                    result = await self._prepare_once(request, state)
            elif state is not RunState.PAUSED:  # an attempt finished it
                return stored_outcome(store, run_id, self.aijia)
            # outside the lease (a commit takes its own): a gate policy approves by itself
            # is committed now, also when an earlier attempt died between gate and commit
            paused = result or self._stored_pause(run_id)
            if paused is not None and paused.state is RunState.PAUSED:
                committed = await self._auto_approve(request, paused)
                result = committed if committed.state is not RunState.PAUSED else result
        if result is None:  # an earlier attempt's outcome: the store says where it stands
            return stored_outcome(store, run_id, self.aijia)
        return outcome_of(store, result, self.aijia)

    async def _prepare_once(self, request: RunRequest, state: RunState) -> RunResult | None:
        """The prepare phase of a pending run, or again of one whose worker died mid-way;
        None when that worker had already recorded the gate (the run is paused there now)."""
        store, run_id = self.aijia.store, request.run_id
        if state is RunState.RUNNING and self._resumed_at_gate(run_id):
            return None
        if state is RunState.RUNNING:  # its worker died: prepare again, from the start
            store.append_event(
                run_id, RETRIED, {"attempt": activity.info().attempt, "phase": "prepare"}
            )
        try:
            return await self._prepare(request, store.get_run(run_id))
        except (InputError, ConfigError) as exc:  # refused before anything ran
            from agent.engine.prepare import close_failed

            close_failed(store, run_id, store.get_run(run_id).state, str(exc))
            raise

    def _stored_pause(self, run_id: str) -> RunResult | None:
        """The run paused at its pending gate, as a RunResult (what auto-approval reads),
        when the store says it is; else None."""
        from agent.backends.temporal.client import pending_gate
        from agent.engine.result import RunResult

        store = self.aijia.store
        run = store.get_run(run_id)
        gate = pending_gate(store, run_id)
        if run.state is not RunState.PAUSED or gate is None:
            return None
        return RunResult(
            recipe=run.recipe, site=run.site, state=RunState.PAUSED, run_id=run_id, gate=gate
        )

    @contextlib.asynccontextmanager
    async def _prepare_lease(self, run_id: str) -> AsyncIterator[None]:
        """The run's lease (agent/engine/lease.py) while its prepare phase runs, so that an
        attempt Temporal retries because it lost sight of a live worker waits for it rather
        than preparing the same run twice. Held: a retryable error (Temporal tries later)."""
        from temporalio.exceptions import ApplicationError

        from agent.engine.lease import hold_commit_lease

        purpose = f"prepare, attempt {activity.info().attempt}"
        lease_s = self.aijia.settings.policy.commit_lease_s
        entered = False  # a GateError from the phase itself is not about the lease
        try:
            async with hold_commit_lease(
                self.aijia.store, run_id, lease_s=lease_s, purpose=purpose
            ):
                entered = True
                yield
        except GateError as exc:
            if entered:
                raise
            raise ApplicationError(
                f"run {run_id}: another worker still holds it ({str(exc).splitlines()[0]})",
                type="RunLeaseHeld",
            ) from None

    def _resumed_at_gate(self, run_id: str) -> bool:
        """An earlier attempt recorded the gate but died before pausing: pause it now, at
        that gate, rather than record a second one."""
        store = self.aijia.store
        if not store.list_gates(run_id=run_id, state="pending"):
            return False
        why = "paused at the gate an earlier attempt recorded (its worker stopped)"
        store.transition(run_id, RunState.RUNNING, RunState.PAUSED, reason=why)
        return True

    async def _prepare(self, request: RunRequest, record: RunRecord) -> RunResult:
        """What `AsyncAijia.run` does after creating the run, on the run the client made."""
        from agent.engine.prepare import run_recipe
        from agent.engine.setup import plan_run

        aijia = self.aijia
        chosen = aijia.recipe(request.recipe, request.site)
        aijia.policy.check_may_run(request.user, chosen.name)
        recorder = CreatedRun(
            record, aijia.store, aijia.settings, request.user, policy=aijia.policy
        )
        plan = plan_run(
            chosen,
            request.inputs,
            settings=aijia.settings,
            store=recorder,
            site=request.site,
            row=request.row,
        )
        browser = await aijia._chromium()
        return await run_recipe(
            chosen,
            request.inputs,
            plan=plan,
            settings=aijia.settings,
            store=recorder,
            browser=browser,
            site=request.site,
            case_id=request.case,
            row=request.row,
            sessions=aijia._sessions,
            pool=self.pool,
        )

    async def _auto_approve(self, request: RunRequest, result: RunResult) -> RunResult:
        """A gate policy approves by itself is committed at once, as the local backend does."""
        from agent.engine.lifecycle import auto_approve

        aijia = self.aijia
        chosen = aijia.recipe(request.recipe, request.site)
        recorder = GateRecorder(aijia.store, aijia.settings, request.user, policy=aijia.policy)
        return await auto_approve(result, chosen, recorder, browser=await aijia._chromium())

    @activity.defn(name=SETTLE)
    async def settle(self, run_id: str) -> Outcome:
        from agent.engine.lifecycle import expire_overdue_gates

        aijia, store = self.aijia, self.aijia.store
        user = aijia.settings.worker.user
        async with heartbeating():
            expire_overdue_gates(store, aijia.settings, aijia.policy)
            state = store.get_run(run_id).state
            try:
                if state is RunState.APPROVED:
                    return outcome_of(store, await aijia.resume(run_id, as_user=user), aijia)
                if state in (RunState.IN_DOUBT, RunState.COMMITTING):  # refused while leased
                    await aijia.reconcile(run_id, as_user=user)
            except GateError as exc:  # another resumer acted, it expired, or cannot tell
                outcome = stored_outcome(store, run_id, aijia)
                outcome.notes.append(str(exc).splitlines()[0])
                return outcome
        return stored_outcome(store, run_id, aijia)

    @activity.defn(name=FAIL)
    async def fail(self, run_id: str, error: str) -> str:
        """The run's workflow is failing with `error`: close the run (failure.py); its state
        afterwards."""
        from agent.backends.temporal.failure import close_after_workflow_failure

        return close_after_workflow_failure(self.aijia.store, run_id, error).value


def plain(value: Any) -> Any:
    """`value` as JSON data (Decimal, dates and the like as strings)."""
    return json.loads(json.dumps(value, default=str))


def outcome_of(store: EvidenceStore, result: RunResult, aijia: AsyncAijia) -> Outcome:
    """The Outcome of a phase that ran: its RunResult, and what the run waits for next."""
    assert result.run_id is not None  # a run the client created always has its id
    outcome = stored_outcome(store, result.run_id, aijia)
    outcome.result = plain(asdict(result))
    return outcome


def stored_outcome(store: EvidenceStore, run_id: str, aijia: AsyncAijia) -> Outcome:
    """Where the run stands in the store: its state, the pending gate it waits at (and when
    that expires), or when an approved run whose site was down is due again."""
    record = store.get_run(run_id)
    outcome = Outcome(run_id=run_id, state=record.state.value)
    if record.state is RunState.PAUSED:
        pending = store.list_gates(run_id=run_id, state="pending")
        if pending:
            outcome.gate_id, outcome.expires_at = pending[-1].gate_id, pending[-1].expires_at
    elif record.state is RunState.APPROVED:
        outcome.retry_in_s = retry_in_s(store, run_id, aijia)
    elif record.state is RunState.COMMITTING:  # a live committer elsewhere: look again later
        outcome.state = RunState.APPROVED.value
        outcome.retry_in_s = aijia.settings.policy.commit_lease_s
    return outcome


def retry_in_s(store: EvidenceStore, run_id: str, aijia: AsyncAijia) -> float:
    """Seconds until the next commit attempt of an approved run (`commit_retry` events)."""
    from agent.gates.decide import parse_time

    retries = retries_since_approval(store, run_id)
    if not retries:
        return 1.0
    try:
        due = parse_time(str(retries[-1].get("next_at")))
    except ValueError:
        return 1.0
    return max(1.0, (due - datetime.now(UTC)).total_seconds())
