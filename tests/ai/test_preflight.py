"""A recipe that uses a model is checked before the run starts (exit 2, nothing runs):
`check_llm`, called by `plan_run` with the inputs and secrets checks. No browser, no model."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from agent.ai.preflight import ai_steps, check_llm
from agent.core.errors import ConfigError, SecretError
from agent.core.settings import PROJECT_ROOT, Settings
from agent.recipes.model import load_recipe
from tests.conftest import aijia_command

LLM = {"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key": {"$env": "AIJIA_NO_SUCH_KEY"}}

EXTRACT = """\
name: read_status
site: shoplane
steps:
  - goto: /portal/sale/order
  - if: "{{ true }}"
    then:
      - ai_extract:
          from: {role: main}
          schema:
            status: {description: the order status}
"""

HEAL = """\
name: read_order
site: shoplane
steps:
  - goto: /portal/sale/order
  - click: {css: "#order-link"}
    safe: true
    fallback: ai
"""


def recipe(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    return load_recipe(path)


def test_a_nested_ai_extract_without_an_llm_is_refused_naming_the_step(tmp_path: Path) -> None:
    loaded = recipe(tmp_path, EXTRACT)
    assert [s.key for s in ai_steps(loaded.steps)] == ["ai_extract"]
    with pytest.raises(ConfigError) as caught:
        check_llm(loaded, Settings())
    assert caught.value.exit_code == 2
    assert "recipe read_status: step 2.1 (`ai_extract`) needs an LLM" in caught.value.message


def test_steps_that_work_without_a_model_pass_without_an_llm(tmp_path: Path) -> None:
    check_llm(recipe(tmp_path, HEAL), Settings())
    check_llm(load_recipe(PROJECT_ROOT / "recipes/shoplane/draft_dispute_reply.yaml"), Settings())
    check_llm(load_recipe(PROJECT_ROOT / "recipes/shoplane/lookup_order.yaml"), Settings())


def test_a_configured_llm_whose_key_does_not_resolve_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIJIA_NO_SUCH_KEY", raising=False)
    settings = Settings.model_validate({"llm": LLM})
    draft = load_recipe(PROJECT_ROOT / "recipes/shoplane/draft_dispute_reply.yaml")
    with pytest.raises(SecretError) as caught:
        check_llm(draft, settings)
    assert caught.value.message.startswith("llm.api_key:")
    assert "AIJIA_NO_SUCH_KEY" in caught.value.message
    check_llm(load_recipe(PROJECT_ROOT / "recipes/shoplane/lookup_order.yaml"), settings)


def test_aijia_run_exits_2_before_opening_a_browser(tmp_path: Path) -> None:
    """The real CLI: a draft_reply recipe with a broken `llm:` block ends at the plan."""
    config = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text(encoding="utf-8"))
    config["data_dir"] = str(tmp_path / "var")
    config["llm"] = LLM
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    done = subprocess.run(
        [aijia_command(), "run", "draft_dispute_reply", "--site", "shoplane", "-c", str(path),
         "-i", "order_id=24011512345678", "-i", "decision=accept"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "200"},
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 2, out[-3000:]
    assert "llm.api_key" in out and "AIJIA_NO_SUCH_KEY" in out
    assert "Traceback" not in out


def test_a_resumed_run_goes_on_from_what_it_spent(tmp_path: Path) -> None:
    """The budget is the run's: a new process (a resume) starts from the recorded calls."""
    from decimal import Decimal
    from types import SimpleNamespace

    from agent.ai.budget import Budget, run_usage
    from evidence.store import EvidenceStore

    with EvidenceStore(tmp_path / "evidence") as store:
        run = store.create_run(recipe="r", recipe_version="1", site="shoplane", inputs={})
        for tokens_in, cost in ((900, "0.25"), (700, "0.5")):
            store.append_event(
                run.run_id,
                "llm_call",
                {"purpose": "ai_extract (step 3)", "model": "m", "endpoint": "http://x/v1",
                 "outcome": "ok", "messages": [], "tokens_in": tokens_in, "tokens_out": 50,
                 "cost": cost},
            )  # fmt: skip
        store.append_event(run.run_id, "step_finished", {"step": "1"})
        usage = run_usage(SimpleNamespace(sink=store, run_id=run.run_id))
    assert (usage.calls, usage.tokens_in, usage.tokens_out) == (2, 1600, 100)
    assert usage.cost == Decimal("0.75")
    llm = Settings.model_validate({"llm": {**LLM, "budget": {"tokens_per_run": 1800}}}).llm
    assert llm is not None
    with pytest.raises(Exception, match=r"llm.budget.tokens_per_run 1800: 1700 used"):
        Budget(llm, usage).answer_cap("ai_extract (step 9)", 200)
