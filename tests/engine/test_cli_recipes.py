"""`aijia recipes …`: thin commands over the recipe library."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from tests.engine.conftest import RECIPES

BROKEN = Path(__file__).parent / "broken"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _recipes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIJIA_RECIPES", str(RECIPES))
    monkeypatch.setenv("COLUMNS", "200")


def test_validate_prints_every_problem_and_exits_2() -> None:
    result = runner.invoke(app, ["recipes", "validate", str(BROKEN / "many_problems.yaml")])
    assert result.exit_code == 2
    out = result.output
    assert out.count("The offending line appears to be:") >= 5
    assert "many_problems.yaml:6:5: unknown step `clik`" in out
    assert "problem(s)" in out


def test_validate_ok_by_default_folder() -> None:
    result = runner.invoke(app, ["recipes", "validate"])
    assert result.exit_code == 0, result.output
    assert "recipe(s) valid" in result.output


def test_list_and_show() -> None:
    listed = runner.invoke(app, ["recipes", "list"])
    assert listed.exit_code == 0 and "prepare_refund" in listed.output
    shown = runner.invoke(app, ["recipes", "show", "prepare_refund", "--site", "local"])
    assert shown.exit_code == 0, shown.output
    assert "gate" in shown.output and "commit" in shown.output and "order_id" in shown.output
    missing = runner.invoke(app, ["recipes", "show", "prepare_refnd"])
    assert missing.exit_code == 2 and "did you mean 'prepare_refund'" in missing.output


def test_schema_to_file(tmp_path: Path) -> None:
    target = tmp_path / "recipe.schema.json"
    result = runner.invoke(app, ["recipes", "schema", "-o", str(target)])
    assert result.exit_code == 0
    schema = json.loads(target.read_text())
    assert schema["title"] == "Aijia recipe" and "steps" in schema["properties"]


def test_steps_reference_lists_every_kind_with_an_example() -> None:
    from agent.steps import STEP_TYPES

    listed = runner.invoke(app, ["recipes", "steps"])
    assert listed.exit_code == 0
    assert all(key in listed.output for key in STEP_TYPES)
    one = runner.invoke(app, ["recipes", "steps", "fill"])
    assert one.exit_code == 0 and "secret" in one.output and "example:" in one.output
    assert runner.invoke(app, ["recipes", "steps", "clik"]).exit_code == 2
