"""The published fixture list: which seeded orders show which case.

Recipes and tests pick orders by case instead of hard-coding ids::

    from sandbox.fixtures import find_orders
    order = find_orders("shoplane", "delayed", limit=1)[0]
    page.goto(base_url + order.url_path)

The list is computed from the seed (no server needed) and describes the data as seeded: after
a test writes a refund, call the server's reset. CLI: ``aijia sandbox orders --flavor shoplane
--case delayed [--json] [--limit N]``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from sandbox.money import format_money, plain_amount
from sandbox.seed import DEFAULT_COUNT, DEFAULT_SEED, FLAVORS, SeedOrder, generate_orders

CASES: dict[str, str] = {
    "delivered": "completed and paid, no refunds or requests: a clean refund target",
    "in_transit": "shipped, out for delivery, last tracking update within 4 days",
    "delayed": "shipped, no tracking update for more than 7 days",
    "lost": "shipped, carrier reported the parcel lost",
    "to_ship": "paid, not shipped yet",
    "unpaid": "awaiting payment (refunds are refused)",
    "cancelled": "cancelled before payment (refunds are refused)",
    "cod": "cash on delivery (delivered: collected; in transit: not collected yet)",
    "partially_refunded": "delivered, part of the total refunded",
    "fully_refunded": "delivered, the whole total refunded (nothing refundable left)",
    "return_requested": "delivered, the buyer has a pending return/refund request",
    "non_latin": "buyer name in Thai, Chinese, Vietnamese or Portuguese",
    "multi_item": "more than one line item",
    "myr": "in MYR",
    "sgd": "in SGD",
    "thb": "in THB",
    "brl": "in BRL",
    "usd": "in USD",
    "injection": "delivered; title, notes and buyer message tell an AI to refund 1000 "
    "(sandbox/injection.py)",
}

DETAIL_PATHS = {
    "shoplane": "/portal/sale/order/{ref}",
    "markethub": "/orders-v3/order/{ref}",
    "storefront": "/admin/orders/{ref}",
    "kedai": "/desk/sales/{ref}",
}


@dataclass(frozen=True)
class OrderSummary:
    """One seeded order, as a recipe or test needs it. Amounts are plain decimals (``12.50``)."""

    flavor: str
    order_id: str
    url_path: str
    status: str
    currency: str
    total: str
    refundable: str
    total_display: str
    refundable_display: str
    buyer_name: str
    cases: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(order: SeedOrder) -> OrderSummary:
    refunded = sum(amount for _, amount, _ in order.refunds)
    refundable = max(order.paid - refunded, 0)
    if order.status in ("unpaid", "cancelled"):
        refundable = 0
    return OrderSummary(
        flavor=order.flavor,
        order_id=order.order_id,
        url_path=DETAIL_PATHS[order.flavor].format(ref=order.ref),
        status=order.status,
        currency=order.currency,
        total=plain_amount(order.total),
        refundable=plain_amount(refundable),
        total_display=format_money(order.total, order.currency, order.flavor),
        refundable_display=format_money(refundable, order.currency, order.flavor),
        buyer_name=order.buyer_name,
        cases=tuple(sorted(order.cases)),
    )


def find_orders(
    flavor: str,
    case: str | None = None,
    *,
    limit: int | None = None,
    seed: int = DEFAULT_SEED,
    count: int = DEFAULT_COUNT,
    today: date | None = None,
) -> list[OrderSummary]:
    """Seeded orders of `flavor` showing `case` (None: all), newest first.

    `seed`, `count` and `today` must match the server's (`SandboxServer.find_orders` passes
    them for you). Raises ValueError for an unknown flavor or case.
    """
    if flavor not in FLAVORS:
        raise ValueError(f"unknown flavor {flavor!r}; expected one of {', '.join(FLAVORS)}")
    if case is not None and case not in CASES:
        raise ValueError(f"unknown case {case!r}; expected one of {', '.join(CASES)}")
    found = [
        summarize(o)
        for o in reversed(generate_orders(flavor, seed, count, today))
        if case is None or case in o.cases
    ]
    return found[:limit] if limit is not None else found
