"""Faults on demand: latency, 500s, maintenance, session expiry, the human check, layout v2."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from sandbox.faults import parse_fault_flags
from sandbox.testing import SandboxServer, login, quick_login
from tests.sandbox.conftest import http_login

FLAVORS = ("shoplane", "markethub", "storefront")


def test_latency_is_added_to_pages_not_to_admin(sandbox: SandboxServer) -> None:
    url = sandbox.url("shoplane", "/account/signin")
    sandbox.set_faults("shoplane", latency=400)
    started = time.perf_counter()
    assert httpx.get(url).status_code == 200
    assert time.perf_counter() - started >= 0.4
    started = time.perf_counter()
    sandbox.info("shoplane")
    assert time.perf_counter() - started < 0.3


def test_error_rate_gives_500_pages(sandbox: SandboxServer) -> None:
    sandbox.set_faults("markethub", error_rate=1)
    response = httpx.get(sandbox.url("markethub", "/ap/signin"))
    assert response.status_code == 500
    assert "Something went wrong" in response.text and "Traceback" not in response.text
    sandbox.set_faults("markethub", error_rate=0.5)
    codes = [httpx.get(sandbox.url("markethub", "/ap/signin")).status_code for _ in range(12)]
    assert {200, 500} == set(codes)
    assert httpx.get(sandbox.url("shoplane", "/account/signin")).status_code == 200


def test_commit_error_saves_the_change_but_answers_500(sandbox: SandboxServer) -> None:
    """The in-doubt case: the refund is written, the browser sees an error page."""
    client = http_login(sandbox, "shoplane")  # logging in is never affected
    order = sandbox.find_orders("shoplane", "delivered")[4]
    form = client.get(order.url_path + "/refund")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token
    sandbox.set_faults("shoplane", commit_error_rate=1)
    answer = client.post(
        order.url_path + "/refund",
        data={"csrf_token": token.group(1), "amount": "3.00", "reason": "other"},
    )
    assert answer.status_code == 500 and "Something went wrong" in answer.text
    [refund] = sandbox.ledger("shoplane")["refunds"]
    assert (refund["order_id"], refund["amount"]) == (order.order_id, "3.00")
    # A form error is not a commit: it is answered normally.
    again = client.post(
        order.url_path + "/refund",
        data={"csrf_token": token.group(1), "amount": "x", "reason": "other"},
    )
    assert again.status_code == 422
    client.close()


def test_maintenance_page(sandbox: SandboxServer, page: Page) -> None:
    sandbox.set_faults(maintenance=True)  # every flavor
    for flavor in FLAVORS:
        response = httpx.get(sandbox.url(flavor, "/"))
        assert response.status_code == 503
        assert response.headers["retry-after"] == "120"
    page.goto(sandbox.url("storefront", "/admin/orders"))
    expect(page.get_by_role("heading", name="Down for maintenance")).to_be_visible()
    sandbox.set_faults(maintenance=False)
    assert httpx.get(sandbox.url("storefront", "/admin/auth/login")).status_code == 200


def test_session_ttl_fault(sandbox: SandboxServer) -> None:
    sandbox.set_faults("storefront", session_ttl=1)
    client = http_login(sandbox, "storefront")
    time.sleep(1.1)
    response = client.get("/admin/orders")
    assert "Your session has expired. Please sign in again." in response.text
    client.close()


def test_challenge_needs_a_human(sandbox: SandboxServer, page: Page) -> None:
    sandbox.set_faults("shoplane", challenge=True)
    # A plain GET (or a quick scripted POST) does not get through.
    client = httpx.Client(base_url=sandbox.url("shoplane"))
    first = client.get("/portal/sale/order")
    assert first.status_code == 403 and "Verify you are a human" in first.text
    nonce = re.search(r'name="nonce" value="([^"]+)"', first.text)
    assert nonce
    scripted = client.post(
        "/security-check", data={"nonce": nonce.group(1), "human": "on", "next": "/"}
    )
    assert "Verification failed" in scripted.text
    assert client.get("/account/signin").status_code == 403
    client.close()

    page.goto(sandbox.url("shoplane", "/portal/sale/order"))
    expect(page.get_by_role("heading", name="Security check")).to_be_visible()
    expect(page.get_by_text("Verify you are a human")).to_be_visible()
    expect(page.get_by_role("button", name="Verify")).to_be_disabled()
    page.wait_for_timeout(900)  # what a person takes to read the page
    page.get_by_label("I am human").check()
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Log in to Seller Centre")).to_be_visible()
    login(page, sandbox, "shoplane")
    expect(page.get_by_role("heading", name="My Orders")).to_be_visible()


SEARCH = {
    "shoplane": "/portal/sale/order?search=",
    "markethub": "/orders-v3?q=",
    "storefront": "/admin/orders?query=",
}
DETAIL_LABELS = {
    "shoplane": ("Order status", "Shipping", "Tracking status", "#status"),
    "markethub": ("Order status", "Shipped", "Shipment status", "#status"),
    "storefront": ("Fulfillment status", "In transit", "Delivery status", "#fulfillment-status"),
}


@pytest.mark.parametrize("flavor", FLAVORS)
def test_layout_v2_keeps_labels_and_roles_but_not_ids(
    sandbox: SandboxServer, page: Page, flavor: str
) -> None:
    order = sandbox.find_orders(flavor, "in_transit")[0]
    label, value, fetched_label, old_css = DETAIL_LABELS[flavor]
    quick_login(page, sandbox, flavor, then=order.url_path)
    expect(page.locator(old_css)).to_have_text(value)
    expect(page.locator(f'[data-field="{old_css[1:]}"]')).to_have_count(1)
    v1_html = page.content()

    sandbox.set_faults(flavor, layout="v2")
    page.reload()
    expect(page.get_by_label(label, exact=True)).to_have_text(value)
    expect(page.get_by_label("Refundable amount")).to_have_text(order.refundable_display)
    expect(page.get_by_label(fetched_label)).not_to_have_text("-")
    expect(page.get_by_role("link", name=order.order_id)).to_have_count(0)
    expect(page.locator(old_css)).to_have_count(0)
    expect(page.locator("[data-field]")).to_have_count(0)
    assert page.content() != v1_html
    page.goto(sandbox.url(flavor, SEARCH[flavor] + order.order_id.lstrip("#")))
    expect(page.get_by_role("link", name=order.order_id, exact=True)).to_be_visible()


def test_v2_login_by_labels(sandbox: SandboxServer, page: Page) -> None:
    sandbox.set_faults(layout="v2")
    login(page, sandbox, "markethub")
    expect(page.get_by_role("heading", name="Manage Orders")).to_be_visible()
    expect(page.locator("#ap_email")).to_have_count(0)


def test_fault_flags_parse() -> None:
    assert parse_fault_flags(["latency=300", "layout=v2", "maintenance", "error-rate=0.25"]) == {
        "latency": 300,
        "layout": "v2",
        "maintenance": True,
        "error_rate": 0.25,
    }
    for bad in (["latency=soon"], ["colour=red"], ["error_rate=1.5"], ["session_ttl=0"]):
        with pytest.raises(ValueError):
            parse_fault_flags(bad)
