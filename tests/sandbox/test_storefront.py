"""Storefront Admin in real Chromium: orders, the refund dialog, restock, timeline comments."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from sandbox.testing import SandboxServer, login, quick_login

FLAVOR = "storefront"


def open_order(page: Page, sandbox: SandboxServer, case: str, index: int = 0):
    order = sandbox.find_orders(FLAVOR, case)[index]
    quick_login(page, sandbox, FLAVOR, then=order.url_path)
    return order


@pytest.mark.parametrize(
    ("account", "password", "message"),
    [
        ("lead", "nope", "Incorrect email or password."),
        ("locked", None, "This account is locked."),
    ],
)
def test_login_refused(
    sandbox: SandboxServer, page: Page, account: str, password: str | None, message: str
) -> None:
    creds = sandbox.credentials(FLAVOR, account)
    page.goto(sandbox.url(FLAVOR, "/admin"))
    page.get_by_label("Email").fill(creds.username)
    page.get_by_label("Password").fill(password or creds.password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text(message)


def test_orders_tabs_search_pagination(sandbox: SandboxServer, page: Page) -> None:
    login(page, sandbox, FLAVOR)
    expect(page.get_by_role("heading", name="Orders", exact=True)).to_be_visible()
    expect(page.get_by_text("Showing 1-50 of 240 orders · Page 1 of 5")).to_be_visible()
    expect(page.get_by_role("link", name="#1240", exact=True)).to_be_visible()
    page.get_by_role("link", name="Next").click()
    expect(page.get_by_role("link", name="#1190", exact=True)).to_be_visible()
    page.get_by_role("link", name="Unfulfilled").click()
    statuses = page.locator("table tbody tr td:nth-child(6)").all_inner_texts()
    assert statuses and set(statuses) == {"Unfulfilled"}
    page.get_by_role("link", name="All", exact=True).click()
    page.get_by_label("Filter orders").fill("1005")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table tbody tr")).to_have_count(1)
    expect(page.get_by_role("link", name="#1005", exact=True)).to_be_visible()
    page.get_by_label("Filter orders").fill("#100")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table tbody tr")).to_have_count(9)  # #1001 … #1009


def test_order_page_with_fulfillment_loaded_later(sandbox: SandboxServer, page: Page) -> None:
    order = open_order(page, sandbox, "in_transit")
    expect(page.get_by_label("Order number")).to_have_text(order.order_id)
    expect(page.get_by_label("Payment status")).to_have_text("Paid")
    expect(page.get_by_label("Fulfillment status")).to_have_text("In transit")
    expect(page.get_by_label("Order total")).to_have_text(order.total_display)
    expect(page.get_by_label("Refundable amount")).to_have_text(order.refundable_display)
    expect(page.get_by_label("Customer", exact=True)).to_have_text(order.buyer_name)
    expect(page.get_by_label("Delivery status")).to_have_text("Out for delivery")


def test_refund_dialog_with_quantities_shipping_and_restock(
    sandbox: SandboxServer, page: Page
) -> None:
    order = next(o for o in sandbox.find_orders(FLAVOR, "delivered") if "multi_item" in o.cases)
    quick_login(page, sandbox, FLAVOR)
    page.goto(sandbox.url(FLAVOR, order.url_path))
    page.get_by_role("button", name="Refund", exact=True).click()
    dialog = page.get_by_role("dialog", name="Refund items")
    expect(dialog).to_be_visible()
    dialog.get_by_label(re.compile("^Quantity of ")).first.fill("1")
    computed = dialog.get_by_label("Refund amount").input_value()
    assert float(computed) > 0
    dialog.get_by_label("Restock items").uncheck()
    dialog.get_by_label("Reason for refund").select_option("damaged")
    dialog.get_by_role("button", name="Issue refund").click()
    expect(page.get_by_role("heading", name="Refund issued")).to_be_visible()
    refund_id = page.get_by_label("Refund ID").inner_text()
    assert re.fullmatch(r"\d{4}-R\d+", refund_id)
    [refund] = sandbox.ledger(FLAVOR)["refunds"]
    assert refund["refund_id"] == refund_id and refund["amount"] == computed
    assert refund["detail"]["restock"] is False
    assert sum(refund["detail"]["quantities"].values()) == 1
    page.get_by_role("link", name=f"← {order.order_id}").click()
    expect(page.get_by_label("Payment status")).to_have_text("Partially refunded")
    expect(page.get_by_text(f"was refunded ({refund_id})")).to_be_visible()


STOREFRONT_REFUND_ERRORS = [
    ("delivered", {"amount": "1.2.3", "reason": "other"}, "Enter a valid amount"),
    ("delivered", {"amount": "1.00"}, "Select a reason for the refund."),
    ("delivered", {"amount": "99999", "reason": "other"}, "exceeds the refundable amount"),
    (
        "delivered",
        {"shipping": "99999", "reason": "other", "amount": "1.00"},
        "Shipping refund cannot be more than",
    ),
    ("delivered", {"qty": "99", "reason": "other"}, "must be a whole number from 0 to"),
    (
        "cancelled",
        {"amount": "1.00", "reason": "other"},
        "This order cannot be refunded because it is canceled.",
    ),
    (
        "unpaid",
        {"amount": "1.00", "reason": "other"},
        "This order cannot be refunded because it is unpaid.",
    ),
]


def test_refund_dialog_validation(sandbox: SandboxServer, page: Page) -> None:
    """Each rule, one login: the page comes back with the dialog open and the error in it."""
    quick_login(page, sandbox, FLAVOR)
    shown = ""
    for case, fields, message in STOREFRONT_REFUND_ERRORS:
        order = sandbox.find_orders(FLAVOR, case)[0]
        if shown != order.order_id:  # after an error the dialog is open again on this order
            page.goto(sandbox.url(FLAVOR, order.url_path))
            page.get_by_role("button", name="Refund", exact=True).click()
            shown = order.order_id
        dialog = page.get_by_role("dialog")
        dialog.get_by_label(re.compile("^Quantity of ")).first.fill(fields.get("qty", "0"))
        dialog.get_by_label("Shipping refund").fill(fields.get("shipping", ""))
        dialog.get_by_label("Refund amount").fill(fields.get("amount", ""))
        dialog.get_by_label("Reason for refund").select_option(fields.get("reason", ""))
        dialog.get_by_role("button", name="Issue refund").click()
        expect(page.get_by_role("dialog").get_by_role("alert"), case).to_contain_text(message)
    assert sandbox.ledger(FLAVOR)["refunds"] == []


def test_timeline_comments(sandbox: SandboxServer, page: Page) -> None:
    order = open_order(page, sandbox, "delayed")
    page.get_by_label("Comment").fill("Asked the carrier for an update — 已联系快递")
    page.get_by_role("button", name="Post").click()
    expect(page.locator("#timeline-list li").first).to_contain_text(
        "lead@storefront.test: Asked the carrier for an update — 已联系快递"
    )
    assert [(n["order_id"], n["body"]) for n in sandbox.ledger(FLAVOR)["notes"]] == [
        (order.order_id, "Asked the carrier for an update — 已联系快递")
    ]
