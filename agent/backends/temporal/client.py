"""The client side of the temporal backend: what `aijia run` and `aijia approve` call.

    client = await connect(settings)                       # ConfigError when unreachable
    result = await start_run(aijia, "lookup_order", {...}, as_user=who)   # a RunResult
    await signal_decision(settings, run_id, gate_id, approved=True)

`start_run` applies the facade's checks and creates the run in the store (pending, the
initiator recorded with their proof) in this process, then starts the workflow with the run
id as its workflow id (a second start of the same run is refused) and waits for its first
outcome: done, failed, or paused at a gate (the workflow then waits on, durably).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from agent.backends.temporal.messages import (
    APPROVED,
    OUTCOME,
    REJECTED,
    WORKFLOW,
    Outcome,
    RunRequest,
)
from agent.core.errors import AgentError, ConfigError

if TYPE_CHECKING:
    from agent.api.async_api import AsyncAijia
    from agent.api.sync_api import Aijia
    from agent.core.settings import Settings
    from agent.engine.result import GateInfo, RunResult
    from agent.gates.identity import Identity
    from agent.gates.recorder import OnCreated
    from agent.recipes.model import Recipe
    from evidence.store import EvidenceStore

RPC_RETRY_S = 30.0  # a passing service error is tried again this long (a loaded dev server)
POLL_S = 0.3  # how often `start_run` asks the workflow for its first outcome
POLL_MAX_S = 2.0  # … at most this far apart (a batch's queries load the workers)
CONNECT_TIMEOUT_S = 10.0


T = TypeVar("T")
PASSING = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.INTERNAL,
    RPCStatusCode.UNKNOWN,
}


def passing(exc: RPCError) -> bool:
    """A service error worth a second try: the server busy, restarting or briefly unsure of
    its own namespace ("Namespace default is not found" from a dev server under a batch of
    hundreds), as opposed to an answer (no such workflow, a query no worker took)."""
    if exc.status in PASSING:
        return True
    return exc.status == RPCStatusCode.NOT_FOUND and str(exc).startswith("Namespace ")


async def patiently(call: Callable[[], Awaitable[T]], what: str) -> T:
    """`call()`, tried again on a passing service error for up to RPC_RETRY_S; after that a
    ConfigError naming `what`. Other errors are the caller's."""
    loop = asyncio.get_running_loop()
    deadline, delay = loop.time() + RPC_RETRY_S, 0.5
    while True:
        try:
            return await call()
        except RPCError as exc:
            if not passing(exc):
                raise
            if loop.time() + delay > deadline:
                raise ConfigError(
                    f"the Temporal service kept failing {what} for {RPC_RETRY_S:g}s: "
                    f"{str(exc).splitlines()[0] if str(exc) else exc.status.name}",
                    hint="`temporal operator cluster health` and the server's log say why; "
                    "the runs are kept (`aijia runs list`) and their workflows go on",
                ) from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 4.0)


async def connect(settings: Settings) -> Client:
    """A client of the configured Temporal service; ConfigError (exit 2) with a hint when
    nothing answers there."""
    where = settings.runs.temporal
    try:
        return await asyncio.wait_for(
            Client.connect(where.address, namespace=where.namespace), CONNECT_TIMEOUT_S
        )
    except (RuntimeError, RPCError, OSError, TimeoutError) as exc:
        raise ConfigError(
            f"cannot reach the Temporal service at {where.address} "
            f"(namespace {where.namespace}): {str(exc).splitlines()[0] if str(exc) else 'timeout'}",
            hint="start it (`temporal server start-dev`) or fix runs.temporal.address in "
            "config.yaml; `runs.backend: local` runs without Temporal",
        ) from None


def recipe_reference(recipe: str | Path | Recipe) -> str:
    """How a worker finds the recipe: its name, or an absolute path (workers share files)."""
    from agent.recipes.model import Recipe

    if isinstance(recipe, Recipe):
        return recipe.name
    if isinstance(recipe, Path) or "/" in recipe or recipe.endswith((".yaml", ".yml")):
        return str(Path(recipe).resolve())
    return recipe


async def create_run(
    aijia: AsyncAijia,
    recipe: str | Path | Recipe,
    inputs: Mapping[str, Any],
    *,
    as_user: str | Identity,
    site: str | None = None,
    case: str | None = None,
    row: int | None = None,
    on_created: OnCreated | None = None,
) -> RunRequest:
    """The facade's checks (policy, inputs, secrets), then the run in the store: pending,
    with its initiator. Returns what a worker needs to execute it."""
    from agent.browser.login import account_of
    from agent.engine.setup import plan_run
    from agent.gates.identity import as_identity
    from agent.gates.recorder import GateRecorder

    who = as_identity(as_user)
    chosen = aijia.recipe(recipe, site)
    aijia.policy.check_may_run(who.user, chosen.name)
    recorder = GateRecorder(
        aijia.store,
        aijia.settings,
        who.user,
        policy=aijia.policy,
        proof=who.proof,
        on_created=on_created,
    )
    plan = plan_run(chosen, inputs, settings=aijia.settings, store=recorder, site=site, row=row)
    record = recorder.create_run(
        recipe=chosen.name,
        recipe_version=chosen.version,
        site=plan.site_name,
        inputs=plan.inputs,
        account=account_of(aijia.settings.sites[plan.site_name].credentials),
        case_id=case,
    )
    return RunRequest(
        run_id=record.run_id,
        recipe=recipe_reference(recipe),
        inputs=dict(inputs),
        user=who.user,
        site=plan.site_name,
        case=case,
        row=row,
    )


