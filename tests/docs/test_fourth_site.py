"""The fourth mini site (Kedai Back Office, sandbox/flavors/kedai.py), driven by recipes
written from the guide alone (recipes/kedai/): real Chromium, the real sandbox over HTTP.

What is new on this site: footer rows in the basket, a refunds table whose only row says
"No refunds yet", a money panel drawn by a script from the sandbox's CDN (a second origin the
site must allow), and labels that are plain row headers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from agent.core.states import RunState
from agent.recipes.model import load_recipe
from agent.recipes.order_schema import validate
from tests.docs.conftest import REPO, RUNNER

LOOKUP = REPO / "recipes" / "kedai" / "lookup_order.yaml"


def lookup(run: Any, aijia: Any, order_id: str) -> Any:
    return run(aijia.run(load_recipe(LOOKUP), {"order_id": order_id}, as_user=RUNNER))


def test_partially_refunded_sale_reads_items_without_footer_rows_and_its_refunds(
    run, sandbox, kedai_aijia, monkeypatch
):
    monkeypatch.setenv("AIJIA_RECIPES", str(REPO / "recipes"))
    order = sandbox.find_orders("kedai", "partially_refunded", limit=1)[0]
    detail = sandbox.order("kedai", order.order_id)
    assert detail["refunds"]
    result = lookup(run, kedai_aijia(), order.order_id)
    assert result.state is RunState.DONE, result.error
    out = result.outputs
    validate(out)  # the one order shape (agent/recipes/order_schema.py)
    assert out["order_id"] == order.order_id
    assert (out["status"], out["status_raw"]) == ("delivered", "Delivered")
    assert out["totals"]["total"] == {"amount": order.total, "currency": order.currency}
    assert out["totals"]["refundable"]["amount"] == order.refundable
    # the basket's Subtotal/Delivery/Total rows are not items
    assert out["items"] and all(i["sku"] and i["qty"] >= 1 for i in out["items"])
    assert not {"subtotal", "delivery", "total"} & {i["sku"].lower() for i in out["items"]}
    lines = sum(Decimal(i["total"]["amount"]) for i in out["items"])
    assert lines == Decimal(out["totals"]["subtotal"]["amount"])
    assert [r["refund_id"] for r in out["refunds"]] == [r["refund_id"] for r in detail["refunds"]]
    assert [r["amount"]["amount"] for r in out["refunds"]] == [
        r["amount"] for r in detail["refunds"]
    ]


def test_sale_without_refunds_reads_an_empty_list(run, sandbox, kedai_aijia, monkeypatch):
    monkeypatch.setenv("AIJIA_RECIPES", str(REPO / "recipes"))
    delivered = sandbox.find_orders("kedai", "delivered")
    order = next(o for o in delivered if "multi_item" in o.cases)
    result = lookup(run, kedai_aijia(), order.order_id)
    assert result.state is RunState.DONE, result.error
    assert result.outputs["refunds"] == []
    assert len(result.outputs["items"]) >= 2
    assert result.outputs["totals"]["refunded"]["amount"] == "0.00"


def test_without_the_cdn_in_allowed_origins_the_money_panel_never_loads(
    run, sandbox, kedai_aijia, monkeypatch
):
    monkeypatch.setenv("AIJIA_RECIPES", str(REPO / "recipes"))
    order = sandbox.find_orders("kedai", "delivered", limit=1)[0]
    result = lookup(run, kedai_aijia(cdn=False), order.order_id)
    assert result.state is RunState.FAILED
    assert "allowed_origins" in (result.error or "")


def test_unknown_sale_fails_fast_with_a_plain_message(run, sandbox, kedai_aijia, monkeypatch):
    monkeypatch.setenv("AIJIA_RECIPES", str(REPO / "recipes"))
    aijia = kedai_aijia()
    known = sandbox.find_orders("kedai", "delivered", limit=1)[0]
    assert lookup(run, aijia, known.order_id).state is RunState.DONE  # signed in already
    result = lookup(run, aijia, "KD-0001-9999")
    assert result.state is RunState.FAILED
    assert "sale KD-0001-9999 not found on Kedai" in (result.error or "")
    # the `expect` after the search answered: no step waited for a link that never comes
    assert str(result.error_step) == "3", result.error
    assert "timeout" not in (result.error or "").lower()


def test_the_sales_list_has_a_tfoot_total_and_an_empty_state(sandbox):
    """The pages themselves, over HTTP: what the recipes above are written against."""
    creds = sandbox.credentials("kedai")
    with httpx.Client(base_url=sandbox.url("kedai"), follow_redirects=True) as client:
        page = client.get("/signin")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        client.post(
            "/signin",
            data={"csrf_token": token, "email": creds.username, "password": creds.password},
        )
        listing = client.get("/desk/sales")
        assert "<tfoot>" in listing.text and "Total on this page" in listing.text
        assert "No sales match" in client.get("/desk/sales", params={"find": "nothing"}).text
        sale = client.get(sandbox.find_orders("kedai", "delivered", limit=1)[0].url_path)
        assert f"{sandbox.cdn_url}/lib/vendor.bundle.js" in sale.text


def test_layout_v2_latency_and_5xx_faults(run, sandbox, kedai_aijia, monkeypatch):
    """Labels, roles and table structure only: the recipes survive the sandbox's layout v2
    (ids and classes renamed), slow answers and one request in five failing with HTTP 500."""
    monkeypatch.setenv("AIJIA_RECIPES", str(REPO / "recipes"))
    sandbox.set_faults("kedai", layout="v2", latency=80, error_rate=0.2)
    aijia = kedai_aijia()
    for order in sandbox.find_orders("kedai", "delivered", limit=2):
        result = lookup(run, aijia, order.order_id)
        assert result.state is RunState.DONE, result.error
        assert result.outputs["totals"]["total"]["amount"] == order.total
