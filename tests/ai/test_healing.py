"""Healing that a person reviews (`fallback: ai`, agent/ai/heal.py, `aijia recipes heal`).

Real Chromium on the sandbox's ShopLane with layout v2 (ids renamed, roles and labels kept),
the real langchain-openai client against the scripted OpenAI-compatible server. Proven here:
a CSS selector broken by the new layout heals with the model's `{role, name}`, the run
finishes and records `locator_healed`; `aijia recipes heal RUN` prints the diff, `--accept`
edits only the selector (comments stay) and the recipe then runs with no LLM at all;
`--discard` writes nothing and is recorded; an answer matching 0 or 2 elements fails the step
with the original error and "healing refused: matched N"; no LLM: the original error and a
hint; `fallback: ai` after the gate or in `reconcile` is refused at load time.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agent.core.errors import RecipeError
from agent.core.settings import PROJECT_ROOT
from agent.core.states import RunState
from agent.recipes.model import load_recipe
from tests.ai.llm_server import Json, ScriptedLLM, llm_settings
from tests.ai.runner import FacadeRuns, sandbox_env
from tests.ai.test_ai_extract import cli_config, make_settings
from tests.conftest import aijia_command

pytest.importorskip("langchain_openai", reason="the ai extra is not installed")

RECIPE = """\
name: open_refund_form
site: shoplane
description: Open an order's refund form (reads only).
inputs:
  order_id: {type: string, pattern: "^[0-9A-Z]{14}$"}
session: login
steps:
  - goto: /portal/sale/order?search={{ inputs.order_id }}
  - click: {role: link, name: "{{ inputs.order_id }}", exact: true}
  # the refund button: an id, which layouts rename
  - click: {css: "#refund-button"}   # opens the form; sends nothing
    safe: true
    fallback: ai
    timeout: 2
  - expect: {text: You can refund up to}
