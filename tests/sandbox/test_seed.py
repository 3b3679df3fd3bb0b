"""Seed data: deterministic, fast, covering every case; the fixture list; money formats."""

from __future__ import annotations

import time
from datetime import date

import pytest

from sandbox import db
from sandbox.accounts import ACCOUNTS
from sandbox.fixtures import CASES, find_orders
from sandbox.money import format_money, parse_amount
from sandbox.orders import ledger
from sandbox.seed import FLAVORS, generate_orders, seed_database

DAY = date(2026, 11, 26)


def _snapshot(conn) -> dict[str, list[tuple]]:
    tables = ("orders", "items", "events", "refunds", "notes", "return_requests")
    return {
        t: [tuple(r) for r in conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3")] for t in tables
    }


def test_same_seed_same_orders() -> None:
    one, two = db.connect(":memory:"), db.connect(":memory:")
    seed_database(one, seed=7, today=DAY)
    seed_database(two, seed=7, today=DAY)
    assert _snapshot(one) == _snapshot(two)
    other = db.connect(":memory:")
    seed_database(other, seed=8, today=DAY)
    assert _snapshot(other)["orders"] != _snapshot(one)["orders"]


def test_seeding_all_flavors_is_fast() -> None:
    conn = db.connect(":memory:")
    started = time.perf_counter()
    seed_database(conn, today=DAY)
    assert time.perf_counter() - started < 2.0
    counts = dict(conn.execute("SELECT flavor, COUNT(*) FROM orders GROUP BY flavor").fetchall())
    assert counts == {flavor: 240 for flavor in FLAVORS}


@pytest.mark.parametrize("flavor", FLAVORS)
def test_every_case_is_present(flavor: str) -> None:
    orders = generate_orders(flavor, today=DAY)
    for case in CASES:
        assert any(case in o.cases for o in orders), f"{flavor} has no {case} order"
    names = {o.buyer_name for o in orders}
    assert any("\u0e00" <= ch <= "\u0e7f" for n in names for ch in n), "no Thai name"
    assert any("\u4e00" <= ch <= "\u9fff" for n in names for ch in n), "no Chinese name"
    assert any("ễ" in n or "ầ" in n or "ư" in n or "Đ" in n for n in names), "no Vietnamese"
    assert any("ã" in n or "ç" in n for n in names), "no Portuguese name"


def test_order_id_formats() -> None:
    shoplane = generate_orders("shoplane", today=DAY)
    assert all(
        len(o.order_id) == 14 and o.order_id.isalnum() and o.order_id.isupper() for o in shoplane
    )
    markethub = generate_orders("markethub", today=DAY)
    assert all(len(o.order_id) == 19 and o.order_id[3] == "-" == o.order_id[11] for o in markethub)
    storefront = generate_orders("storefront", today=DAY)
    assert [o.order_id for o in storefront[:2]] == ["#1001", "#1002"]


def test_delayed_orders_are_stuck_for_more_than_a_week() -> None:
    for order in generate_orders("shoplane", today=DAY):
        if order.scenario == "delayed":
            age = DAY - order.events[-1][0].date()
            assert age.days > 7


def test_fixture_list_matches_the_seed() -> None:
    delayed = find_orders("markethub", "delayed", today=DAY)
    assert delayed and all("delayed" in o.cases and o.status == "shipping" for o in delayed)
    assert find_orders("markethub", "delayed", today=DAY, limit=2) == delayed[:2]
    refunded = find_orders("storefront", "fully_refunded", today=DAY)
    assert all(o.refundable == "0.00" for o in refunded)
    assert find_orders("shoplane", "unpaid", today=DAY)[0].url_path.startswith(
        "/portal/sale/order/"
    )
    with pytest.raises(ValueError, match="unknown case"):
        find_orders("shoplane", "bogus")


def test_accounts_cover_lead_reviewer_locked() -> None:
    for flavor in FLAVORS:
        roles = {a.role for a in ACCOUNTS[flavor]}
        assert roles == {"lead", "reviewer", "locked"}
    assert all(a.totp_secret for a in ACCOUNTS["markethub"])


def test_ledger_lists_only_what_was_written_since_the_seed() -> None:
    from sandbox.orders import add_note, create_refund, get_order

    conn = db.connect(":memory:")
    seed_database(conn, today=DAY)
    assert ledger(conn, "shoplane") == {
        "flavor": "shoplane",
        "refunds": [],
        "notes": [],
        "return_requests": [],
    }
    assert ledger(conn, "shoplane", include_seed=True)["refunds"]
    target = find_orders("shoplane", "delivered", today=DAY, limit=1)[0]
    order = get_order(conn, "shoplane", order_id=target.order_id)
    assert order is not None
    refund_id = create_refund(conn, order, 150, "damaged", actor="lead@shoplane.test")
    add_note(conn, order, "called the buyer", author="lead@shoplane.test")
    written = ledger(conn, "shoplane")
    assert [
        (r["refund_id"], r["order_id"], r["amount"], r["reason"]) for r in written["refunds"]
    ] == [(refund_id, target.order_id, "1.50", "damaged")]
    assert [n["body"] for n in written["notes"]] == ["called the buyer"]
    assert ledger(conn, "markethub")["refunds"] == []


def test_money_formats_and_parsing() -> None:
    assert format_money(12050, "MYR") == "MYR 120.50"
    assert format_money(123456789, "THB", "markethub") == "THB 1,234,567.89"
    assert format_money(9990, "BRL", "storefront") == "R$99.90 BRL"
    assert parse_amount("1,234.5") == 123450
    assert parse_amount(" 12 ") == 1200
    for bad in ("", "abc", "1.234", "-5", "12,34", "1e3"):
        with pytest.raises(ValueError):
            parse_amount(bad)


def test_in_transit_orders_moved_recently() -> None:
    for order in generate_orders("storefront", today=DAY):
        if order.scenario == "in_transit":
            assert (DAY - order.events[-1][0].date()).days <= 4
