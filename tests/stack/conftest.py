"""The same end-to-end tests on both stacks. `stack` is parametrized:

local  the embedded default: runs in the `aijia` process that starts them, SQLite + files.
scale  runs as Temporal workflows executed by an `aijia worker` subprocess, evidence rows in
       PostgreSQL, blobs in S3 (moto): tests/servers/stack.py, servers started once per
       module, a fresh database, bucket and task queue per test.

A test drives the real CLI through `stack.cli(...)` (tests.gates.conftest.Cli), so its body
is the same on both; only the config differs. `stack.store` is the evidence store of that
config (opened in the test process: the same rows the subprocesses write), `stack.gates` the
facade and the sandbox helpers over it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.core.settings import PROJECT_ROOT, Settings, load_config
from agent.core.states import RunState
from tests.gates.conftest import Cli, Gates, cli, gates  # noqa: F401 - fixtures
from tests.recipes.conftest import RECIPES, store  # noqa: F401 - fixtures
from tests.servers.stack import ScaleStack, Worker, scale_servers_fixture, start_worker

scale_servers = scale_servers_fixture(scope="module")

# Run states a run rests in until someone (or something) acts.
AT_REST = {RunState.DONE, RunState.FAILED, RunState.REJECTED, RunState.EXPIRED}


@pytest.fixture(params=["local", "scale"])
def stack_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def scale(stack_kind: str, request: pytest.FixtureRequest) -> ScaleStack | None:
    """This test's database, bucket and task queue on the module's servers (scale only)."""
    if stack_kind == "local":
        return None
    return request.getfixturevalue("scale_servers").new_stack()  # type: ignore[no-any-return]


@pytest.fixture
def product(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scale: ScaleStack | None
) -> Settings:
    """tests.recipes.conftest's `product` (shipped config, sites on the sandbox), pointed at
    the scale stack when the test runs on it: `store` and `cli` are then on that stack."""
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AIJIA_RECIPES", str(RECIPES))
    settings = load_config(PROJECT_ROOT / "config.yaml")
    settings.data_dir = tmp_path / "var"
    settings.browser.default_timeout_ms = 6_000
    settings.browser.navigation_timeout_ms = 10_000
    for name, url in sandbox.base_urls.items():
        settings.sites[name].base_url = url.rstrip("/")
    if scale is not None:
        for name, value in scale.env().items():
            monkeypatch.setenv(name, value)
        scale.apply(settings)
    return settings


@dataclass
class Stack:
    """One stack for one test: its CLI, store, facade, and (scale) workers."""

    kind: str  # local | scale
    cli: Cli
    gates: Gates
    scale: ScaleStack | None
    workers: list[Worker] = field(default_factory=list)

    @property
    def store(self) -> Any:
        return self.gates.store

    def start_worker(self, env: dict[str, str] | None = None) -> Worker:
        """Another `aijia worker` on this stack's task queue (scale only); `env`: its whole
        environment (default: the CLI's)."""
        log = self.cli.config.with_name(f"worker-{len(self.workers)}.log")
        worker = start_worker(self.cli.argv(), env or self.cli.env_of(None), log)
        self.workers.append(worker)
        return worker

    def workflow_status(self, run_id: str) -> str:
        """The status of the run's workflow (scale only): RUNNING, COMPLETED, FAILED …
        Asked from a thread of its own: pytest-playwright may own this thread's loop."""
        from concurrent.futures import ThreadPoolExecutor

        from temporalio.client import Client

        assert self.scale is not None, "runs on the local stack have no workflow"
        address = self.scale.servers.temporal.address

        async def look() -> str:
            client = await Client.connect(address)
            described = await client.get_workflow_handle(run_id).describe()
            return described.status.name if described.status else "UNKNOWN"

        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, look()).result(timeout=60)

    def settled(self, run_id: str, timeout_s: float = 120) -> RunState:
        """The run's state once it rests (done, failed, rejected, expired) or is in doubt.
        On local the command that acted has settled it already; on scale the workflow does,
        a moment later."""
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.store.get_run(run_id).state
            if state in AT_REST or state is RunState.IN_DOUBT:
                return state  # type: ignore[no-any-return]
            if time.monotonic() > deadline:
                logs = "\n".join(w.log.read_text()[-2000:] for w in self.workers)
                raise AssertionError(
                    f"run {run_id} still {state.value} after {timeout_s} s\n{logs}"
                )
            time.sleep(0.3)


@pytest.fixture
def stack(
    stack_kind: str,
    scale: ScaleStack | None,
    cli: Cli,  # noqa: F811
    gates: Gates,  # noqa: F811
) -> Iterator[Stack]:
    if scale is None:
        yield Stack(stack_kind, cli, gates, None)
        return
    raw = scale.merge(yaml.safe_load(cli.config.read_text(encoding="utf-8")))
    config = cli.config.with_name("scale.yaml")
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    found = Stack(stack_kind, Cli(config, {**cli.env, **scale.env()}, cli.tokens), gates, scale)
    found.start_worker()
    try:
        yield found
    finally:
        for worker in found.workers:
            worker.stop()
