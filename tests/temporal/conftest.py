"""The temporal backend against real servers: a Temporal dev server per test module, an
`aijia worker` subprocess per test (the way production runs it), the sandbox over HTTP and
real Chromium. `tcli` is `tests.gates.conftest.Cli` over a config with `runs.backend:
temporal`; `cli` is the same test's local-backend config (same store, same sandbox)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.core.aio import run_sync
from tests.gates.conftest import Cli, cli, gates  # noqa: F401 - fixtures
from tests.recipes.conftest import product, store  # noqa: F401 - fixtures
from tests.servers.stack import Worker, start_worker
from tests.servers.temporal import TemporalServer, temporal_fixture

temporal = temporal_fixture(scope="module")

APPROVAL_TTL_HOURS = 0.005  # 18 s: a gate's expiry timer fires within a test


def temporal_config(local: Path, target: Path, server: TemporalServer, task_queue: str) -> Path:
    """`local`'s config with runs on the temporal backend (and short gate expiry)."""
    raw = yaml.safe_load(local.read_text(encoding="utf-8"))
    raw["runs"] = {
        "backend": "temporal",
        "temporal": {"address": server.address, "task_queue": task_queue},
    }
    raw["policy"]["approval_ttl_hours"] = APPROVAL_TTL_HOURS
    target.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return target


class TemporalCli(Cli):
    """`aijia …` on the temporal backend, plus its workers and its workflows."""

    def __init__(self, base: Cli, config: Path, server: TemporalServer, task_queue: str):
        super().__init__(config, base.env, base.tokens)
        self.server, self.task_queue = server, task_queue
        self.workers: list[Worker] = []

    def start_worker(self) -> Worker:
        """`aijia worker --json` in a subprocess (tests/servers/stack.py); returns once it
        polls the task queue."""
        log = self.config.with_name(f"worker-{len(self.workers)}.log")
        worker = start_worker(self.argv(), self.env_of(None), log)
        self.workers.append(worker)
        return worker

    def workflow(self, run_id: str) -> dict[str, Any]:
        """The run's workflow: status and, once it ended, its result (the last Outcome)."""
        from temporalio.client import Client, WorkflowExecutionStatus

        async def look() -> dict[str, Any]:
            client = await Client.connect(self.server.address)
            handle = client.get_workflow_handle(run_id)
            described = await handle.describe()
            found: dict[str, Any] = {"status": described.status, "result": None}
            if described.status == WorkflowExecutionStatus.COMPLETED:
                found["result"] = await handle.result()
            return found

        return run_sync(look)

    def wait_workflow_end(self, run_id: str, timeout_s: float = 120) -> dict[str, Any]:
        from temporalio.client import WorkflowExecutionStatus

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.workflow(run_id)
            if found["status"] != WorkflowExecutionStatus.RUNNING:
                return found
            time.sleep(0.5)
        raise AssertionError(f"the workflow of run {run_id} did not end in {timeout_s} s")


@pytest.fixture
def tcli(cli: Cli, temporal: TemporalServer, tmp_path: Path) -> Iterator[TemporalCli]:  # noqa: F811
    queue = f"aijia-test-{os.getpid()}-{time.monotonic_ns()}"  # no worker of another test
    config = temporal_config(cli.config, tmp_path / "temporal.yaml", temporal, queue)
    found = TemporalCli(cli, config, temporal, queue)
    found.start_worker()
    yield found
    for worker in found.workers:
        worker.stop()
