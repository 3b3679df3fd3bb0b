"""MarketHub Seller Central in real Chromium: TOTP login, Manage Orders, refund review/confirm."""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import Page, expect

from sandbox.testing import SandboxServer, quick_login

FLAVOR = "markethub"


def sign_in(
    page: Page, sandbox: SandboxServer, account: str = "lead", password: str | None = None
) -> None:
    creds = sandbox.credentials(FLAVOR, account)
    page.goto(sandbox.url(FLAVOR, "/orders-v3"))
    page.get_by_label("Email or mobile phone number").fill(creds.username)
    page.get_by_label("Password").fill(password or creds.password)
    page.get_by_role("button", name="Sign in").click()


def test_login_with_totp(sandbox: SandboxServer, page: Page) -> None:
    sign_in(page, sandbox)
    expect(page.get_by_role("heading", name="Two-Step Verification")).to_be_visible()
    page.get_by_label("Enter OTP").fill("000000")
    page.get_by_role("button", name="Submit code").click()
    expect(page.get_by_role("alert")).to_have_text("The code you entered is not valid. Try again.")
    secret = sandbox.credentials(FLAVOR).totp_secret
    assert secret
    page.get_by_label("Enter OTP").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Submit code").click()
    expect(page.get_by_role("heading", name="Manage Orders")).to_be_visible()
    assert page.url.endswith("/orders-v3")


def test_half_logged_in_cannot_see_orders(sandbox: SandboxServer, page: Page) -> None:
    sign_in(page, sandbox)
    expect(page.get_by_label("Enter OTP")).to_be_visible()
    page.goto(sandbox.url(FLAVOR, "/orders-v3"))
    expect(page.get_by_role("heading", name="Two-Step Verification")).to_be_visible()


@pytest.mark.parametrize(
    ("account", "password", "message"),
    [
        ("lead", "wrong-password", "Incorrect email or password."),
        ("locked", None, "This account is locked."),
    ],
)
def test_login_refused(
    sandbox: SandboxServer, page: Page, account: str, password: str | None, message: str
) -> None:
    sign_in(page, sandbox, account, password)
    expect(page.get_by_role("alert")).to_contain_text(message)
    expect(page.get_by_label("Enter OTP")).to_have_count(0)


def test_manage_orders_search_filters_pagination(sandbox: SandboxServer, page: Page) -> None:
    quick_login(page, sandbox, FLAVOR)
    expect(page.get_by_text("Showing 1-15 of 240 orders · Page 1 of 16")).to_be_visible()
    page.get_by_label("Results per page").select_option("50")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("Page 1 of 5")).to_be_visible()
    page.get_by_role("link", name="Next").click()
    expect(page.get_by_text("Showing 51-100 of 240 orders · Page 2 of 5")).to_be_visible()

    page.get_by_label("Order status").select_option(label="Canceled")
    page.get_by_role("button", name="Search").click()
    cancelled = len([o for o in sandbox.find_orders(FLAVOR) if o.status == "cancelled"])
    expect(page.get_by_text(f"of {cancelled} orders")).to_be_visible()
    assert page.get_by_label("Order status").input_value() == "cancelled"

    target = sandbox.find_orders(FLAVOR, "lost")[0]
    page.get_by_label("Order status").select_option("all")
    page.get_by_label("Order search").fill(target.order_id)
    page.get_by_role("button", name="Search").click()
    expect(page.locator("table tbody tr")).to_have_count(1)
    page.get_by_label("Order search").fill(target.order_id[:7])
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name=target.order_id)).to_be_visible()
    thai = next(
        o
        for o in sandbox.find_orders(FLAVOR, "non_latin")
        if "ใ" in o.buyer_name or "ส" in o.buyer_name
    )
    page.get_by_label("Order search").fill(thai.buyer_name.split()[0])
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("cell", name=thai.buyer_name).first).to_be_visible()


def test_order_details_with_shipment_loaded_later(sandbox: SandboxServer, page: Page) -> None:
    order = sandbox.find_orders(FLAVOR, "lost")[0]
    quick_login(page, sandbox, FLAVOR)
    page.goto(sandbox.url(FLAVOR, "/orders-v3"))
    page.get_by_label("Order search").fill(order.order_id)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=order.order_id).click()
    expect(page.get_by_label("Order ID")).to_have_text(order.order_id)
    expect(page.get_by_label("Order status")).to_have_text("Shipped")
    expect(page.get_by_label("Grand total")).to_have_text(order.total_display)
    expect(page.get_by_label("Refundable amount")).to_have_text(order.refundable_display)
    expect(page.get_by_label("Shipment status")).to_have_text(
        "Parcel reported lost by carrier; investigation opened"
    )
    expect(page.get_by_label("Tracking ID")).to_have_text(re.compile(r"^[A-Z]{2}\d{10}$"))


