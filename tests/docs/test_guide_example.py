"""The guide's worked example is itself a test: the YAML blocks of docs/recipes/guide.md
marked `<!-- worked-example: PATH -->` are taken from the page (not copied here), validated,
and run against the sandbox's fourth mini site over HTTP with real Chromium. They must also be
the recipes shipped at PATH, so the guide and recipes/kedai/ cannot drift apart."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from agent.core.states import RunState
from agent.recipes.model import load_recipe, validate_paths
from agent.recipes.order_schema import validate
from tests.docs.conftest import REPO, RUNNER

GUIDE = REPO / "docs" / "recipes" / "guide.md"
BLOCK = re.compile(r"<!-- worked-example: (?P<path>\S+) -->\n```yaml\n(?P<body>.*?)\n```", re.S)


def worked_example() -> dict[str, str]:
    """PATH -> YAML text of each marked block of the guide."""
    blocks = {m["path"]: m["body"] + "\n" for m in BLOCK.finditer(GUIDE.read_text("utf-8"))}
    assert set(blocks) >= {"recipes/kedai/login.yaml", "recipes/kedai/lookup_order.yaml"}
    return blocks


@pytest.fixture
def example_recipes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The worked example written out as a project's recipes folder (and used as one)."""
    root = tmp_path / "recipes"
    for path, text in worked_example().items():
        target = root / Path(path).relative_to("recipes")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    monkeypatch.setenv("AIJIA_RECIPES", str(root))
    return root


def test_the_worked_example_is_what_ships():
    for path, text in worked_example().items():
        assert (REPO / path).read_text("utf-8") == text, f"{path} differs from the guide"


def test_the_worked_example_validates(example_recipes: Path):
    assert validate_paths([example_recipes]) == []


def test_the_worked_example_runs_against_the_sandbox(
    run: Any, sandbox: Any, kedai_aijia: Any, example_recipes: Path
):
    order = sandbox.find_orders("kedai", "partially_refunded", limit=1)[0]
    recipe = load_recipe(example_recipes / "kedai" / "lookup_order.yaml")
    result = run(kedai_aijia().run(recipe, {"order_id": order.order_id}, as_user=RUNNER))
    assert result.state is RunState.DONE, result.error
    validate(result.outputs)
    assert result.outputs["order_id"] == order.order_id
    assert result.outputs["totals"]["refundable"]["amount"] == order.refundable
    assert result.outputs["refunds"]
