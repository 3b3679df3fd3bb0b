"""The recorder (issue 13 item 3): a recording (Playwright's JSONL) becomes a recipe that the
real loader accepts, with role/label selectors, the gate before the first mutating click and
no secret in the file; a lookup recorded in real Chromium on the sandbox runs as a recipe.

recordings/shoplane_refund.jsonl is the ShopLane refund flow written by hand in the format
Playwright 1.5x's JSONL generator writes (packages/isomorphic/codegen/jsonl.ts: the action,
`signals`, `pageGuid`, `locator` {kind, body, options}; a header line of options first), with
the recorder's own quirks: focus clicks before typing, the submit click (clickCount 0) that
Chromium synthesises for Enter, a CSS fallback locator.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.core.errors import RecipeError
from agent.core.states import RunState
from agent.project_template import scaffold
from agent.recipes.model import load_recipe
from agent.recipes.recorder import parse_recording, translate

RECORDING = Path(__file__).parent / "recordings" / "shoplane_refund.jsonl"
BASE_URL = "http://127.0.0.1:8700"
PASSWORD = "shoplane-lead-2611"  # typed into the Password field in the recording
EMAIL = "lead@shoplane.test"
ORDER_ID = "261125KHCRMMZQ"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """recipes/shoplane/ of a fresh `aijia init` project (it has a login recipe)."""
    scaffold(tmp_path / "project")
    return tmp_path / "project" / "recipes" / "shoplane"


def _write(folder: Path, name: str, text: str) -> Any:
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return load_recipe(path)


def _step_keys(recipe: Any) -> list[tuple[str, Any]]:
    return [(step.key, step.params) for step in recipe.steps]


def test_recorded_refund_validates_with_the_gate_before_the_mutating_click(folder: Path):
    actions = parse_recording(RECORDING.read_text())
    text = translate(actions, name="recorded_refund", site="shoplane", base_url=BASE_URL,
                     session="login")  # fmt: skip
    recipe = _write(folder, "recorded_refund", text)
    steps = _step_keys(recipe)
    gate = recipe.gate_index()
    assert gate is not None and steps[gate][1].action == "refund"
    clicks = [(i, p.name) for i, (k, p) in enumerate(steps) if k == "click"]
    confirm = next(i for i, name in clicks if name == "Confirm refund")
    assert confirm == gate + 1, "the gate is right before the mutating click"
    opener = next(i for i, name in clicks if name == "Refund")
    assert opener < gate and recipe.steps[opener].safe, "the button that opens the form is safe"
    assert recipe.steps[confirm].mutates
    assert recipe.commits is not None and recipe.commits.fields, "a commit request to complete"
    # the login at the start is dropped (the session is reused); the run starts where it landed
    assert recipe.session == "login"
    assert steps[0] == ("goto", steps[0][1]) and steps[0][1].url == "/portal/sale/order"
    assert not any(k == "fill" and p.secret for k, p in steps)
    # typed values are inputs, used where the recording showed them again (the order's link)
    link = next(p for k, p in steps if k == "click" and p.role == "link")
    assert link.name == "{{ inputs.search_orders }}"
    assert set(recipe.inputs) == {"search_orders", "refund_amount", "reason", "refund_reference"}
    for value in (PASSWORD, EMAIL, ORDER_ID, "12.50", "ticket 4711"):
        assert value not in text, f"{value!r} was written"


def test_without_a_login_recipe_the_login_stays_and_the_password_is_a_credential(folder: Path):
    actions = parse_recording(RECORDING.read_text())
    text = translate(actions, name="with_login", site="shoplane", base_url=BASE_URL)
    recipe = _write(folder, "with_login", text)
    steps = _step_keys(recipe)
    fills = {p.name: p for k, p in steps if k == "fill" and p.role == "textbox"}
    assert fills["Password"].secret == "password" and fills["Password"].value is None
    assert fills["Email"].value == "{{ site.credentials.username }}"
    sign_in = next(i for i, (k, p) in enumerate(steps) if k == "click" and p.name == "Log in")
    assert recipe.steps[sign_in].safe and sign_in < (recipe.gate_index() or 0)
    assert PASSWORD not in text and EMAIL not in text
    assert recipe.session is None


def test_css_fallbacks_are_kept_and_flagged(folder: Path):
    text = translate(parse_recording(RECORDING.read_text()), name="flagged", site="shoplane",
                     base_url=BASE_URL, session="login")  # fmt: skip
    line = next(line for line in text.splitlines() if "#refund-reference" in line)
    assert "css:" in line and "# CHECK: a CSS fallback" in line
    _write(folder, "flagged", text)


def _action(name: str, locator: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    selector = json.dumps(locator)  # the recorder's own selector: one per element
    return {"name": name, "selector": selector, "signals": [], "locator": locator, **fields}


def _role(role: str, name: str, **more: Any) -> dict[str, Any]:
    return {"kind": "role", "body": role, "options": {"attrs": [], "exact": False, "name": name},
            **more}  # fmt: skip


def test_a_click_after_a_fill_is_gated_and_seller_text_is_never_a_template(folder: Path):
    hostile = "Notes {{ site.credentials }} {% for x in y %}"
    actions = [
        {"name": "navigate", "url": f"{BASE_URL}/portal/sale/order?x=1", "signals": []},
        _action("click", _role("link", hostile)),
        _action("fill", {"kind": "label", "body": "Add note", "options": {"exact": True}},
                text="hello"),
        _action("click", _role("button", "Go", next={"kind": "nth", "body": "1"})),
        _action("check", {"kind": "label", "body": "Notify the buyer", "options": {}}),
    ]  # fmt: skip
    text = translate(actions, name="hostile_note", site="shoplane", base_url=BASE_URL,
                     session="login")  # fmt: skip
    recipe = _write(folder, "hostile_note", text)
    steps = _step_keys(recipe)
    gate = recipe.gate_index()
    assert gate is not None and steps[gate + 1][1].name == "Go" and steps[gate + 1][1].nth == 1
    link = steps[1][1]
    assert link.name == "{{ " + json.dumps(hostile) + " }}", "quoted as a string literal"
    from agent.recipes.templating import render_text  # the real renderer shows it as text

    assert render_text(link.name, {}) == hostile
    assert steps[0][1].url == "/portal/sale/order?x=1"
    assert steps[-2][0] == "check" and steps[-2][1].label == "Notify the buyer"


def test_broken_and_empty_recordings_say_what_is_wrong():
    with pytest.raises(RecipeError, match="recording line 2 is not JSON"):
        parse_recording('{"browserName": "chromium"}\n{"name": "click",\n')
    with pytest.raises(RecipeError, match="no steps"):
        translate(parse_recording('{"browserName": "chromium"}\n'), name="x", site="s",
                  base_url=BASE_URL)  # fmt: skip


def test_a_lookup_recorded_in_chromium_runs_against_the_sandbox(
    sandbox: Any, product: Any, store: Any, run: Any, chromium: Any, tmp_path: Path
):
    """Real Chromium with Playwright's recorder on; the person's actions are driven by the
    test (a recorder sees the same input events); the recipe then runs through the facade."""
    from agent.recipes.recording import record_actions
    from tests.conftest import aijia_for
    from tests.recipes.conftest import RECIPES

    order = sandbox.find_orders("shoplane", "delivered", limit=1)[0]
    creds = sandbox.credentials("shoplane")

    async def person(page: Any) -> None:
        await page.get_by_label("Email", exact=True).click()
        await page.get_by_label("Email", exact=True).press_sequentially(creds.username)
        await page.get_by_label("Password", exact=True).click()
        await page.get_by_label("Password", exact=True).press_sequentially(creds.password)
        await page.get_by_role("button", name="Log in").click()
        await page.get_by_role("heading", name="My Orders").wait_for()
        await page.get_by_label("Search orders").click()
        await page.get_by_label("Search orders").press_sequentially(order.order_id)
        await page.get_by_label("Search orders").press("Enter")
        await page.get_by_role("link", name=order.order_id).wait_for()
        await page.get_by_role("link", name=order.order_id).click()
        await page.get_by_text("Order ID").first.wait_for()

    actions = run(record_actions(product, "shoplane", "/account/signin", headless=True,
                                 drive=person))  # fmt: skip
    assert any(a["name"] == "fill" and a.get("text") == creds.password for a in actions)
    folder = tmp_path / "recipes" / "shoplane"
    folder.mkdir(parents=True)
    shutil.copyfile(RECIPES / "shoplane" / "login.yaml", folder / "login.yaml")
    text = translate(actions, name="recorded_lookup", site="shoplane",
                     base_url=product.sites["shoplane"].base_url, session="login")  # fmt: skip
    assert creds.password not in text and order.order_id not in text
    recipe = _write(folder, "recorded_lookup", text)
    assert recipe.gate_index() is None, yaml.safe_load(text)
    aijia = aijia_for(product, store, chromium)
    result = run(aijia.run(recipe, {"search_orders": order.order_id}, as_user="lead"))
    assert result.state is RunState.DONE, result.error
