"""Kill tests of the scale stack: runs on a real Temporal dev server, evidence rows in a real
PostgreSQL, evidence blobs in moto S3 (tests/servers/stack.py), `aijia worker` subprocesses
executing the runs in real Chromium against the sandbox over HTTP. The tests SIGKILL workers,
restart the servers, and count what the sandbox and the store hold afterwards.

`kill` is a `tests.gates.conftest.Cli` (the shipped policy, tokens for lead, reviewer, …)
whose config points at this test's stack; `store` (overriding the recipes' fixture) is the
same PostgreSQL + S3 store, opened in the test process, so `gates.store` reads what the
workers wrote.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.core.aio import run_sync
from agent.core.settings import Settings
from tests.gates.conftest import FLAVOR, Cli, Gates, cli, gates  # noqa: F401 - fixtures
from tests.recipes.conftest import product  # noqa: F401 - fixtures
from tests.servers.stack import (
    ScaleServers,
    ScaleStack,
    Worker,
    scale_servers_fixture,
    start_worker,
)

scale_servers = scale_servers_fixture(scope="module")

WORKER_CONCURRENCY = 2  # phases at once per worker (2 cores: Chromium is the bottleneck)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Workers start Chromium in subprocesses: every test here is in the `browser` tier."""
    for item in items:
        if "scale_kill" in str(item.path):
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def scale(scale_servers: ScaleServers) -> ScaleStack:
    """This test's database, bucket and task queue on the module's servers."""
    return scale_servers.new_stack()


@pytest.fixture
def store(
    product: Settings,  # noqa: F811
    scale: ScaleStack,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    """The stack's store (PostgreSQL + S3), as every worker opens it."""
    from evidence.store import EvidenceStore

    for name, value in scale.env().items():
        monkeypatch.setenv(name, value)
    scale.apply(product)
    with EvidenceStore.open(product) as opened:
        yield opened


class KillCli(Cli):
    """`aijia …` on the stack, its workers, and what Temporal says of its workflows."""

    def __init__(self, base: Cli, config: Path, scale: ScaleStack) -> None:
        super().__init__(config, base.env, base.tokens)
        self.scale = scale
        self.workers: list[Worker] = []

    @property
    def servers(self) -> ScaleServers:
        return self.scale.servers

    def start_worker(self) -> Worker:
        """One more `aijia worker`; returns once it polls the stack's task queue."""
        log = self.config.with_name(f"worker-{len(self.workers)}.log")
        worker = start_worker(self.argv(), self.env_of(None), log, concurrency=WORKER_CONCURRENCY)
        self.workers.append(worker)
        return worker

    def live_workers(self) -> list[Worker]:
        return [w for w in self.workers if w.process.poll() is None]

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()

    def worker_logs(self) -> str:
        """The tail of every worker's stderr, for failure messages."""
        return "\n".join(f"--- {w.log.name}\n{w.log.read_text()[-3000:]}" for w in self.workers)

    def workflows(self, run_ids: list[str]) -> dict[str, dict[str, Any]]:
        """run id -> {status, result}: each run's workflow, as Temporal has it."""
        from temporalio.client import Client, WorkflowExecutionStatus

        async def look() -> dict[str, dict[str, Any]]:
            client = await Client.connect(self.servers.temporal.address)
            found: dict[str, dict[str, Any]] = {}
            for run_id in run_ids:
                handle = client.get_workflow_handle(run_id)
                described = await handle.describe()
                entry: dict[str, Any] = {"status": described.status, "result": None}
                if described.status == WorkflowExecutionStatus.COMPLETED:
                    entry["result"] = await handle.result()
                found[run_id] = entry
            return found

        return run_sync(look)

    def wait_workflows_end(
        self, run_ids: list[str], timeout_s: float = 180
    ) -> dict[str, dict[str, Any]]:
        """Until no workflow of `run_ids` runs; their statuses and results."""
        from temporalio.client import WorkflowExecutionStatus

        deadline = time.monotonic() + timeout_s
        while True:
            found = self.workflows(run_ids)
            running = [
                r for r, f in found.items() if f["status"] == WorkflowExecutionStatus.RUNNING
            ]
            if not running:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(running)} workflow(s) still running after {timeout_s} s "
                    f"(e.g. {running[:3]})\n{self.worker_logs()}"
                )
            time.sleep(1.0)

    def signal_approved(self, decided: list[tuple[str, str]]) -> None:
        """Wake each (run id, gate id)'s workflow as `aijia approve` does, on one client."""
        from temporalio.client import Client

        from agent.backends.temporal.messages import APPROVED

        async def wake() -> None:
            client = await Client.connect(self.servers.temporal.address)
            for run_id, gate_id in decided:
                await client.get_workflow_handle(run_id).signal(APPROVED, gate_id)

        run_sync(wake)


def run_lines(out: str) -> list[dict[str, Any]]:
    """The JSON lines `aijia run --json` printed (one per row)."""
    return [json.loads(line) for line in out.strip().splitlines() if line.startswith("{")]


@pytest.fixture
def kill(cli: Cli, scale: ScaleStack, tmp_path: Path) -> Iterator[KillCli]:  # noqa: F811
    """The test's `aijia` on the stack, with one worker polling; every worker is stopped
    afterwards. Internal notes are gated here (the shipped policy approves them itself)."""
    raw = scale.merge(yaml.safe_load(cli.config.read_text(encoding="utf-8")))
    raw["policy"]["actions"]["internal_note"] = {"auto_approve": False}
    config = tmp_path / "stack.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    env = {**cli.env, **scale.env()}
    found = KillCli(Cli(config, env, cli.tokens), config, scale)
    found.start_worker()
    yield found
    found.stop_workers()


def refund_paused(on: Gates, kill: KillCli) -> tuple[str, str, str]:
    """`lead` prepares a refund of 1.50 on a delivered order: (order id, run id, gate id)."""
    order = on.sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    done = kill(
        "run",
        "prepare_refund",
        "--site",
        FLAVOR,
        "--json",
        "-i",
        f"order_id={order.order_id}",
        "-i",
        "amount=1.50",
        "-i",
        "reason=damaged",
        user="lead",
    )
    assert done.returncode == 3, done.stderr + kill.worker_logs()
    paused = run_lines(done.stdout)[-1]
    return order.order_id, paused["run_id"], paused["gate_id"]