"""
HEALED_LINE = '  - click: {role: button, name: "Refund"}   # opens the form; sends nothing\n'


class HealRun(FacadeRuns):
    """Runs open_refund_form on ShopLane (layout v2) with or without an `llm:` block."""

    def __init__(self, run: Any, chromium: Any, sandbox: Any, tmp_path: Path) -> None:
        super().__init__(run, chromium, sandbox, tmp_path)
        make_settings(sandbox, tmp_path, None)  # lays out the recipes folder with login.yaml
        self.recipe = tmp_path / "recipes" / "shoplane" / "open_refund_form.yaml"
        self.recipe.write_text(RECIPE, encoding="utf-8")

    def __call__(self, llm: dict[str, Any] | None) -> tuple[Any, Any]:
        facade, store = self.open(make_settings(self.sandbox, self.tmp_path, llm))
        order = self.sandbox.find_orders("shoplane", "delivered", limit=1)[0]
        result = self.run(
            facade.run(load_recipe(self.recipe), {"order_id": order.order_id}, as_user="tester")
        )
        return result, store

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        config = cli_config(SimpleNamespace(tmp_path=self.tmp_path, sandbox=self.sandbox))  # type: ignore[arg-type]
        return subprocess.run(
            [aijia_command(), "recipes", "heal", *args, "-c", str(config)],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip


@pytest.fixture
def heal_run(
    run: Any, chromium: Any, sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HealRun]:
    sandbox_env(sandbox, monkeypatch)
    sandbox.set_faults("shoplane", layout="v2")
    runner = HealRun(run, chromium, sandbox, tmp_path)
    yield runner
    runner.close()
    sandbox.set_faults("shoplane", layout="v1")


def events(store: Any, run_id: str, kind: str) -> list[dict[str, Any]]:
    return [e.data for e in store.events(run_id) if e.kind == kind]


def test_a_broken_css_selector_heals_and_a_person_accepts_it(
    heal_run: HealRun, llm_server: ScriptedLLM
) -> None:
    llm_server.script(Json({"role": "button", "name": "Refund", "why": "the only Refund button"}))
    result, store = heal_run(llm_settings(llm_server))

    assert result.state is RunState.DONE, result.error
    (healed,) = events(store, result.run_id, "locator_healed")
    assert healed["step"] == "3" and healed["kind"] == "click"
    assert healed["old_selector"] == {"css": "#refund-button"}
    assert healed["new_selector"] == {"role": "button", "name": "Refund"}
    assert healed["model"] == "scripted-1" and healed["why"] == "the only Refund button"
    assert healed["recipe_file"] == str(heal_run.recipe.resolve()) and healed["line"] == 11
    # what the model saw: the accessibility tree, inside the data block
    (body,) = llm_server.requests
    assert 'button "Refund"' in body["messages"][1]["content"]
    assert store.verify([result.run_id]).ok

    shown = heal_run.cli(result.run_id)
    assert shown.returncode == 0, shown.stderr
    assert '-  - click: {css: "#refund-button"}   # opens the form; sends nothing' in shown.stdout
    assert "+" + HEALED_LINE.rstrip("\n") in shown.stdout
    assert heal_run.recipe.read_text(encoding="utf-8") == RECIPE  # showing writes nothing

    accepted = heal_run.cli(result.run_id, "--accept", "--json")
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["decision"] == "accepted"
    expected = RECIPE.replace(
        '  - click: {css: "#refund-button"}   # opens the form; sends nothing\n', HEALED_LINE
    )
    assert heal_run.recipe.read_text(encoding="utf-8") == expected  # only the selector changed
    (review,) = events(store, result.run_id, "locator_heal_reviewed")
    assert review["decision"] == "accepted" and review["files"] == [str(heal_run.recipe.resolve())]
    assert store.verify([result.run_id]).ok
    again = heal_run.cli(result.run_id, "--discard")
    assert again.returncode != 0 and "already accepted" in again.stderr

    # the accepted recipe runs on the new layout with no LLM at all
    result, store = heal_run(None)
    assert result.state is RunState.DONE, result.error
    assert events(store, result.run_id, "locator_healed") == []


def test_discard_writes_nothing_and_is_recorded(heal_run: HealRun, llm_server: ScriptedLLM):
    llm_server.script(Json({"role": "button", "name": "Refund", "why": "the Refund button"}))
    result, store = heal_run(llm_settings(llm_server))
    assert result.state is RunState.DONE, result.error

    discarded = heal_run.cli(result.run_id, "--discard")
    assert discarded.returncode == 0, discarded.stderr
    assert "discarded" in discarded.stdout
    assert heal_run.recipe.read_text(encoding="utf-8") == RECIPE
    (review,) = events(store, result.run_id, "locator_heal_reviewed")
    assert review["decision"] == "discarded"


@pytest.mark.parametrize(
    ("answer", "matched"),
    [
        ({"role": "button", "name": "Cancel this order", "why": "?"}, "0"),
        ({"role": "heading", "name": "Order", "why": "?"}, "[2-9]"),  # h1 and an h2 at least
    ],
)
def test_an_answer_matching_zero_or_several_elements_is_refused(
    heal_run: HealRun, llm_server: ScriptedLLM, answer: dict[str, str], matched: str
) -> None:
    llm_server.script(Json(answer))
    result, store = heal_run(llm_settings(llm_server))

    assert result.state is RunState.FAILED
    error = result.error or ""
    assert "css='#refund-button' matched nothing within 2s" in error  # the original error …
    assert re.search(f"healing refused: matched {matched} elements", error), error  # … and why
    assert events(store, result.run_id, "locator_healed") == []
    (refusal,) = events(store, result.run_id, "locator_heal_refused")
    assert refusal["proposed"] == {"role": answer["role"], "name": answer["name"]}


def test_without_an_llm_the_original_error_and_a_hint(heal_run: HealRun) -> None:
    result, _store = heal_run(None)
    assert result.state is RunState.FAILED
    error = result.error or ""
    assert "css='#refund-button' matched nothing within 2s" in error
    assert "healing refused: no LLM configured" in error


def _gated_recipe(tmp_path: Path, old: str, new: str) -> Path:
    text = (PROJECT_ROOT / "recipes" / "shoplane" / "prepare_refund.yaml").read_text("utf-8")
    assert old in text
    path = tmp_path / "prepare_refund.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_fallback_after_the_gate_or_in_reconcile_is_refused_at_load(tmp_path: Path) -> None:
    after_gate = _gated_recipe(
        tmp_path, "    mutates: true\n", "    mutates: true\n    fallback: ai\n"
    )
    with pytest.raises(RecipeError) as caught:
        load_recipe(after_gate)
    assert "`fallback: ai` cannot be used after the gate (the commit phase)" in str(caught.value)

    link = '  - click: {role: link, name: "{{ inputs.order_id }}", exact: true}\n  - extract:\n'
    in_reconcile = _gated_recipe(
        tmp_path, link, link.replace("\n  - extract", "\n    fallback: ai\n  - extract")
    )
    with pytest.raises(RecipeError) as caught:
        load_recipe(in_reconcile)
    assert "`fallback: ai` cannot be used in `reconcile`" in str(caught.value)


def test_fallback_only_on_steps_that_locate_one_element(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.replace("  - expect:", "  - goto: /x\n    fallback: ai\n  - expect:"))
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    assert "`fallback: ai` works only on steps that locate one element" in str(caught.value)


LOOP_RECIPE = (
    RECIPE.replace(
        """steps:
  - goto: /portal/sale/order?search={{ inputs.order_id }}""",
        """steps:
  - for_each: "{{ [1, 2] }}"
    as: visit
    steps:
      - goto: /portal/sale/order?search={{ inputs.order_id }}""",
    )
    .replace("\n  - click:", "\n      - click:")
    .replace("\n    safe:", "\n        safe:")
    .replace("\n    fallback:", "\n        fallback:")
    .replace("\n    timeout:", "\n        timeout:")
    .replace("\n  - expect:", "\n      - expect:")
)


def test_a_step_in_a_loop_asks_the_model_once(heal_run: HealRun, llm_server: ScriptedLLM):
    """The healed selector is kept for the run: the second pass reuses it (one model call)."""
    heal_run.recipe.write_text(LOOP_RECIPE, encoding="utf-8")
    llm_server.script(Json({"role": "button", "name": "Refund", "why": "the only Refund button"}))
    result, store = heal_run(llm_settings(llm_server))

    assert result.state is RunState.DONE, result.error
    assert len(llm_server.requests) == 1
    (healed,) = events(store, result.run_id, "locator_healed")
    assert healed["new_selector"] == {"role": "button", "name": "Refund"}
    (reused,) = events(store, result.run_id, "locator_heal_reused")
    assert reused["step"] == healed["step"] == "1.3"
