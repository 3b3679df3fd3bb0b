"""Approve click in the review console -> the refund in the seller center's ledger, with
`aijia serve` (console + commit worker) running.

    python -m bench.approve_to_refund --rounds 10            # over HTTP, as a reviewer
    python -m bench.approve_to_refund --via facade           # approve in-process + kick

One process: the ShopLane sandbox, and `agent.serve.server.ConsoleServer` over a fresh store
on one event loop with the facade, its Chromium and the commit worker (what `aijia serve`
runs). Not timed: accounts (admin, lead, reviewer), N refunds prepared up to their gates as
`lead`, the reviewer's sign-in (GET /signin for the form's csrf, POST name/password/csrf),
and the gate page (GET /gates/{id} for its csrf). Timed, per refund: from sending
POST /gates/{id}/approve (csrf, confirm = the order id) until the sandbox's ledger lists a
refund carrying the run's reference (`aijia <run id>`), polled every 50 ms; also until the
run is `done` in the store, and the POST's own answer. Goal: median <= 2 s.

What happens inside the timed span: the approval transaction (policy, verify the run's
evidence, the signed approval), the 303 answer; the worker, kicked by the approval, takes
the commit lease, verifies the run's evidence again, opens a fresh context with the saved
session, repeats the prepare phase, re-checks the binds, and releases the held commit request.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from agent import AsyncAijia, RunState, Settings, load_config
from agent.browser.launch import launch
from agent.core.settings import PROJECT_ROOT
from agent.gates.recorder import OWNER

GOAL_S = 2.0
PASSWORD = "bench horse battery staple"
FLAVOR = "shoplane"
POLL_S = 0.05  # the ledger is asked this often (each ask costs the sandbox a little CPU)
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Figures:
    rounds: int
    via: str
    to_refund_s: list[float] = field(default_factory=list)  # approve sent -> ledger shows it
    to_done_s: list[float] = field(default_factory=list)  # approve sent -> run done
    answer_s: list[float] = field(default_factory=list)  # the approve POST's own answer
    # from the run's evidence timestamps: where the time goes after the approval is recorded
    spans: dict[str, list[float]] = field(default_factory=dict)

    @staticmethod
    def p90(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]

    def lines(self) -> list[str]:
        median = statistics.median(self.to_refund_s)
        ok = "meets" if median <= GOAL_S else "misses"
        return [
            f"approve ({self.via}) -> refund in the ledger, {self.rounds} refunds, `aijia serve` "
            f"in-process: median {median:.2f} s, p90 {self.p90(self.to_refund_s):.2f} s, "
            f"max {max(self.to_refund_s):.2f} s, min {min(self.to_refund_s):.2f} s "
            f"({ok} the {GOAL_S:.0f} s goal)",
            f"  -> run done in the store: median {statistics.median(self.to_done_s):.2f} s; "
            f"the approve POST answered in: median "
            f"{statistics.median(self.answer_s) * 1000:.0f} ms",
            "  from the evidence (medians): "
            + ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in self.spans.items()),
        ]

    def add_spans(self, store: Any, run_id: str) -> None:
        """approved -> the worker took the run (kick, pass, lease, evidence verified) ->
        its commit request released (fresh context, prepare phase again, binds re-checked)
        -> the run done (the confirmation page read, outputs, done + gate used)."""
        marks: dict[str, datetime] = {}
        for event in store.events(run_id):
            at = datetime.fromisoformat(event.at.replace("Z", "+00:00"))
            if event.kind == "approved":
                marks["approved"] = at
            elif event.kind == OWNER:
                marks["taken"] = at
            elif event.kind == "state_changed":
                to = event.data.get("to_state")
                if to in ("committing", "done"):
                    marks[str(to)] = at
        steps = [("approved", "taken"), ("taken", "committing"), ("committing", "done")]
        for start, end in steps:
            if start in marks and end in marks:
                span = (marks[end] - marks[start]).total_seconds()
                self.spans.setdefault(f"{start}->{end}", []).append(span)


def _settings(workdir: Path, base_url: str) -> Settings:
    settings = load_config(PROJECT_ROOT / "config.yaml")
    settings.data_dir = workdir / "var"
    settings.sites[FLAVOR].base_url = base_url
    settings.worker.enabled = True
    return settings


def _accounts(store: Any, settings: Settings) -> None:
    from agent.gates.accounts import add_user
    from agent.gates.identity import as_identity

    add_user(store, settings, "admin", roles=["admin"], password=PASSWORD, actor=None)
    for name in ("lead", "reviewer"):
        roles = settings.policy.users[name]
        add_user(store, settings, name, roles=roles, password=PASSWORD, actor=as_identity("admin"))


def _csrf(page: httpx.Response) -> str:
    page.raise_for_status()
    found = _CSRF.search(page.text)
    if found is None:
        raise RuntimeError(f"no csrf field on {page.url}")
    return found.group(1)


async def _sign_in(client: httpx.AsyncClient, name: str) -> None:
    csrf = _csrf(await client.get("/signin"))
    answer = await client.post(
        "/signin", data={"name": name, "password": PASSWORD, "csrf": csrf, "next": "/"}
    )
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in as {name} answered {answer.status_code}: {answer.text[:300]}")


async def _refund_shown(sandbox: Any, run_id: str) -> bool:
    ledger = await asyncio.to_thread(sandbox.ledger, FLAVOR)
    return any(r.get("reference") == f"aijia {run_id}" for r in ledger["refunds"])


async def measure(rounds: int = 10, via: str = "http") -> Figures:
    """Start the sandbox and `aijia serve` in-process, prepare `rounds` refunds, approve each
    (`via` "http": the console's approve form as a signed-in reviewer; "facade": the facade
    and a kick, as the console does) and time it until the ledger shows the refund."""
    from playwright.async_api import async_playwright

    from agent.serve.server import ConsoleServer
    from evidence.store import EvidenceStore
    from sandbox.testing import SandboxServer

    figures = Figures(rounds, via)
    with tempfile.TemporaryDirectory(prefix="aijia-bench-") as tmp:
        workdir = Path(tmp)
        with SandboxServer(workdir / "sandbox", flavors=FLAVOR) as sandbox:
            os.environ.update(sandbox.env())
            settings = _settings(workdir, sandbox.url(FLAVOR).rstrip("/"))
            orders = sandbox.find_orders(FLAVOR, "delivered", limit=rounds)
            async with async_playwright() as pw:
                browser = await launch(pw, settings.browser)
                with EvidenceStore.open(settings) as store:
                    _accounts(store, settings)
                    aijia = AsyncAijia(settings, store=store, browser=browser)
                    recipe = aijia.recipe("prepare_refund", FLAVOR)
                    gates = []
                    for order in orders:
                        inputs = {"order_id": order.order_id, "amount": "1.00", "reason": "other"}
                        paused = await aijia.run(recipe, inputs, as_user="lead")
                        assert paused.gate is not None and paused.gate.gate_id, paused.error
                        gates.append((paused.gate.gate_id, str(paused.run_id), order.order_id))
                    server = ConsoleServer(aijia, port=0, key_file=workdir / "console.key")
                    url = await server.start()
                    try:
                        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                            await _sign_in(client, "reviewer")
                            for gate_id, run_id, order_id in gates:
                                await _one(
                                    figures,
                                    aijia,
                                    server,
                                    client,
                                    sandbox,
                                    gate_id,
                                    run_id,
                                    order_id,
                                )
                    finally:
                        await server.stop()
                    await aijia.close()
                await browser.close()
            refunds = sandbox.ledger(FLAVOR)["refunds"]
            assert len(refunds) == rounds, f"{len(refunds)} refunds for {rounds} approvals"
    return figures


async def _one(
    figures: Figures,
    aijia: AsyncAijia,
    server: Any,
    client: httpx.AsyncClient,
    sandbox: Any,
    gate_id: str,
    run_id: str,
    order_id: str,
) -> None:
    csrf = _csrf(await client.get(f"/gates/{gate_id}")) if figures.via == "http" else ""
    started = time.perf_counter()
    if figures.via == "http":
        answer = await client.post(
            f"/gates/{gate_id}/approve", data={"csrf": csrf, "confirm": order_id}
        )
        if answer.status_code != 303:
            raise RuntimeError(f"approve answered {answer.status_code}: {answer.text[:500]}")
    else:
        await aijia.approve(gate_id, as_user="reviewer")
        server.worker.kick()
    figures.answer_s.append(time.perf_counter() - started)
    while not await _refund_shown(sandbox, run_id):
        if time.perf_counter() - started > 60:
            raise RuntimeError(f"no refund for run {run_id} after 60 s")
        await asyncio.sleep(POLL_S)
    figures.to_refund_s.append(time.perf_counter() - started)
    while aijia.store.get_run(run_id).state is not RunState.DONE:  # after the confirmation page
        if time.perf_counter() - started > 60:
            raise RuntimeError(f"run {run_id} not done after 60 s")
        await asyncio.sleep(POLL_S)
    figures.to_done_s.append(time.perf_counter() - started)
    figures.add_spans(aijia.store, run_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="Refunds to approve.")
    parser.add_argument(
        "--via",
        choices=["http", "facade"],
        default="http",
        help="http: the console's approve form; facade: approve in-process and kick the worker.",
    )
    args = parser.parse_args()
    figures = asyncio.run(measure(args.rounds, args.via))
    print("\n".join(figures.lines()))


if __name__ == "__main__":
    main()
