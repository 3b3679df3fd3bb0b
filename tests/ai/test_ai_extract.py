"""`ai_extract` end to end: real Chromium on the sandbox's ShopLane, the real langchain-openai
client over HTTP to the scripted OpenAI-compatible server (tests/ai/llm_server.py).

What is proven here: values read by the model are checked and converted like `extract`'s;
the request carries the page text inside the data block and the schema as structured output;
a budget refuses a call before it is made; a malformed answer, a slow endpoint and a failing
one fail the step clearly (the raw answer kept); a 500 is retried; a canary secret on the page
never reaches the server in any spelling the masker knows; the `llm_call` event is in the
hash chain and `aijia evidence verify` stays ok; with no `llm:` block `aijia run` exits 2.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml

from agent.core.settings import (
    PROJECT_ROOT,
    BrowserSettings,
    EvidenceSettings,
    Settings,
    SiteSettings,
)
from agent.core.spellings import SecretSpellings
from agent.core.states import RunState
from agent.recipes.model import load_recipe
from tests.ai.llm_server import Fault, Json, Malformed, ScriptedLLM, Slow, llm_settings
from tests.ai.runner import FacadeRuns, sandbox_env
from tests.conftest import aijia_command

pytest.importorskip("langchain_openai", reason="the ai extra is not installed")

RUNNER = "tester"
CANARY = "c4nary-Zq7x9W2pL"  # a site secret that a hostile page echoes

RECIPE = """\
name: ai_read_order
site: shoplane
description: Read an order's status and total with the LLM.
inputs:
  order_id: {type: string, pattern: "^[0-9A-Z]{14}$"}
session: login
steps:
  - goto: /portal/sale/order?search={{ inputs.order_id }}
  - click: {role: link, name: "{{ inputs.order_id }}", exact: true}
  - ai_extract:
      from: {role: main}
      schema:
        status: {description: the order status}
        total: {as: money, description: the order total}
        delivered_on: {as: date, optional: true, description: the delivery date}
      instructions: "Read order {{ inputs.order_id }}."
outputs:
  status: "{{ status }}"
  total: "{{ total.amount }}"
  currency: "{{ total.currency }}"
  delivered_on: "{{ delivered_on }}"
"""


def recipes_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "recipes" / "shoplane"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "recipes" / "shoplane" / "login.yaml", folder / "login.yaml")
    (folder / "ai_read_order.yaml").write_text(RECIPE, encoding="utf-8")
    return folder.parent


def make_settings(sandbox: Any, tmp_path: Path, llm: dict[str, Any] | None) -> Settings:
    return Settings.model_validate(
        {
            "data_dir": tmp_path / "var",
            "recipes_dir": recipes_dir(tmp_path),
            "browser": BrowserSettings(default_timeout_ms=5_000, navigation_timeout_ms=10_000),
            "evidence": EvidenceSettings(capture="on_failure"),
            "sites": {
                "shoplane": SiteSettings(
                    base_url=sandbox.url("shoplane"),
                    flavor="shoplane",
                    credentials={
                        "username": sandbox.credentials("shoplane").username,
                        "password": {"$env": "SHOPLANE_PASSWORD"},
                        "canary": {"$env": "AIJIA_TEST_CANARY"},
                    },
                )
            },
            "llm": llm,
        }
    )


class AiRun(FacadeRuns):
    """Runs ai_read_order with an `llm:` block pointing at the scripted server."""

    def __call__(self, order_id: str, llm: dict[str, Any] | None) -> tuple[Any, Any]:
        facade, store = self.open(make_settings(self.sandbox, self.tmp_path, llm))
        recipe = load_recipe(self.tmp_path / "recipes" / "shoplane" / "ai_read_order.yaml")
        result = self.run(facade.run(recipe, {"order_id": order_id}, as_user=RUNNER))
        return result, store


@pytest.fixture
def ai_run(
    run: Any, chromium: Any, sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AiRun]:
    sandbox_env(sandbox, monkeypatch)
    monkeypatch.setenv("AIJIA_TEST_CANARY", CANARY)
    runner = AiRun(run, chromium, sandbox, tmp_path)
    yield runner
    runner.close()


def llm_events(store: Any, run_id: str) -> list[dict[str, Any]]:
    return [e.data for e in store.events(run_id) if e.kind == "llm_call"]


def data_block(body: dict[str, Any]) -> str:
    """The fenced data of the request's user message (the boundary is named in the rules)."""
    system, user = body["messages"][0]["content"], body["messages"][1]["content"]
    boundary = system.split("<<<DATA ", 1)[1].split('"', 1)[0]
    return user.split(f"<<<DATA {boundary}\n", 1)[1].split(f"\nDATA {boundary}>>>", 1)[0]


