"""The review console in-process: `aijia serve`'s ConsoleServer (console + commit worker) on
the session's loop, over this test's store, the sandbox and the session's Chromium;
pytest-playwright's `page` (its own browser) browses it as a reviewer would.

    def test_x(console, page):
        prepared = console.gates.refund()                  # lead prepares, paused at a gate
        console.sign_in(page, "reviewer")
        page.goto(console.url + f"/gates/{prepared.gate_id}")

Accounts (password PASSWORD): admin, lead (runs, never approves), reviewer, supervisor,
manager (policy.users of the shipped config.yaml). `worker.enabled` is on: approving only
records the decision and the worker commits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.core.settings import Settings
from agent.serve.server import ConsoleServer
from tests.gates.conftest import PASSWORD, TEAM, Gates, make_accounts
from tests.recipes.conftest import product, store  # noqa: F401 - fixtures


class LoopStore:
    """The test's view of the evidence store while the console runs: every call runs on the
    loop thread, between the worker's and the console's own store calls (one SQLite
    connection is never used by two threads at once)."""

    def __init__(self, evidence: Any, run: Any) -> None:
        self._store, self._run = evidence, run

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def on_loop(*args: Any, **kwargs: Any) -> Any:
            async def call() -> Any:
                return attr(*args, **kwargs)

            return self._run(call())

        return on_loop


@dataclass
class Console:
    url: str
    gates: Gates  # the facade over the same store: prepare refunds, read gates and runs
    server: ConsoleServer
    tokens: dict[str, str]  # name -> a personal token (for CLI/API checks)

    def sign_in(self, page: Any, user: str, password: str = PASSWORD) -> None:
        """Sign in through the form, as a person would (label "Name", "Password")."""
        page.goto(self.url + "/signin")
        page.get_by_label("Name").fill(user)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()


def start_console(
    run: Any, chromium: Any, settings: Settings, evidence: Any, sandbox: Any, tmp_path: Path
) -> Console:
    """A ConsoleServer with the worker on over `settings` (what it reads when built, e.g.
    console.oidc, must be set before); stop it with `run(console.server.stop())`."""
    settings.worker.enabled = True
    settings.worker.poll_s = 0.5
    tokens = make_accounts(evidence, settings, TEAM)
    gates = Gates(run, chromium, settings, evidence, sandbox)
    gates.store = LoopStore(evidence, run)  # reads from the test thread, run on the loop

    async def start() -> ConsoleServer:
        server = ConsoleServer(gates.aijia, port=0, key_file=tmp_path / "console.key")
        await server.start()
        return server

    server = run(start())
    return Console(server.url, gates, server, tokens)


@pytest.fixture
def console(
    run: Any,
    chromium: Any,
    product: Settings,  # noqa: F811
    store: Any,  # noqa: F811
    sandbox: Any,
    tmp_path: Path,
) -> Iterator[Console]:
    started = start_console(run, chromium, product, store, sandbox, tmp_path)
    yield started
    run(started.server.stop())
