"""`aijia recipes draft`: a recipe drafted from words (agent/engine/draft.py).

Real Chromium on the sandbox's ShopLane, the real browser-use agent and langchain-openai
client over HTTP to the scripted OpenAI-compatible server. The scripted explorer reads the
element numbers browser-use shows it (`Respond`), opens the order, and tries to save a note
(a POST, blocked by the read-only layer: the sandbox keeps no note). The scripted writer's
first draft uses a css selector and is sent back with the problem; the second validates, is
written, and — run for real like the shipped recipe — returns the same order data as the
shipped `lookup_order`. With no `llm:` block, `aijia recipes draft` exits 2 before anything.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from agent.core.settings import PROJECT_ROOT
from agent.core.states import RunState
from agent.recipes.model import load_recipe
from tests.ai.llm_server import (
    Fault,
    Json,
    Malformed,
    Respond,
    ScriptedLLM,
    last_user_text,
    llm_settings,
)
from tests.ai.test_ai_extract import cli_config, make_settings
from tests.conftest import TEST_USERS, aijia_command, aijia_for

pytest.importorskip("browser_use", reason="the ai extra is not installed")

TASK = "look up an order and read its refundable amount"
FIELDS = {
    "order_id": "Order ID",
    "status": "Order status",
    "total": "Order total",
    "refunded": "Refunded so far",
    "refundable": "Refundable amount",
}


def _browse(action: dict[str, Any]) -> Json:
    """One browser-use step: the agent's output model with one action."""
    return Json({"memory": "", "action": [action]})


def _click(tag: str, text: str) -> Respond:
    """Click the `tag` element showing `text`, by the number browser-use's prompt gives it
    (`[613]<a />` and its text on the next line)."""

    def answer(body: dict[str, Any]) -> Json:
        prompt = last_user_text(body)
        found = re.search(rf"\[(\d+)\]<{tag}\b[^\n]*\n\s*{re.escape(text)}\n", prompt)
        assert found, f"no <{tag}> {text!r} in the prompt:\n{prompt[-3000:]}"
        return _browse({"click": {"index": int(found.group(1))}})

    return Respond(answer)


def _explorer(base: str, order_id: str) -> list[Any]:
    """The explorer's four steps: search, open the order, try to save a note, done."""
    return [
        _browse({"navigate": {"url": f"{base}/portal/sale/order?search={order_id}"}}),
        _click("a", order_id),
        _click("button", "Save note"),  # a POST: the read-only layer blocks it
        Respond(lambda body: _browse({"done": {"success": True, "data": {
            "page_url": _current_url(body), "notes": "Refundable amount"}}})),
    ]  # fmt: skip


def _current_url(body: dict[str, Any]) -> str:
    """The URL of the tab browser-use shows as current."""
    found = re.search(r"Tab \w+: (\S+)", last_user_text(body))
    assert found, last_user_text(body)[-2000:]
    return found.group(1)


def _body(order_selector: dict[str, Any]) -> dict[str, Any]:
    extract: dict[str, Any] = {
        key: {"label": label, "exact": True} for key, label in FIELDS.items()
    }
    for key in ("total", "refunded", "refundable"):
        extract[key]["as"] = "money"
    return {
        "description": "Find an order and read its totals and refundable amount.",
        "inputs": {"order_id": {"type": "string", "pattern": "^[0-9A-Z]{14}$"}},
        "steps": [
            {"goto": "/portal/sale/order?search={{ inputs.order_id }}"},
            {"click": order_selector},
            {"extract": extract},
        ],
        "outputs": {
            "order_id": "{{ order_id }}",
            "status_raw": "{{ status }}",
            "totals": "{{ {'total': total, 'refunded': refunded, 'refundable': refundable}"
            " | money_strings }}",
        },
        "commits": None,
    }


