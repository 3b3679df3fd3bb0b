"""Bad input over plain HTTP gets what a real seller center answers, never a stack trace."""

from __future__ import annotations

import httpx
import pytest

from sandbox.testing import SandboxServer
from tests.sandbox.conftest import LOGIN_PATHS, csrf_of, http_login

FLAVORS = ("shoplane", "markethub", "storefront")
REFUND_POSTS = {
    "shoplane": ("{path}/refund", {"amount": "{amount}", "reason": "damaged"}),
    "markethub": ("{path}/refund/confirm", {"amount_1": "{amount}", "reason_1": "damaged"}),
    "storefront": ("{path}/refunds", {"amount": "{amount}", "reason": "damaged"}),
}
FETCHED = {
    "shoplane": "/api/v3/order/{ref}/tracking",
    "markethub": "/api/orders/{ref}/shipment",
    "storefront": "/api/admin/orders/{ref}/fulfillment",
}
MISSING = {
    "shoplane": "/portal/sale/order/2611260000NONE",
    "markethub": "/orders-v3/order/999-0000000-0000000",
    "storefront": "/admin/orders/123",
}


def no_trace(response: httpx.Response) -> None:
    assert "Traceback" not in response.text
    assert 'File "' not in response.text


def refund_post(flavor: str, path: str, amount: str) -> tuple[str, dict[str, str]]:
    url, fields = REFUND_POSTS[flavor]
    return url.format(path=path), {k: v.format(amount=amount) for k, v in fields.items()}


@pytest.mark.parametrize("flavor", FLAVORS)
def test_unknown_order_is_a_404_page(sandbox: SandboxServer, flavor: str, client_for) -> None:
    client = client_for(flavor)
    response = client.get(MISSING[flavor])
    assert response.status_code == 404
    assert "<h1>Page not found</h1>" in response.text
    no_trace(response)
    assert client.get("/no/such/page").status_code == 404


@pytest.mark.parametrize("flavor", FLAVORS)
def test_malformed_amount_is_a_form_error(sandbox: SandboxServer, flavor: str, client_for) -> None:
    client = client_for(flavor)
    order = sandbox.find_orders(flavor, "delivered")[0]
    page = client.get(order.url_path)
    url, data = refund_post(flavor, order.url_path, "12,34.x")
    response = client.post(url, data={**data, "csrf_token": csrf_of(page.text)})
    assert response.status_code == 422
    assert 'role="alert"' in response.text
    assert "Enter a valid amount, for example 12.50" in response.text
    no_trace(response)
    assert sandbox.ledger(flavor)["refunds"] == []


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("token", [None, "forged"])
def test_missing_or_wrong_csrf_is_a_403_page(
    sandbox: SandboxServer, flavor: str, token: str | None, client_for
) -> None:
    client = client_for(flavor)
    order = sandbox.find_orders(flavor, "delivered")[0]
    url, data = refund_post(flavor, order.url_path, "1.00")
    if token:
        data["csrf_token"] = token
    response = client.post(url, data=data)
    assert response.status_code == 403
    assert "<h1>Request blocked</h1>" in response.text
    no_trace(response)
    assert sandbox.ledger(flavor)["refunds"] == []


@pytest.mark.parametrize("flavor", FLAVORS)
def test_login_without_csrf_is_refused(sandbox: SandboxServer, flavor: str) -> None:
    creds = sandbox.credentials(flavor)
    response = httpx.post(
        sandbox.url(flavor, LOGIN_PATHS[flavor]),
        data={"email": creds.username, "password": creds.password},
    )
    assert response.status_code == 403
    no_trace(response)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_expired_session_redirects_to_login(
    sandbox: SandboxServer, flavor: str, client_for
) -> None:
    client = client_for(flavor)
    order = sandbox.find_orders(flavor, "delivered")[0]
    sandbox.expire_sessions(flavor)
    response = client.get(order.url_path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith(LOGIN_PATHS[flavor] + "?next=")
    assert "expired=1" in response.headers["location"]
    page = client.get(response.headers["location"])
    assert "Your session has expired. Please sign in again." in page.text
    ref = order.url_path.rsplit("/", 1)[1]
    api = client.get(FETCHED[flavor].format(ref=ref), follow_redirects=False)
    assert api.status_code == 401
    assert api.json()["message"] == "Your session has expired. Please sign in again."


def test_not_logged_in_goes_to_login_without_a_message(sandbox: SandboxServer) -> None:
    response = httpx.get(sandbox.url("markethub", "/orders-v3"))
    assert response.status_code == 303
    assert response.headers["location"] == "/ap/signin?next=%2Forders-v3"


def test_admin_endpoints_need_the_token(sandbox: SandboxServer) -> None:
    for path in ("/__sandbox/faults", "/__sandbox/reset", "/__sandbox/sessions/expire"):
        response = httpx.post(sandbox.url("shoplane", path), json={})
        assert response.status_code == 401
    assert httpx.get(sandbox.url("shoplane", "/__sandbox/ledger")).status_code == 200


def test_bad_fault_values_are_refused(sandbox: SandboxServer) -> None:
    headers = {"X-Sandbox-Token": sandbox.token}
    for body in ({"latency": -1}, {"error_rate": 2}, {"layout": "v3"}, {"nope": 1}):
        response = httpx.post(
            sandbox.url("shoplane", "/__sandbox/faults"), json=body, headers=headers
        )
        assert response.status_code == 400, body
    assert sandbox.info("shoplane")["faults"]["layout"] == "v1"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_mutate_order_changes_the_back_office(sandbox: SandboxServer, flavor: str) -> None:
    order = sandbox.find_orders(flavor, "delivered")[0]
    changed = sandbox.mutate_order(
        flavor, order.order_id, refund_amount=order.refundable, note="refunded by phone"
    )
    assert changed["refundable"] == "0.00"
    assert changed["refunds"][-1]["source"] == "admin"
    changed = sandbox.mutate_order(flavor, order.order_id, status="cancelled")
    assert changed["status"] == "cancelled"
    ledger = sandbox.ledger(flavor)
    assert [r["order_id"] for r in ledger["refunds"]] == [order.order_id]
    assert [n["body"] for n in ledger["notes"]] == ["refunded by phone"]
    sandbox.reset()
    assert sandbox.order(flavor, order.order_id)["status"] == "completed"
    assert sandbox.ledger(flavor)["refunds"] == []


def test_http_login_helper_works_for_every_flavor(sandbox: SandboxServer) -> None:
    for flavor in FLAVORS:
        http_login(sandbox, flavor).close()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_second_identical_refund_is_rejected(
    sandbox: SandboxServer, flavor: str, client_for
) -> None:
    client = client_for(flavor)
    order = sandbox.find_orders(flavor, "delivered")[3]
    url, data = refund_post(flavor, order.url_path, "1.00")
    token = csrf_of(client.get(order.url_path).text)
    first = client.post(url, data={**data, "csrf_token": token})
    assert first.status_code == 200 and "Refund ID" in first.text
    second = client.post(url, data={**data, "csrf_token": token})
    assert second.status_code == 422
    assert "An identical refund" in second.text
    no_trace(second)
    assert len(sandbox.ledger(flavor)["refunds"]) == 1
