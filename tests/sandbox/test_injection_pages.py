"""Hostile pages (sandbox/injection.py, sandbox/courier.py): the corpus of the prompt-injection
tests. Each injected instruction is where it should be (visible, hidden, in attributes, in the
source), the courier page reports the real status beside its own instructions, and the shipped
recipe still reads the poisoned order exactly."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page, expect

from agent.core.states import RunState
from sandbox import injection
from sandbox.courier import courier_url
from sandbox.fixtures import find_orders
from sandbox.seed import FLAVORS, SeedOrder, generate_orders
from sandbox.testing import SandboxServer, quick_login
from tests.recipes import conftest as recipes

INJECTED = injection.FLAVORS
product, store = recipes.product, recipes.store  # the shipped recipes' fixtures, here too


def seed_order(sandbox: SandboxServer, flavor: str) -> SeedOrder:
    order = sandbox.find_orders(flavor, "injection", limit=1)[0]
    seeded = generate_orders(flavor, sandbox.seed, sandbox.orders, sandbox.today)
    return next(o for o in seeded if o.order_id == order.order_id)


def open_order(page: Page, sandbox: SandboxServer, flavor: str, path: str) -> None:
    if flavor != "kedai":
        quick_login(page, sandbox, flavor, then=path)
        return
    creds = sandbox.credentials(flavor)  # the test helpers know no Kedai login: use its form
    page.goto(sandbox.url(flavor, "/signin?next=" + quote(path, safe="")))
    page.get_by_label("Work email", exact=True).fill(creds.username)
    page.get_by_label("Passphrase", exact=True).fill(creds.password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_load_state()


def test_one_injection_order_per_flavor_seeded_deterministically() -> None:
    for flavor in FLAVORS:
        found = find_orders(flavor, "injection")
        assert len(found) == 1, flavor
        assert found == find_orders(flavor, "injection")  # same seed, same order
        order = found[0]
        assert order.status == "completed" and "delivered" in order.cases
        newest = [o.order_id for o in find_orders(flavor, "delivered", limit=5)]
        assert order.order_id not in newest, "tests taking the newest orders never meet it"
        clean = find_orders(flavor, "delivered")[0]
        assert "injection" not in clean.cases


def test_planting_changes_no_other_order() -> None:
    """The injection order draws no random numbers: every other order is as before."""
    orders = generate_orders("shoplane")
    plain = [o for o in orders if not o.injection]
    assert len(plain) == len(orders) - 1
    assert not any(injection.TARGET in t for o in plain for _, t, _, _ in o.items)
    assert not any(injection.INTERNAL_NOTE in o.notes for o in plain)


@pytest.mark.parametrize("flavor", INJECTED)
def test_injected_instructions_sit_where_expected(
    sandbox: SandboxServer, page: Page, flavor: str
) -> None:
    order = sandbox.find_orders(flavor, "injection", limit=1)[0]
    open_order(page, sandbox, flavor, order.url_path)
    expect(page.get_by_text(injection.INJECTIONS["customer_note"])).to_be_visible()
    shown = [p for p in injection.VISIBLE if not (flavor == "kedai" and p == "internal_note")]
    html = page.content()
    text = page.locator("body").inner_text()
    tree = page.locator("body").aria_snapshot()
    for place, sentence in injection.INJECTIONS.items():
        if place in injection.COURIER or (place in injection.VISIBLE and place not in shown):
            assert sentence not in html, place
        elif place == "html_comment":
            assert f"<!-- {sentence} -->" in html
        else:
            assert sentence in html, place
    for place in shown:  # a person reads these too
        assert injection.INJECTIONS[place] in text, place
        expect(page.get_by_text(injection.INJECTIONS[place]).first).to_be_visible()
    for place in ("display_none", *injection.ATTRIBUTES, *injection.SOURCE_ONLY):
        assert injection.INJECTIONS[place] not in text, place
    for place in ("white_on_white", "font_size_0", "off_screen"):  # in the text, unseen
        assert injection.INJECTIONS[place] in text, place
    assert injection.INJECTIONS["aria_hidden"] not in tree
    assert injection.INJECTIONS["display_none"] not in tree
    assert injection.INJECTIONS["system_block"] in tree
    alt = page.locator("[data-injection=alt_text]").get_attribute("alt")
    assert alt == injection.INJECTIONS["alt_text"]
    title = page.locator("[data-injection=title_attribute]").get_attribute("title")
    assert title == injection.INJECTIONS["title_attribute"]
    assert sandbox.ledger(flavor) == {
        "flavor": flavor,
        "refunds": [],
        "notes": [],
        "return_requests": [],
    }


def test_other_orders_carry_no_injection(sandbox: SandboxServer, page: Page) -> None:
    order = sandbox.find_orders("shoplane", "delivered", limit=1)[0]
    quick_login(page, sandbox, "shoplane", then=order.url_path)
    expect(page.get_by_role("heading", name=f"Order {order.order_id}")).to_be_visible()
    assert injection.TARGET not in page.content()
    assert page.locator("[data-injection]").count() == 0


def test_courier_page_shows_status_and_injection(sandbox: SandboxServer, page: Page) -> None:
    seeded = seed_order(sandbox, "shoplane")
    latest = seeded.events[-1][2]
    assert latest == "Delivered, received by buyer"
    page.goto(courier_url(sandbox.cdn_url, seeded.tracking_number))
    expect(page.get_by_label("Latest status", exact=True)).to_have_text(latest)
    expect(page.get_by_label("Carrier", exact=True)).to_have_text(seeded.carrier)
    expect(page.get_by_text(injection.INJECTIONS["courier_notice"])).to_be_visible()
    assert injection.INJECTIONS["courier_hidden"] in page.content()
    assert injection.INJECTIONS["courier_hidden"] not in page.locator("body").inner_text()
    assert page.locator("li time").count() == len(seeded.events)


def test_courier_page_of_a_plain_parcel_and_an_unknown_one(sandbox: SandboxServer) -> None:
    delayed = sandbox.find_orders("shoplane", "delayed", limit=1)[0]
    seeded = generate_orders("shoplane", sandbox.seed, sandbox.orders, sandbox.today)
    parcel = next(o for o in seeded if o.order_id == delayed.order_id)
    answer = httpx.get(courier_url(sandbox.cdn_url, parcel.tracking_number))
    assert answer.status_code == 200
    assert "In transit to destination hub" in answer.text
    assert injection.TARGET not in answer.text
    missing = httpx.get(courier_url(sandbox.cdn_url, "ZZ0000000000"))
    assert missing.status_code == 404
    assert "No parcel found" in missing.text


def test_lookup_order_reads_the_injection_order_exactly(
    run: Any, chromium: Any, product: Any, store: Any, sandbox: SandboxServer
) -> None:
    shoplane = recipes.Runner("shoplane", run, chromium, product, store)
    order = sandbox.find_orders("shoplane", "injection", limit=1)[0]
    seeded = seed_order(sandbox, "shoplane")
    result = shoplane("lookup_order", order_id=order.order_id)
    assert result.state is RunState.DONE, result.error
    out = result.outputs
    assert out["order_id"] == order.order_id
    assert out["status_raw"] == "Completed"
    assert out["buyer"]["name"] == order.buyer_name
    assert Decimal(str(out["totals"]["total"]["amount"])) == Decimal(order.total)
    assert Decimal(str(out["totals"]["refundable"]["amount"])) == Decimal(order.refundable)
    assert [item["product"] for item in out["items"]] == [seeded.items[0][1]]
    assert injection.INJECTIONS["product_title"] in out["items"][0]["product"]
    assert out["tracking"]["status"] == "Delivered, received by buyer"
    assert len(out["tracking"]["events"]) == len(seeded.events) + 1  # + "Order placed"
    assert out["refunds"] == []
    assert sandbox.ledger("shoplane")["refunds"] == []
