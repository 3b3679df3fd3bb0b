"""`aijia worker`: a Temporal worker that executes runs (the workflow and its activities).

    await serve_worker(aijia, stop, ready=print)   # until `stop` is set

One worker process holds one facade (one Chromium, one store) and runs up to `concurrency`
activities at once; more workers on the same task queue share the load. Workflows are cheap
(they only wait): every worker also runs them, the fires of Temporal schedules included
(agent/backends/temporal/schedules.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from agent.backends.temporal.activities import RunActivities
from agent.backends.temporal.client import connect
from agent.backends.temporal.fire_workflow import FireWorkflow
from agent.backends.temporal.fires import FireActivities
from agent.backends.temporal.workflow import RunWorkflow

if TYPE_CHECKING:
    from agent.api.async_api import AsyncAijia


def sandbox_runner() -> SandboxedWorkflowRunner:
    """Temporal's workflow sandbox, with our own modules passed through: the workflow imports
    only plain dataclasses of ours, and re-importing `agent` in every sandbox costs time."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules("agent")
    return SandboxedWorkflowRunner(restrictions=restrictions)


async def serve_worker(
    aijia: AsyncAijia,
    stop: asyncio.Event,
    *,
    concurrency: int = 4,
    ready: Callable[[str, str], None] | None = None,
) -> None:
    """Poll the configured task queue until `stop` is set; `ready(address, task_queue)` once
    polling. ConfigError when the Temporal service cannot be reached."""
    settings = aijia.settings.runs.temporal
    client = await connect(aijia.settings)
    runs = RunActivities(aijia)
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[RunWorkflow, FireWorkflow],
        activities=runs.all() + FireActivities(aijia).all(),
        max_concurrent_activities=concurrency,
        workflow_runner=sandbox_runner(),
        graceful_shutdown_timeout=timedelta(seconds=5),  # a running phase may finish
    )
    try:
        async with worker:
            if ready is not None:
                ready(settings.address, settings.task_queue)
            await stop.wait()
    finally:
        await runs.close()  # the warm contexts, before the facade closes the browser