def test_reads_values_from_the_order_page(ai_run: AiRun, sandbox: Any, llm_server: ScriptedLLM):
    order = sandbox.find_orders("shoplane", "delivered", limit=1)[0]
    llm_server.script(
        Json({"status": "Completed", "total": f"{order.total} USD", "delivered_on": None})
    )
    price = {"input_per_1k": 0.5, "output_per_1k": 1.0}
    result, store = ai_run(order.order_id, llm_settings(llm_server, price=price))

    assert result.state is RunState.DONE, result.error
    assert result.outputs["status"] == "Completed"
    assert result.outputs["total"] == float(order.total)  # coerced like `extract`'s money
    assert result.outputs["currency"] == "USD"
    assert result.outputs["delivered_on"] is None
    # what the server got: the page's text inside the data block, the schema as structured output
    (body,) = llm_server.requests
    data = data_block(body)
    assert order.order_id in data and "Order total" in data and "Internal notes" in data
    task = body["messages"][1]["content"].split("<<<DATA", 1)[0]
    assert f"Read order {order.order_id}." in task and "Order total" not in task
    schema = body["response_format"]["json_schema"]["schema"]
    assert set(schema["properties"]) == {"status", "total", "delivered_on"}
    assert body["model"] == "scripted-1" and body["temperature"] == 0
    # the evidence: one llm_call with the prompt, the answer, tokens and cost; chain verifies
    (event,) = llm_events(store, result.run_id)
    assert event["outcome"] == "ok" and event["model"] == "scripted-1"
    assert event["messages"] == body["messages"]
    assert json.loads(event["response"])["status"] == "Completed"
    assert event["tokens_in"] > 100 and event["tokens_out"] > 0
    expected = (event["tokens_in"] * 0.5 + event["tokens_out"] * 1.0) / 1000
    assert float(event["cost"]) == pytest.approx(expected)
    reviewed = [e.data for e in store.events(result.run_id) if e.kind == "page_reviewed"]
    assert (
        reviewed[-1]["label"] == "ai_extract" and reviewed[-1]["extracted"]["status"] == "Completed"
    )
    assert store.verify([result.run_id]).ok
    done = subprocess.run(
        [aijia_command(), "evidence", "verify", result.run_id, "-c", str(cli_config(ai_run))],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_canary_secret_on_the_page_never_reaches_the_server(
    ai_run: AiRun, sandbox: Any, llm_server: ScriptedLLM
):
    order = sandbox.find_orders("shoplane", "delivered", limit=1)[0]
    b64 = base64.b64encode(CANARY.encode()).decode()
    sandbox.mutate_order(
        "shoplane", order.order_id, note=f"key {CANARY} / {quote(CANARY)} / {b64} / {CANARY[::-1]}"
    )
    llm_server.script(Json({"status": "Completed", "total": "1.00 USD", "delivered_on": None}))
    result, store = ai_run(order.order_id, llm_settings(llm_server))

    assert result.state is RunState.DONE, result.error
    (body,) = llm_server.requests
    assert CANARY[::-1] in data_block(body)  # the note did reach the prompt …
    spellings = SecretSpellings()
    spellings.add(CANARY)
    sent = json.dumps(llm_server.requests) + json.dumps(llm_server.headers)
    assert spellings.found_in(sent) == []  # … but not the secret, in any spelling
    assert spellings.found_in(json.dumps(body, ensure_ascii=False)) == []
    assert "******" in data_block(body)
    assert spellings.found_in(json.dumps(llm_events(store, result.run_id))) == []


def test_budget_exhaustion_refuses_the_call(ai_run: AiRun, sandbox: Any, llm_server: ScriptedLLM):
    order = sandbox.find_orders("shoplane", "delivered", limit=1)[0]
    llm = llm_settings(llm_server, budget={"tokens_per_run": 200})
    result, store = ai_run(order.order_id, llm)

    assert result.state is RunState.FAILED
    assert "LLM budget is exhausted" in (result.error or "")
    assert "llm.budget.tokens_per_run 200" in (result.error or "")
    assert llm_server.requests == []  # refused before anything was sent
    (event,) = llm_events(store, result.run_id)
    assert event["outcome"] == "refused" and event["response"] is None
    assert store.verify([result.run_id]).ok


def test_cost_budget_checked_after_the_call(ai_run: AiRun, sandbox: Any, llm_server: ScriptedLLM):
    """The prompt alone fits, the answer pushes the run over: the step fails, nothing is set."""
    order = sandbox.find_orders("shoplane", "delivered", limit=1)[0]
    llm_server.script(Json({"status": "x" * 4000, "total": "1.00 USD", "delivered_on": None}))
    llm = llm_settings(
        llm_server,
        budget={"cost_per_run": 1.0},
        price={"input_per_1k": 0.001, "output_per_1k": 1.0},
    )
    result, store = ai_run(order.order_id, llm)

    assert result.state is RunState.FAILED
    assert "llm.budget.cost_per_run 1" in (result.error or "")
    (event,) = llm_events(store, result.run_id)
    assert event["outcome"] == "over_budget" and "xxxx" in event["response"]


def test_a_malformed_answer_fails_clearly_and_is_kept(
    ai_run: AiRun, sandbox: Any, llm_server: ScriptedLLM
):
    order = sandbox.find_orders("shoplane", "delivered", limit=1)[0]
    llm_server.script(Malformed('{"status": "Completed", "total": '))
    result, store = ai_run(order.order_id, llm_settings(llm_server))

    assert result.state is RunState.FAILED
    error = result.error or ""
    assert "the model's answer for ai_extract (step 3) is unusable: not JSON" in error
    assert "ai_read_order.yaml:" in error  # where: the recipe file and the step
    (event,) = llm_events(store, result.run_id)
    assert event["outcome"] == "malformed"
    assert event["response"] == '{"status": "Completed", "total": '  # the raw answer, kept
    assert store.verify([result.run_id]).ok


def test_a_missing_required_value_fails_by_name(
    ai_run: AiRun, sandbox: Any, llm_server: ScriptedLLM
):
    order = sandbox.find_orders("shoplane", "delivered", limit=1)[0]
    llm_server.script(Json({"status": None, "total": "1.00 USD", "delivered_on": None}))
    result, _store = ai_run(order.order_id, llm_settings(llm_server))
    assert result.state is RunState.FAILED
    assert "the model found no value for `status`" in (result.error or "")


def test_a_slow_endpoint_times_out_naming_it(ai_run: AiRun, sandbox: Any, llm_server: ScriptedLLM):
    order = sandbox.find_orders("shoplane", "delivered", limit=1)[0]
    llm_server.script(Slow(4, then=Json({})))
    llm = llm_settings(llm_server, timeout_s=1, max_retries=0, api_key={"$env": "AIJIA_TEST_KEY"})
    os.environ["AIJIA_TEST_KEY"] = "sk-test-never-shown-123"
    try:
        result, store = ai_run(order.order_id, llm)
    finally:
        del os.environ["AIJIA_TEST_KEY"]

    assert result.state is RunState.FAILED
    error = result.error or ""
    assert f"the LLM endpoint {llm_server.base_url} did not answer within 1s" in error
    assert "sk-test-never-shown" not in error
    assert llm_server.headers[0]["authorization"] == "Bearer sk-test-never-shown-123"
    (event,) = llm_events(store, result.run_id)
    assert event["outcome"] == "error" and event["duration_ms"] >= 1000
    assert "sk-test-never-shown" not in json.dumps(llm_events(store, result.run_id))


def test_a_500_is_retried_then_succeeds(ai_run: AiRun, sandbox: Any, llm_server: ScriptedLLM):
    order = sandbox.find_orders("shoplane", "delivered", limit=1)[0]
    llm_server.script(
        Fault(500), Json({"status": "Completed", "total": "2.50 USD", "delivered_on": None})
    )
    result, _store = ai_run(order.order_id, llm_settings(llm_server, max_retries=1))
    assert result.state is RunState.DONE, result.error
    assert result.outputs["total"] == 2.5
    assert len(llm_server.requests) == 2


def test_a_failing_endpoint_fails_after_its_retries(
    ai_run: AiRun, sandbox: Any, llm_server: ScriptedLLM
):
    order = sandbox.find_orders("shoplane", "delivered", limit=1)[0]
    llm_server.script(Fault(503, "overloaded"), Fault(503, "overloaded"))
    result, _store = ai_run(order.order_id, llm_settings(llm_server, max_retries=1))
    assert result.state is RunState.FAILED
    assert f"{llm_server.base_url} answered HTTP 503 (2 attempts)" in (result.error or "")
    assert len(llm_server.requests) == 2


def cli_config(ai_run: AiRun, llm: dict[str, Any] | None = None) -> Path:
    """config.yaml for the real `aijia` (the project's, pointed at this test's data)."""
    config = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text(encoding="utf-8"))
    config["data_dir"] = str(ai_run.tmp_path / "var")
    config["recipes_dir"] = str(recipes_dir(ai_run.tmp_path))
    for name, url in ai_run.sandbox.base_urls.items():
        config["sites"][name]["base_url"] = url.rstrip("/")
    config.pop("llm", None)
    if llm is not None:
        config["llm"] = llm
    path = ai_run.tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_without_an_llm_aijia_run_exits_2(ai_run: AiRun, sandbox: Any, llm_server: ScriptedLLM):
    order = sandbox.find_orders("shoplane", "delivered", limit=1)[0]
    env = {**os.environ, **sandbox.env(), "COLUMNS": "200"}
    done = subprocess.run(
        [aijia_command(), "run", "ai_read_order", "--site", "shoplane",
         "-i", f"order_id={order.order_id}", "-c", str(cli_config(ai_run))],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    assert "no LLM configured" in done.stdout + done.stderr
    assert llm_server.requests == []
