"""The broken corpus: every broken recipe and input row yields a located, explained error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agent.core.errors import InputError, RecipeError
from agent.recipes.inputs import bind_inputs
from agent.recipes.model import load_recipe, validate_paths

BROKEN = Path(__file__).parent / "broken"
RECIPE_CASES = yaml.safe_load((BROKEN / "recipes_expected.yaml").read_text())
INPUT_CASES = yaml.safe_load((BROKEN / "inputs_expected.yaml").read_text())
# valid recipes the broken ones refer to (by `call:` or `session:`)
VALID_NEIGHBOURS = {"login", "refund_with_gate"}


def test_corpus_is_big_enough_and_complete() -> None:
    assert len(RECIPE_CASES) + len(INPUT_CASES) >= 30
    files = {p.stem for p in (BROKEN / "shop").glob("*.yaml")} - VALID_NEIGHBOURS
    assert files == set(RECIPE_CASES), "every broken recipe has an expectation, and vice versa"
    inputs = {p.stem for p in (BROKEN / "inputs").glob("*.yaml")} - {"recipe"}
    assert inputs == set(INPUT_CASES)


@pytest.mark.parametrize("case", sorted(RECIPE_CASES))
def test_broken_recipe(case: str) -> None:
    path = BROKEN / "shop" / f"{case}.yaml"
    expected = RECIPE_CASES[case]
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert info.value.exit_code == 2
    problems = info.value.problems
    matching = [p for p in problems if expected["expect"] in p.message]
    assert matching, f"no problem says {expected['expect']!r}: {[p.message for p in problems]}"
    problem = matching[0]
    assert problem.location is not None
    assert problem.location.path == str(path)
    assert problem.location.line == expected["line"], problem.render()
    text = str(info.value)
    assert f"{path}:{expected['line']}:" in text
    assert "The offending line appears to be:" in text
    assert problem.source_line == path.read_text().splitlines()[expected["line"] - 1]


def test_neighbours_are_valid() -> None:
    assert validate_paths([BROKEN / "shop" / f"{n}.yaml" for n in VALID_NEIGHBOURS]) == []


@pytest.mark.parametrize("case", sorted(INPUT_CASES))
def test_broken_input_row(case: str) -> None:
    recipe = load_recipe(BROKEN / "inputs" / "recipe.yaml")
    rows = yaml.safe_load((BROKEN / "inputs" / f"{case}.yaml").read_text())["rows"]
    expected = INPUT_CASES[case]
    bind_inputs(recipe, rows[0], row=1)  # the first row is good
    with pytest.raises(InputError) as info:
        bind_inputs(recipe, rows[1], row=expected["row"])
    assert info.value.exit_code == 2
    text = str(info.value)
    assert f"row {expected['row']}:" in text
    assert expected["expect"] in text
    assert "recipe.yaml" in text  # names the recipe file the inputs are checked against


def test_all_problems_at_once() -> None:
    """A file with many mistakes reports each of them, in line order."""
    problems = validate_paths([BROKEN / "many_problems.yaml"])
    lines = [p.location.line for p in problems if p.location]
    assert lines == sorted(lines)
    messages = "\n".join(p.message for p in problems)
    for fragment in (
        "unknown step `clik`",
        "unknown field `nmae`",
        "undefined variable `refundabel`",
        "may change the back office",
        "`inputs.orderid` is not a declared input",
    ):
        assert fragment in messages
    assert len(problems) >= 5


def test_validation_starts_no_browser() -> None:
    """Validating the whole corpus never imports Playwright (so it cannot start a browser)."""
    code = (
        "import sys\n"
        "from agent.recipes.model import validate_paths\n"
        f"problems = validate_paths([{str(BROKEN)!r}])\n"
        "assert len(problems) >= 40, len(problems)\n"
        "print(any(m.startswith('playwright') for m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
