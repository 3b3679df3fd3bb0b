"""The queue page in real Chromium: pending refunds prepared by lead against the sandbox, the
customer's ask (with seeded XSS) shown as text, the "Mine" filter as policy reads it, live
update without a reload, and nothing for a signed-out visitor."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Dialog, Page, expect

from tests.gates.conftest import FLAVOR
from tests.recipes.conftest import recipe

XSS_ASK = 'Refund please <script>alert(1)</script> and <img src=x onerror=alert(1)> "quoted" & done'


def _refund_for_case(console: Any, case_id: str, ask: str, amount: str) -> tuple[str, str]:
    """lead prepares a refund on the second delivered order for a case whose customer asked
    `ask`: (gate id, order id)."""
    gates = console.gates
    order = gates.sandbox.find_orders(FLAVOR, "delivered", limit=2)[1]
    gates._run(gates.aijia.open_case(case_id, channel="email", ask=ask))
    started = gates._run(
        gates.aijia.run(
            recipe(FLAVOR, "prepare_refund"),
            {"order_id": order.order_id, "amount": amount, "reason": "damaged"},
            as_user="lead",
            case=case_id,
        )
    )
    assert started.gate is not None and started.gate.gate_id, started.error
    return started.gate.gate_id, order.order_id


def _row(page: Page, gate_id: str) -> Any:
    return page.locator(f'#queue tbody tr[data-gate="{gate_id}"]')


def _sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()


def test_queue_shows_pending_refunds_with_the_ask_as_text_and_filters_mine(
    console: Any, page: Page
):
    plain = console.gates.refund(amount="1.50")
    xss_gate, _ = _refund_for_case(console, "C-XSS", XSS_ASK, "2.25")
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)

    currency = console.gates.view(plain.gate_id).needs.currency  # the order's (sandbox seed)
    assert currency and len(currency) == 3
    console.sign_in(page, "reviewer")
    rows = page.locator("#queue tbody tr")
    expect(rows).to_have_count(2)
    first, second = _row(page, plain.gate_id), _row(page, xss_gate)
    cells = first.locator("td")
    expect(cells.nth(0)).to_have_text(FLAVOR)  # site
    expect(cells.nth(1)).to_have_text("refund")
    expect(cells.nth(2)).to_have_text(f"1.50 {currency}")  # amount with its currency
    expect(cells.nth(5)).to_have_text("lead")  # who asked
    expect(cells.nth(6)).to_have_text("0 of 1")
    expect(second.locator("td").nth(2)).to_have_text(f"2.25 {currency}")
    expect(second.locator("td.ask")).to_have_text(XSS_ASK)  # as typed, literally
    link = first.get_by_role("link")
    expect(link).to_have_attribute("href", f"/gates/{plain.gate_id}")

    # and again once the live update has rebuilt the rows from /queue.json (with textContent)
    page.wait_for_timeout(4_000)
    expect(page.locator("#queue tbody tr")).to_have_count(2)
    expect(_row(page, xss_gate).locator("td.ask")).to_have_text(XSS_ASK)
    expect(page.locator("#queue img, #queue script")).to_have_count(0)
    assert dialogs == []

    page.get_by_role("link", name="Mine", exact=True).click()
    expect(page).to_have_url(console.url + "/?mine=1")
    expect(page.locator("#queue tbody tr[data-gate]")).to_have_count(2)
    mine = page.request.get(console.url + "/queue.json?mine=1").json()
    assert mine["mine"] is True and mine["count"] == 2
    assert {r["gate_id"] for r in mine["rows"]} == {plain.gate_id, xss_gate}

    # lead asked for both refunds and may approve neither: Mine is empty for lead
    _sign_out(page)
    console.sign_in(page, "lead")
    page.goto(console.url + "/?mine=1")
    expect(page.locator("#queue tbody tr[data-gate]")).to_have_count(0)
    expect(page.locator("#queue tbody")).to_contain_text("Nothing is waiting for you.")
    assert page.request.get(console.url + "/queue.json?mine=1").json()["count"] == 0
    page.goto(console.url + "/")
    expect(page.locator("#queue tbody tr[data-gate]")).to_have_count(2)  # All still lists them
    assert dialogs == []


def test_a_gate_prepared_while_the_queue_is_open_appears_without_reload(console: Any, page: Page):
    console.sign_in(page, "reviewer")
    expect(page.locator("#queue tbody")).to_contain_text("Nothing is waiting.")
    page.evaluate("window.stillTheSamePage = true")
    prepared = console.gates.refund(amount="3.00")
    expect(_row(page, prepared.gate_id)).to_be_visible(timeout=15_000)
    currency = console.gates.view(prepared.gate_id).needs.currency
    expect(_row(page, prepared.gate_id).locator("td").nth(2)).to_have_text(f"3.00 {currency}")
    expect(page.get_by_role("status")).to_have_text("1 waiting.")
    assert page.evaluate("window.stillTheSamePage") is True  # updated in place, not reloaded


def test_signed_out_visitors_see_nothing(console: Any, page: Page):
    console.gates.refund(amount="1.50")
    answer = page.request.get(console.url + "/?mine=1", max_redirects=0)
    assert answer.status == 303
    assert answer.headers["location"] == "/signin?next=%2F%3Fmine%3D1"
    live = page.request.get(console.url + "/queue.json")
    assert live.status == 401 and "rows" not in live.json()
    page.goto(console.url + "/")
    expect(page).to_have_url(console.url + "/signin?next=%2F")
    expect(page.locator("#queue")).to_have_count(0)
