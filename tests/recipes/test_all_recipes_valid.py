"""Every shipped recipe validates, and each flavor ships the recipes support teams rely on."""

from __future__ import annotations

import pytest

from agent.recipes.model import list_recipes, validate_paths
from tests.recipes.conftest import RECIPES

REQUIRED = {
    "login",
    "lookup_order",
    "capture_order_evidence",
    "check_logistics",
    "add_internal_note",
    "prepare_refund",
}


def test_every_shipped_recipe_is_valid() -> None:
    paths = list_recipes(RECIPES)
    assert paths, "no recipes found"
    problems = validate_paths(paths)
    assert problems == [], "\n".join(p.render() for p in problems)


@pytest.mark.parametrize("flavor", ["shoplane", "markethub", "storefront"])
def test_each_flavor_ships_the_core_recipes(flavor: str) -> None:
    names = {p.stem for p in (RECIPES / flavor).glob("*.yaml")}
    assert names >= REQUIRED, f"{flavor} lacks {sorted(REQUIRED - names)}"


@pytest.mark.parametrize("flavor", ["shoplane", "markethub", "storefront"])
def test_a_refunds_order_page_shot_waits_for_the_late_content(flavor: str) -> None:
    """The reviewer's "order page" screenshot shows the page after its late fetch arrived
    (not "Loading tracking information…"): a wait_for hidden "Loading …" comes right
    before it."""
    from tests.recipes.conftest import recipe

    steps = recipe(flavor, "prepare_refund").steps
    [at] = [
        i
        for i, s in enumerate(steps)
        if s.key == "screenshot" and s.screenshot.label == "order_page"
    ]  # type: ignore[attr-defined]
    before = steps[at - 1]
    assert before.key == "wait_for", before
    hidden = before.wait_for.hidden  # type: ignore[attr-defined]
    assert hidden is not None and str(hidden.text).startswith("Loading")