def test_refund_review_then_confirm(sandbox: SandboxServer, page: Page) -> None:
    order = next(o for o in sandbox.find_orders(FLAVOR, "delivered") if "multi_item" in o.cases)
    quick_login(page, sandbox, FLAVOR, then=order.url_path)
    page.get_by_role("link", name="Refund order").click()
    expect(page.get_by_role("heading", name="Refund order")).to_be_visible()
    amounts = page.get_by_label(re.compile("^Amount to refund for "))
    reasons = page.get_by_label(re.compile("^Reason for "))
    amounts.nth(0).fill("3.00")
    reasons.nth(0).select_option("damaged")
    amounts.nth(1).fill("1.50")
    reasons.nth(1).select_option("wrong_item")
    page.get_by_role("button", name="Review refund").click()
    expect(page.get_by_role("heading", name="Review refund")).to_be_visible()
    expect(page.get_by_label("Total refund")).to_have_text(f"{order.currency} 4.50")
    assert sandbox.ledger(FLAVOR)["refunds"] == []  # the review step writes nothing
    page.get_by_role("button", name="Confirm refund").click()
    expect(page.get_by_role("heading", name="Refund initiated")).to_be_visible()
    refund_id = page.get_by_label("Refund ID").inner_text()
    [refund] = sandbox.ledger(FLAVOR)["refunds"]
    assert (refund["refund_id"], refund["amount"], refund["reason"]) == (
        refund_id,
        "4.50",
        "damaged",
    )
    assert [i["amount"] for i in refund["detail"]["items"]] == ["3.00", "1.50"]


MARKETHUB_REFUND_ERRORS = [
    ("delivered", "abc", "damaged", "Enter a valid amount, for example 12.50"),
    ("delivered", "", "damaged", "Enter an amount to refund for at least one item."),
    ("delivered", "99999", "damaged", "exceeds the item price"),
    ("delivered", "1.00", "", "Select a reason for"),
    ("unpaid", "1.00", "other", "This order cannot be refunded because it is Pending."),
    ("cancelled", "1.00", "other", "This order cannot be refunded because it is Canceled."),
    ("delivered", "2.00", "other", "The amount exceeds the refundable amount of"),
]


def test_refund_validation(sandbox: SandboxServer, page: Page) -> None:
    """Each server-side rule, one login; the last case first leaves only 1.00 refundable."""
    quick_login(page, sandbox, FLAVOR)
    for number, (case, amount, reason, message) in enumerate(MARKETHUB_REFUND_ERRORS):
        order = sandbox.find_orders(FLAVOR, case)[0]
        if number == len(MARKETHUB_REFUND_ERRORS) - 1:
            sandbox.mutate_order(
                FLAVOR, order.order_id, refund_amount=f"{float(order.total) - 1:.2f}"
            )
        page.goto(sandbox.url(FLAVOR, order.url_path + "/refund"))
        page.get_by_label(re.compile("^Amount to refund for ")).first.fill(amount)
        if reason:
            page.get_by_label(re.compile("^Reason for ")).first.select_option(reason)
        page.get_by_role("button", name="Review refund").click()
        expect(page.get_by_role("alert"), case).to_contain_text(message)
        expect(page.get_by_role("heading", name="Review refund")).to_have_count(0)
    assert [r["source"] for r in sandbox.ledger(FLAVOR)["refunds"]] == ["admin"]


def test_identical_refund_rejected_at_confirm(sandbox: SandboxServer, page: Page) -> None:
    order = sandbox.find_orders(FLAVOR, "delivered")[2]
    quick_login(page, sandbox, FLAVOR)
    for _ in range(2):
        page.goto(sandbox.url(FLAVOR, order.url_path + "/refund"))
        page.get_by_label(re.compile("^Amount to refund for ")).first.fill("1.00")
        page.get_by_label(re.compile("^Reason for ")).first.select_option("other")
        page.get_by_role("button", name="Review refund").click()
        page.get_by_role("button", name="Confirm refund").click()
    expect(page.get_by_role("alert")).to_contain_text("An identical refund")
    assert len(sandbox.ledger(FLAVOR)["refunds"]) == 1


def test_seller_notes(sandbox: SandboxServer, page: Page) -> None:
    order = sandbox.find_orders(FLAVOR, "delayed")[0]
    quick_login(page, sandbox, FLAVOR, then=order.url_path)
    page.get_by_label("Note", exact=True).fill("Opened carrier claim 4471")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_role("status").first).to_have_text("Your note was added.")
    expect(page.get_by_text("Opened carrier claim 4471")).to_be_visible()
    assert [n["body"] for n in sandbox.ledger(FLAVOR)["notes"]] == ["Opened carrier claim 4471"]


def test_session_expiry_fault(sandbox: SandboxServer, page: Page) -> None:
    sandbox.set_faults(FLAVOR, session_ttl=2)
    quick_login(page, sandbox, FLAVOR)
    expect(page.get_by_role("heading", name="Manage Orders")).to_be_visible()
    page.wait_for_timeout(2100)
    page.get_by_role("link", name="Next").click()
    expect(page.get_by_role("status")).to_have_text(
        "Your session has expired. Please sign in again."
    )
    expect(page.get_by_role("heading", name="Sign-In")).to_be_visible()


def test_open_refund_requests_filter_and_detail(sandbox: SandboxServer, page: Page) -> None:
    requested = sandbox.find_orders(FLAVOR, "return_requested")
    quick_login(page, sandbox, FLAVOR, then="/orders-v3?status=refund_requested&per_page=50")
    expect(page.get_by_text(f"of {len(requested)} orders")).to_be_visible()
    expect(page.get_by_label("Order status")).to_have_value("refund_requested")
    page.get_by_role("link", name=requested[0].order_id, exact=True).click()
    expect(page.get_by_label("Request status", exact=True)).to_have_text(
        re.compile("Awaiting your response|Partial refund offered")
    )
    expect(page.get_by_label("Requested amount", exact=True)).to_contain_text(requested[0].currency)
    delivered = sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    page.goto(sandbox.url(FLAVOR, delivered.url_path))
    expect(page.get_by_label("Order status", exact=True)).to_be_visible()
    expect(page.get_by_label("Request status", exact=True)).to_have_count(0)