async def start_run(
    aijia: AsyncAijia,
    recipe: str | Path | Recipe,
    inputs: Mapping[str, Any],
    *,
    as_user: str | Identity,
    site: str | None = None,
    case: str | None = None,
    row: int | None = None,
    client: Client | None = None,
    on_created: OnCreated | None = None,
) -> RunResult:
    """Create the run, start its workflow (id = run id) and wait for its first outcome.
    `on_created(run_record)` is called as soon as the run exists (schedules link rows)."""
    client = client or await connect(aijia.settings)  # before the run exists
    request = await create_run(
        aijia, recipe, inputs, as_user=as_user, site=site, case=case, row=row, on_created=on_created
    )

    async def start() -> WorkflowHandle[Any, Outcome]:
        try:
            return await client.start_workflow(
                WORKFLOW,
                request,
                id=request.run_id,
                task_queue=aijia.settings.runs.temporal.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                result_type=Outcome,
            )
        except WorkflowAlreadyStartedError:  # a try whose answer was lost started it
            return client.get_workflow_handle(request.run_id, result_type=Outcome)

    handle = await patiently(start, f"to start run {request.run_id}")
    return await first_result(aijia, handle, client, row=row, inputs=inputs)


async def follow_run(aijia: AsyncAijia, run_id: str, client: Client) -> RunResult | None:
    """The first outcome of a run whose workflow was started earlier (by a fire activity that
    died since); None when it has no workflow (its starter died before starting one)."""
    handle = client.get_workflow_handle(run_id, result_type=Outcome)
    try:
        await patiently(handle.describe, f"to describe run {run_id}")
    except RPCError:
        return None
    run = aijia.store.get_run(run_id)
    return await first_result(aijia, handle, client, row=None, inputs=run.inputs)


async def first_result(
    aijia: AsyncAijia,
    handle: WorkflowHandle[Any, Outcome],
    client: Client,
    *,
    row: int | None,
    inputs: Mapping[str, Any],
) -> RunResult:
    """The run's RunResult once its workflow's prepare phase has ended; a failed one when
    the workflow failed (this row failed, the others go on)."""
    try:
        return result_of(await first_outcome(handle, client), aijia)
    except ConfigError:
        raise  # no worker: the run waits for one, it has not failed
    except AgentError as exc:
        from agent.backends.temporal.failure import close_after_workflow_failure
        from agent.core.states import RunState
        from agent.engine.result import RunResult

        # the workflow records its own failure; one terminated or timed out cannot
        close_after_workflow_failure(aijia.store, handle.id, str(exc))
        run = aijia.store.get_run(handle.id)
        message = f"{exc}\n  hint: {exc.hint}" if exc.hint else str(exc)
        return RunResult(
            recipe=run.recipe,
            site=run.site,
            state=RunState.FAILED,
            run_id=run.run_id,
            row=row,
            inputs=dict(inputs),
            error=message,
            exit_code=1,
        )


def run_rows_sync(
    aijia: Aijia,
    recipe: str | Path | Recipe,
    rows: Sequence[Mapping[str, Any]],
    options: Mapping[str, Any],
    *,
    numbered: bool | None = None,
) -> list[RunResult]:
    """`aijia run` on this backend: a workflow per row, started together, each result once
    its prepare phase has ended (in row order). `options`: as_user, site, case (the rest
    are the local backend's). `numbered`: give rows their 1-based number (default: when
    there is more than one)."""
    impl = aijia._impl  # the sync facade's AsyncAijia, on the loop thread that owns it
    if numbered is None:
        numbered = len(rows) > 1

    async def every_row() -> list[RunResult]:
        client = await connect(impl.settings)
        return list(
            await asyncio.gather(
                *(
                    start_run(
                        impl,
                        recipe,
                        row,
                        as_user=options["as_user"],
                        site=options.get("site"),
                        case=options.get("case"),
                        row=number if numbered else None,
                        client=client,
                    )
                    for number, row in enumerate(rows, start=1)
                )
            )
        )

    return aijia._run(every_row())