@pytest.fixture
def env(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    yield sandbox


def test_a_drafted_recipe_validates_and_reads_what_the_shipped_one_reads(
    env: Any, run: Any, chromium: Any, tmp_path: Path, llm_server: ScriptedLLM
) -> None:
    from agent.engine.draft import draft_recipe
    from evidence.store import EvidenceStore

    sandbox = env
    order = sandbox.find_orders("shoplane", "delivered", limit=1)[0]
    base = sandbox.url("shoplane").rstrip("/")
    notes_before = sandbox.order("shoplane", order.order_id)["notes"]
    llm_server.script(
        *_explorer(base, order.order_id),
        Json(_body({"css": "a.order-link"})),  # refused: css, sent back with the problem
        Json(_body({"role": "link", "name": "{{ inputs.order_id }}", "exact": True})),
    )
    settings = make_settings(sandbox, tmp_path, llm_settings(llm_server))
    folder = tmp_path / "recipes" / "shoplane"
    shutil.copy(PROJECT_ROOT / "recipes" / "shoplane" / "lookup_order.yaml", folder)
    store = EvidenceStore.open(settings)
    try:
        draft = run(draft_recipe(settings, store, "shoplane", TASK, name="order_refundable"))

        assert draft.path == folder / "order_refundable.yaml" and draft.path.is_file()
        assert draft.attempts == 2
        assert llm_server.pending == 0
        retry = last_user_text(llm_server.requests[-1]) + str(llm_server.requests[-1])
        assert "`css` selector; use role/label/text" in retry
        # exploration stayed read-only: the note's POST was blocked, the sandbox has no note
        (blocked,) = draft.blocked
        assert blocked.startswith(f"POST {base}/") and blocked.endswith("/notes"), blocked
        assert sandbox.order("shoplane", order.order_id)["notes"] == notes_before
        assert any(order.order_id in url for url in draft.pages)
        assert "role='link' name='{{ inputs.order_id }}'" in draft.selectors
        # every LLM call (4 explorer steps, 2 drafts) is in the draft run's evidence
        calls = [e.data for e in store.events(draft.run_id) if e.kind == "llm_call"]
        purposes = [c["purpose"].split(",")[0] for c in calls]
        assert purposes == ["draft_explore"] * 4 + ["draft_recipe"] * 2
        assert store.get_run(draft.run_id).state is RunState.DONE

        # run for real, the drafted recipe reads what the shipped lookup_order reads
        facade = aijia_for(settings, store, chromium, users=TEST_USERS)
        try:
            drafted = run(facade.run(load_recipe(draft.path), {"order_id": order.order_id},
                                     as_user="tester"))  # fmt: skip
            shipped = run(facade.run(load_recipe(folder / "lookup_order.yaml"),
                                     {"order_id": order.order_id}, as_user="tester"))  # fmt: skip
        finally:
            run(facade.close())
        assert drafted.state is RunState.DONE, drafted.error
        assert shipped.state is RunState.DONE, shipped.error
        mine, theirs = drafted.outputs, shipped.outputs
        assert mine["order_id"] == theirs["order_id"] == order.order_id
        assert mine["status_raw"] == theirs["status_raw"]
        for key in ("total", "refunded", "refundable"):
            assert mine["totals"][key] == theirs["totals"][key], key  # amount and currency
    finally:
        store.close()


def test_a_draft_that_never_validates_is_kept_and_refused(
    env: Any, tmp_path: Path, llm_server: ScriptedLLM
) -> None:
    from evidence.store import EvidenceStore

    order = env.find_orders("shoplane", "delivered", limit=1)[0]
    sneaky = _body({"role": "link", "name": "{{ inputs.order_id }}"})
    sneaky["steps"].append({"click": {"role": "button", "name": "Save note"}, "safe": True})
    llm_server.script(*_explorer(env.url("shoplane").rstrip("/"), order.order_id), Json(sneaky))
    config = cli_config(SimpleNamespace(tmp_path=tmp_path, sandbox=env), llm_settings(llm_server))  # type: ignore[arg-type]
    done = subprocess.run(
        [aijia_command(), "recipes", "draft", "shoplane", TASK, "--attempts", "1",
         "-c", str(config)],
        cwd=PROJECT_ROOT, env={**os.environ, "COLUMNS": "200"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "a click on 'Save note' may send a change" in out
    kept = re.search(r"kept in (\S+\.yaml) for inspection", " ".join(out.split()))
    assert kept and "Save note" in Path(kept.group(1)).read_text(encoding="utf-8"), out
    assert not list((tmp_path / "recipes" / "shoplane").glob("look_up*"))
    settings = make_settings(env, tmp_path, None)
    with contextlib.closing(EvidenceStore.open(settings)) as store:
        (draft_run,) = store.list_runs()
        assert draft_run.state is RunState.FAILED
        assert draft_run.recipe == "draft_look_up_an_order_and"


def test_without_an_llm_recipes_draft_exits_2(tmp_path: Path, llm_server: ScriptedLLM) -> None:
    config = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text(encoding="utf-8"))
    config.pop("llm", None)
    config["data_dir"] = str(tmp_path / "var")
    config["recipes_dir"] = str(tmp_path / "recipes")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    done = subprocess.run(
        [aijia_command(), "recipes", "draft", "shoplane", TASK, "--name", "x", "-c", str(path)],
        cwd=PROJECT_ROOT, env={**os.environ, "COLUMNS": "200"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no LLM configured" in done.stdout + done.stderr
    assert not (tmp_path / "recipes").exists()
    assert llm_server.requests == []


@pytest.mark.parametrize(
    ("writer", "expected"),
    [
        ([Fault(500, "overloaded")] * 3, "the LLM endpoint"),  # 1 try + llm.max_retries 2
        ([Malformed('{"steps": [')], "unusable"),
    ],
    ids=["endpoint_failing", "malformed_answer"],
)
def test_a_failing_or_malformed_writer_fails_clearly_and_keeps_the_evidence(
    env: Any, run: Any, tmp_path: Path, llm_server: ScriptedLLM, writer: list[Any], expected: str
) -> None:
    from agent.core.errors import AgentError
    from agent.engine.draft import draft_recipe
    from evidence.store import EvidenceStore

    order = env.find_orders("shoplane", "delivered", limit=1)[0]
    llm_server.script(*_explorer(env.url("shoplane").rstrip("/"), order.order_id), *writer)
    settings = make_settings(env, tmp_path, llm_settings(llm_server))
    with contextlib.closing(EvidenceStore.open(settings)) as store:
        with pytest.raises(AgentError) as caught:
            run(draft_recipe(settings, store, "shoplane", TASK, name="order_refundable"))
        assert expected in caught.value.message, caught.value.message
        assert not (tmp_path / "recipes" / "shoplane" / "order_refundable.yaml").exists()
        (draft_run,) = store.list_runs()
        assert draft_run.state is RunState.FAILED
        calls = [e.data for e in store.events(draft_run.run_id) if e.kind == "llm_call"]
        assert [c["outcome"] for c in calls][:4] == ["ok"] * 4  # the exploration is kept
        assert calls[-1]["outcome"] in ("error", "malformed")
        assert store.verify([draft_run.run_id]).ok
