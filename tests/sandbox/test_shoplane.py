"""ShopLane Seller Centre in real Chromium: login, orders, detail, refunds, returns, notes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from sandbox.testing import SandboxServer, login, quick_login

FLAVOR = "shoplane"


def open_order(page: Page, sandbox: SandboxServer, case: str, index: int = 0) -> str:
    order = sandbox.find_orders(FLAVOR, case)[index]
    quick_login(page, sandbox, FLAVOR, then=order.url_path)
    return order.order_id


def test_login_lands_on_orders_and_logout(sandbox: SandboxServer, page: Page) -> None:
    login(page, sandbox, FLAVOR)
    expect(page.get_by_role("heading", name="My Orders")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_have_text("You have been signed out.")


@pytest.mark.parametrize(
    ("account", "password", "message"),
    [
        ("lead", "not-the-password", "Incorrect email or password."),
        ("locked", None, "This account is locked. Contact your store administrator to unlock it."),
    ],
)
def test_login_refused(
    sandbox: SandboxServer, page: Page, account: str, password: str | None, message: str
) -> None:
    creds = sandbox.credentials(FLAVOR, account)
    page.goto(sandbox.url(FLAVOR, "/portal/sale/order"))
    page.get_by_label("Email").fill(creds.username)
    page.get_by_label("Password").fill(password or creds.password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text(message)
    expect(page.get_by_role("heading", name="My Orders")).to_have_count(0)


def test_five_wrong_passwords_lock_the_account(sandbox: SandboxServer, page: Page) -> None:
    creds = sandbox.credentials(FLAVOR, "reviewer")
    page.goto(sandbox.url(FLAVOR, "/"))
    for _ in range(5):
        page.get_by_label("Email").fill(creds.username)
        page.get_by_label("Password").fill("wrong")
        page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("This account is locked")
    page.get_by_label("Email").fill(creds.username)
    page.get_by_label("Password").fill(creds.password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("This account is locked")


def test_search_exact_and_partial(sandbox: SandboxServer, page: Page) -> None:
    target = sandbox.find_orders(FLAVOR, "delayed")[0]
    quick_login(page, sandbox, FLAVOR)
    page.get_by_label("Search orders").fill(target.order_id)
    page.get_by_role("button", name="Search", exact=True).click()
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    page.get_by_role("link", name=target.order_id, exact=True).click()
    expect(page.get_by_label("Order ID")).to_have_text(target.order_id)

    page.goto(sandbox.url(FLAVOR, "/portal/sale/order"))
    prefix = target.order_id[:6]
    page.get_by_label("Search orders").fill(prefix)
    page.get_by_role("button", name="Search", exact=True).click()
    links = page.get_by_role("link", name=re.compile(f"^{prefix}"))
    assert links.count() >= 1
    expect(page.get_by_role("link", name=target.order_id)).to_have_count(1)

    page.get_by_label("Search orders").fill("no-such-order-xyz")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_text("No orders found.")).to_be_visible()


def test_status_tabs_and_pagination(sandbox: SandboxServer, page: Page) -> None:
    quick_login(page, sandbox, FLAVOR)
    expect(page.get_by_text(re.compile(r"Page 1 of 12"))).to_be_visible()
    page.get_by_role("link", name="Next").click()
    expect(
        page.get_by_text(re.compile(r"Showing 21-40 of 240 orders · Page 2 of 12"))
    ).to_be_visible()
    page.get_by_role("link", name="Previous").click()
    expect(page.get_by_text(re.compile(r"Page 1 of 12"))).to_be_visible()
    page.get_by_role("link", name="Cancelled", exact=True).click()
    status_cells = page.locator("table tbody tr td:nth-child(4)")
    expect(status_cells.first).to_have_text(re.compile(r"^Cancelled"))  # the tab has loaded
    statuses = status_cells.all_inner_texts()
    assert statuses and all(s.startswith("Cancelled") for s in statuses)
    page.get_by_role("link", name="Return/Refund").click()
    expected = len(sandbox.find_orders(FLAVOR, "return_requested"))
    expect(page.get_by_text(f"of {expected} orders")).to_be_visible()


def test_detail_with_tracking_loaded_later(sandbox: SandboxServer, page: Page) -> None:
    order = sandbox.find_orders(FLAVOR, "delayed")[0]
    quick_login(page, sandbox, FLAVOR)
    response = page.goto(sandbox.url(FLAVOR, order.url_path))
    assert response is not None and "Tracking status" not in response.text()
    expect(page.get_by_label("Order status")).to_have_text("Shipping")
    expect(page.get_by_label("Order total")).to_have_text(order.total_display)
    expect(page.get_by_label("Refundable amount")).to_have_text(order.refundable_display)
    expect(page.get_by_label("Buyer name")).to_have_text(order.buyer_name)
    for label in ("Payment method", "Shipping address", "Order date", "Refunded so far"):
        expect(page.get_by_label(label)).not_to_be_empty()
    expect(page.get_by_label("Tracking status")).to_have_text("In transit to destination hub")
    expect(page.get_by_label("Carrier")).not_to_have_text("Not shipped yet")
    expect(page.get_by_role("columnheader", name="SKU")).to_be_visible()


def test_refund_accepted(sandbox: SandboxServer, page: Page) -> None:
    order_id = open_order(page, sandbox, "delivered")
    page.get_by_role("button", name="Refund", exact=True).click()
    page.get_by_label("Refund amount").fill("5.00")
    page.get_by_label("Reason").select_option("damaged")
    page.get_by_role("button", name="Confirm refund").click()
    expect(page.get_by_role("heading", name="Refund submitted")).to_be_visible()
    refund_id = page.get_by_label("Refund ID").inner_text()
    assert re.fullmatch(r"RR\d{12}", refund_id)
    assert page.locator("[data-field=refund-id]").inner_text() == refund_id
    refunds = sandbox.ledger(FLAVOR)["refunds"]
    assert [
        (r["refund_id"], r["order_id"], r["amount"], r["reason"], r["created_by"]) for r in refunds
    ] == [(refund_id, order_id, "5.00", "damaged", "lead@shoplane.test")]
    page.get_by_role("link", name=f"Back to order {order_id}").click()
    expect(page.get_by_label("Refunded so far")).to_contain_text("5.00")
    expect(page.get_by_role("cell", name=refund_id)).to_be_visible()


SHOPLANE_REFUND_ERRORS = [
    ("delivered", "12,34", "damaged", "Enter a valid amount, for example 12.50"),
    ("delivered", "0", "damaged", "Enter an amount greater than 0."),
    ("delivered", "999999", "damaged", "The amount exceeds the refundable amount of"),
    ("delivered", "1.00", "", "Select a reason for the refund."),
    ("cancelled", "1.00", "other", "This order cannot be refunded because it is Cancelled."),
    ("unpaid", "1.00", "other", "This order cannot be refunded because it is Unpaid."),
    ("fully_refunded", "1.00", "other", "The amount exceeds the refundable amount of"),
]


def test_refund_validation(sandbox: SandboxServer, page: Page) -> None:
    """Each server-side rule, one login: the form comes back with the message, nothing written."""
    quick_login(page, sandbox, FLAVOR)
    for case, amount, reason, message in SHOPLANE_REFUND_ERRORS:
        order = sandbox.find_orders(FLAVOR, case)[0]
        page.goto(sandbox.url(FLAVOR, order.url_path + "/refund"))
        page.get_by_label("Refund amount").fill(amount)
        if reason:
            page.get_by_label("Reason").select_option(reason)
        page.get_by_role("button", name="Confirm refund").click()
        expect(page.get_by_role("alert"), case).to_contain_text(message)
    assert sandbox.ledger(FLAVOR)["refunds"] == []


def test_identical_second_refund_is_rejected(sandbox: SandboxServer, page: Page) -> None:
    open_order(page, sandbox, "delivered", 1)
    refund_url = page.url + "/refund"
    for _ in range(2):
        page.goto(refund_url)
        page.get_by_label("Refund amount").fill("2.00")
        page.get_by_label("Reason").select_option("wrong_item")
        page.get_by_role("button", name="Confirm refund").click()
    expect(page.get_by_role("alert")).to_contain_text("An identical refund")
    assert len(sandbox.ledger(FLAVOR)["refunds"]) == 1


def test_return_request_accept_and_offer(sandbox: SandboxServer, page: Page) -> None:
    order_id = open_order(page, sandbox, "return_requested", 0)
    expect(page.get_by_label("Request status")).to_have_text("Waiting for seller response")
    requested = page.get_by_label("Requested amount").inner_text()
    page.get_by_role("button", name="Accept request").click()
    expect(page.get_by_role("heading", name="Refund submitted")).to_be_visible()
    expect(page.get_by_label("Refund amount")).to_have_text(requested)

    other = sandbox.find_orders(FLAVOR, "return_requested")[1]
    page.goto(sandbox.url(FLAVOR, other.url_path))
    page.get_by_label("Offer amount").fill("1.00")
    page.get_by_role("button", name="Make an offer").click()
    expect(page.get_by_role("status").first).to_have_text("Offer sent to buyer.")
    expect(page.get_by_label("Your offer")).to_contain_text("1.00")
    ledger = sandbox.ledger(FLAVOR)
    assert [r["order_id"] for r in ledger["refunds"]] == [order_id]
    assert {(r["order_id"], r["status"]) for r in ledger["return_requests"]} == {
        (order_id, "refunded"),
        (other.order_id, "offered"),
    }


def test_internal_notes(sandbox: SandboxServer, page: Page) -> None:
    order_id = open_order(page, sandbox, "in_transit")
    page.get_by_role("button", name="Save note").click()
    expect(page.get_by_role("alert")).to_have_text("Write a note before saving.")
    page.get_by_label("Add note").fill("Buyer called: parcel is a gift — ส่งด่วน")
    page.get_by_role("button", name="Save note").click()
    expect(page.get_by_text("Note saved.")).to_be_visible()
    expect(page.get_by_text("Buyer called: parcel is a gift — ส่งด่วน")).to_be_visible()
    notes = sandbox.ledger(FLAVOR)["notes"]
    assert [(n["order_id"], n["author"]) for n in notes] == [(order_id, "lead@shoplane.test")]


def test_expired_session_goes_back_to_login_then_returns(
    sandbox: SandboxServer, page: Page
) -> None:
    open_order(page, sandbox, "delivered")
    detail_url = page.url
    sandbox.expire_sessions(FLAVOR)
    page.reload()
    expect(page.get_by_role("status")).to_have_text(
        "Your session has expired. Please sign in again."
    )
    creds = sandbox.credentials(FLAVOR)
    page.get_by_label("Email").fill(creds.username)
    page.get_by_label("Password").fill(creds.password)
    page.get_by_role("button", name="Log in").click()
    assert page.url == detail_url
