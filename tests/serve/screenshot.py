"""The README's picture of the gate page, made by hand once (not part of the suite):

    .venv/bin/pytest -q -p no:cacheprovider tests/serve/screenshot.py

prepares a refund on a customer's case against the sandbox, signs in as reviewer at
1280x900 and saves agent/serve/static/console-gate.png (the file name keeps pytest from
collecting this module on its own).
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.gates.conftest import FLAVOR
from tests.recipes.conftest import recipe
from tests.serve.conftest import Console

PICTURE = Path(__file__).parents[2] / "agent" / "serve" / "static" / "console-gate.png"
ASK = "My order arrived with the mug broken, photos attached. Can I get a refund for it?"


def test_save_the_gate_page_picture(console: Console, browser: Browser) -> None:
    gates = console.gates
    order = gates.sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    gates._run(gates.aijia.open_case("CASE-1042", channel="email", ask=ASK))
    inputs = {"order_id": order.order_id, "amount": "12.50", "reason": "damaged"}
    result = gates._run(
        gates.aijia.run(recipe(FLAVOR, "prepare_refund"), inputs, as_user="lead", case="CASE-1042")
    )
    assert result.gate is not None, result.error
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        console.sign_in(page, "reviewer")
        page.goto(f"{console.url}/gates/{result.gate.gate_id}")
        for image in page.get_by_role("img").all():
            page.wait_for_function(
                "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
            )
        expect(page.get_by_role("button", name="Approve")).to_be_visible()
        page.screenshot(path=str(PICTURE), full_page=True)
    finally:
        context.close()
    assert PICTURE.stat().st_size < 300_000, PICTURE.stat().st_size
