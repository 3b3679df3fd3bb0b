"""The order and refund building blocks for templates (agent/recipes/order_filters.py), used
as recipes use them: through the recipe template environment."""

from __future__ import annotations

from typing import Any

import pytest

from agent.core.errors import StepError
from agent.recipes.templating import environment, render_text

USD = "USD"
ITEMS = [
    {"sku": "A-1", "product": "Mug", "qty": 2, "price": {"amount": 7.5, "currency": USD}},
    {"sku": "B-2", "product": "Tee", "qty": 1, "price": {"amount": 19.99, "currency": USD}},
]
REFUNDS = [
    {"refund_id": "R1", "amount": {"amount": 0.1, "currency": USD}},
    {"refund_id": "R2", "amount": {"amount": 0.2, "currency": USD}},
]


def render(text: str, **scope: Any) -> Any:
    return render_text(text, {"items": ITEMS, "refunds": REFUNDS, **scope})


def test_money_strings_turns_every_money_value_into_decimal_text():
    out = render(
        "{{ {'total': {'amount': 12.5, 'currency': 'USD'}, 'items': items} | money_strings }}"
    )
    assert out["total"] == {"amount": "12.50", "currency": USD}
    assert [i["price"] for i in out["items"]] == [
        {"amount": "7.50", "currency": USD},
        {"amount": "19.99", "currency": USD},
    ]
    assert out["items"][0]["qty"] == 2  # not money: unchanged
    assert render("{{ none | money_strings }}") is None


def test_sum_money_adds_exactly_and_refuses_two_currencies():
    assert render("{{ refunds | sum_money('amount') }}") == {"amount": 0.3, "currency": USD}
    assert render("{{ [] | sum_money }}") == {"amount": 0.0, "currency": None}
    mixed = [{"amount": 1, "currency": "USD"}, {"amount": 1, "currency": "MYR"}]
    with pytest.raises(StepError, match="cannot add MYR and USD"):
        render("{{ mixed | sum_money }}", mixed=mixed)


def test_refundable_is_the_total_less_the_refunds_never_below_zero():
    total = {"amount": 10, "currency": USD}
    assert render("{{ total | refundable(refunds) }}", total=total) == {
        "amount": 9.7,
        "currency": USD,
    }
    assert render("{{ total | refundable(none) }}", total=total)["amount"] == 10.0
    over = [{"amount": {"amount": 11, "currency": USD}}]
    assert render("{{ total | refundable(over) }}", total=total, over=over)["amount"] == 0.0


def test_where_and_covering_pick_rows():
    assert [r["sku"] for r in render("{{ items | where('sku', 'B-2') }}")] == ["B-2"]
    assert render("{{ none | where('sku', 'B-2') }}") == []
    assert [r["sku"] for r in render("{{ items | covering('price', 10) }}")] == ["B-2"]
    assert [r["sku"] for r in render("{{ items | covering('price', '7.50') }}")] == ["A-1", "B-2"]
    assert render("{{ items | covering('price', 20) }}") == []


def test_money_formats_numbers_text_and_money():
    assert render("{{ 3 | money }}") == "3.00"
    assert render("{{ '4.5' | money }}") == "4.50"
    assert render("{{ {'amount': 2.25, 'currency': 'USD'} | money }}") == "2.25"


@pytest.mark.parametrize(
    ("raw", "total", "refunded", "status"),
    [
        ("Completed", 10, 0, "delivered"),
        ("completed ", 10, 4, "delivered"),  # partly refunded: still its lifecycle status
        ("Completed", 10, 10, "refunded"),
        ("Cancelled", 10, 10, "cancelled"),
        (["Paid", "In transit"], 10, 0, "shipped"),  # the first word the mapping knows
        (["Voided", "Canceled"], 10, 0, "cancelled"),
    ],
)
def test_order_status_maps_the_sites_words(raw: Any, total: int, refunded: int, status: str):
    mapping = {
        "Completed": "delivered",
        "Cancelled": "cancelled",
        "Voided": "cancelled",
        "In transit": "shipped",
    }
    text = "{{ raw | order_status(mapping, total, refunded) }}"
    got = render(text, raw=raw, mapping=mapping, total=total, refunded=refunded)
    assert got == status


def test_order_status_names_an_unknown_word():
    with pytest.raises(StepError, match="'On hold' is not in the recipe's mapping"):
        render("{{ 'On hold' | order_status({'Completed': 'delivered'}) }}")


def test_every_filter_says_what_it_does_in_its_first_line():
    from agent.recipes.order_filters import FILTERS

    for name in FILTERS:  # the recipe reference shows the first docstring line
        first = (environment().filters[name].__doc__ or "").strip().split("\n")[0]
        assert first.endswith(".") and len(first) <= 92, (name, first)