async def first_outcome(handle: WorkflowHandle[Any, Outcome], client: Client) -> Outcome:
    """The workflow's first outcome: its result when it has ended, else its `outcome` query
    once the prepare phase has reported. AgentError when the workflow failed; ConfigError
    when a query goes unanswered and no worker polls the task queue (a busy worker, as in a
    batch of hundreds, is asked again, less often: every query is work for it)."""
    wait = POLL_S
    while True:
        described = await patiently(handle.describe, f"to describe run {handle.id}")
        if described.status == WorkflowExecutionStatus.COMPLETED:
            return await patiently(handle.result, f"to answer run {handle.id}'s result")
        if described.status not in (None, WorkflowExecutionStatus.RUNNING):
            raise AgentError(
                f"run {handle.id}: its workflow ended {described.status.name.lower()}"
                f"{await why_it_ended(handle)}",
                hint=f"`temporal workflow show --workflow-id {handle.id}` says why; "
                f"`aijia runs show {handle.id}` shows its evidence",
            )
        try:
            outcome = await handle.query(OUTCOME, result_type=Outcome | None)  # type: ignore[arg-type]
        except RPCError as exc:  # no worker answered the query in time
            if passing(exc) and exc.status != RPCStatusCode.DEADLINE_EXCEEDED:
                await asyncio.sleep(POLL_MAX_S)  # the service, not the workers
                continue
            if await polled(client, described.task_queue):
                await asyncio.sleep(POLL_MAX_S)
                continue
            raise ConfigError(
                f"run {handle.id}: no `aijia worker` answered for its workflow "
                f"({str(exc).splitlines()[0]})",
                hint="start one (`aijia worker`, same runs.temporal settings); the run is "
                "kept and the first worker to poll its task queue executes it",
            ) from None
        if outcome is not None:
            return outcome
        await asyncio.sleep(wait)
        wait = min(wait * 1.5, POLL_MAX_S)


async def polled(client: Client, task_queue: str) -> bool:
    """Does any worker poll `task_queue` for workflow tasks (recently, says the server)?"""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    answer = await patiently(
        lambda: client.workflow_service.describe_task_queue(request),
        f"to describe task queue {task_queue}",
    )
    return bool(answer.pollers)


async def why_it_ended(handle: WorkflowHandle[Any, Outcome]) -> str:
    """ ": <the error>" of a workflow that failed (its activity's own error), else ""."""
    from temporalio.client import WorkflowFailureError
    from temporalio.exceptions import ActivityError

    from agent.backends.temporal.workflow import failure_text

    try:
        await handle.result()
    except WorkflowFailureError as exc:
        cause = exc.cause
        return f": {failure_text(cause) if isinstance(cause, ActivityError) else cause}"
    except Exception:  # terminated, timed out: the status says enough
        return ""
    return ""


def result_of(outcome: Outcome, aijia: AsyncAijia) -> RunResult:
    """The RunResult an outcome carries (the one the local backend would have returned)."""
    from agent.core.states import RunState
    from agent.engine.result import GateInfo, RunResult

    if outcome.result is None:  # a retried attempt found the phase done: the store says
        return stored_result(aijia, outcome)
    data = dict(outcome.result)
    gate = data.pop("gate", None)
    return RunResult(
        **{**data, "state": RunState(data["state"])},
        gate=GateInfo(**gate) if gate else None,
    )


def pending_gate(store: EvidenceStore, run_id: str) -> GateInfo | None:
    """The gate the run waits at, from the store (the step is not kept in the gate's row)."""
    from agent.engine.result import GateInfo

    pending = store.list_gates(run_id=run_id, state="pending")
    if not pending:
        return None
    gate = pending[-1]
    return GateInfo(
        step="",
        step_index=-1,
        action=gate.action,
        summary=gate.summary,
        binds=dict(gate.binds),
        gate_id=gate.gate_id,
        bind_hash=gate.bind_hash,
    )


def stored_result(aijia: AsyncAijia, outcome: Outcome) -> RunResult:
    """Where a run stands in the store, as a RunResult with the exit code the local backend
    gives that state: done 0, failed 1, paused at its gate 3 (the gate included), approved
    and not committed yet 4 (its workflow commits it)."""
    from agent.core.states import RunState
    from agent.engine.commit import RETRY_EXIT
    from agent.engine.result import RunResult

    run = aijia.store.get_run(outcome.run_id)
    base: dict[str, Any] = {
        "recipe": run.recipe,
        "site": run.site,
        "state": run.state,
        "run_id": run.run_id,
        "inputs": dict(run.inputs),
        "outputs": dict(run.outputs),
    }
    if run.state is RunState.DONE:
        return RunResult(**base)
    if run.state is RunState.PAUSED:
        gate = pending_gate(aijia.store, run.run_id)
        return RunResult(**base, exit_code=3, pause_reason="gate", gate=gate)
    if run.state in (RunState.APPROVED, RunState.COMMITTING):
        return RunResult(
            **base,
            exit_code=RETRY_EXIT,
            pause_reason="retry",
            error=f"approved, not committed yet: its workflow commits it; "
            f"`aijia runs show {run.run_id}` shows when it is done",
        )
    return RunResult(**base, exit_code=1, error=run.error or f"the run is {run.state.value}")


async def signal_decision(settings: Settings, run_id: str, gate_id: str, *, approved: bool) -> bool:
    """Wake the run's workflow after a decision was recorded in the store (the workflow
    re-reads it). False when the run has no live workflow (started on the local backend,
    or ended already): the decision stands either way."""
    client = await connect(settings)
    try:
        await client.get_workflow_handle(run_id).signal(APPROVED if approved else REJECTED, gate_id)
    except RPCError:
        return False
    return True
