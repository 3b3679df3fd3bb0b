"""Template filters for orders and refunds: rows, sums of money, "still refundable", status.

Money read with `as: money` is `{"amount": 12.5, "currency": "USD"}` (a number, so recipes can
compare and add); what a recipe hands out (outputs, gate binds) carries amounts as decimal
strings, `{"amount": "12.50", "currency": "USD"}` (the order schema, docs/order-schema.md):
`money_strings` turns the first into the second. Every filter here takes money dicts, plain
numbers or decimal text alike, and refuses to add two currencies.

Registered by `agent.recipes.templating.environment` (FILTERS below); each filter's first
docstring line is its entry in the recipe reference.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")


def _amount(value: Any, what: str = "money") -> tuple[Decimal, str | None]:
    """(amount, currency) of a money dict, a number or decimal text."""
    currency = None
    if isinstance(value, Mapping):
        if "amount" not in value:
            raise ValueError(f"{what}: expected money ({{amount, currency}}), got {dict(value)!r}")
        currency = value.get("currency")
        value = value["amount"]
    if value is None or isinstance(value, bool):
        raise ValueError(f"{what}: expected an amount, got {value!r}")
    try:
        return Decimal(str(value).replace(",", "").strip()), currency
    except InvalidOperation:
        raise ValueError(f"{what}: expected an amount, got {value!r}") from None


def _money(amount: Decimal, currency: str | None) -> dict[str, Any]:
    return {"amount": float(amount.quantize(CENT, ROUND_HALF_UP)), "currency": currency}


def _one_currency(currencies: Iterable[str | None], what: str) -> str | None:
    known = {c for c in currencies if c}
    if len(known) > 1:
        raise ValueError(f"{what}: cannot add {' and '.join(sorted(known))}")
    return known.pop() if known else None


def money(value: Any) -> str:
    """An amount as text with two decimals ("12.50"): from a number, text or money."""
    if isinstance(value, Mapping):
        value = _amount(value, "money")[0]
    return f"{float(value):.2f}"


def money_strings(value: Any) -> Any:
    """Every money value inside a value, with its amount as decimal text ("12.50").

    Outputs and gate binds carry money this way (the order schema); lists and dicts are
    walked, other values pass through: `items | money_strings`.
    """
    if isinstance(value, Mapping):
        amount = value.get("amount")
        if set(value) == {"amount", "currency"} and not isinstance(amount, (str, type(None))):
            amount, currency = _amount(value)
            return {"amount": f"{amount.quantize(CENT, ROUND_HALF_UP)}", "currency": currency}
        return {key: money_strings(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [money_strings(item) for item in value]
    return value


def sum_money(values: Iterable[Any] | None, attribute: str | None = None) -> dict[str, Any]:
    """The sum of money values, or of one money column of rows; nothing sums to 0.

    `refunds | sum_money('amount')`; two currencies in one sum are an error.
    """
    total, currencies = Decimal(0), []
    for row in values or []:
        value = row.get(attribute) if attribute and isinstance(row, Mapping) else row
        if value is None:
            continue
        amount, currency = _amount(value, f"sum_money over {attribute or 'values'}")
        total += amount
        currencies.append(currency)
    return _money(total, _one_currency(currencies, "sum_money"))


def refundable(total: Any, refunds: Any = None, attribute: str = "amount") -> dict[str, Any]:
    """What is still refundable: a total less the refunds so far, never below 0.

    `total | refundable(refunds)`: refunds as rows with an `amount` column (or `attribute`),
    or as one money value (`total | refundable(refunded)`).
    """
    whole, currency = _amount(total, "refundable: the total")
    if isinstance(refunds, (list, tuple)):
        done = sum_money(refunds, attribute)
    else:
        done = sum_money([] if refunds is None else [refunds])
    paid, paid_currency = _amount(done)
    left = max(whole - paid, Decimal(0))
    return _money(left, _one_currency([currency, paid_currency], "refundable"))


def where(rows: Iterable[Any] | None, attribute: str, value: Any = True) -> list[Any]:
    """The rows whose `attribute` equals `value`: `items | where('sku', inputs.sku)`.

    No rows (or none) gives []; shorter than `selectattr(…, 'equalto', …) | list`.
    """
    return [row for row in rows or [] if isinstance(row, Mapping) and row.get(attribute) == value]


def covering(rows: Iterable[Any] | None, attribute: str, amount: Any) -> list[Any]:
    """The rows whose money `attribute` is at least `amount`: where a refund fits.

    `items | covering('proceeds', inputs.amount)`: the items a refund of that amount fits on.
    """
    wanted, _ = _amount(amount, "covering: the amount")
    found = []
    for row in rows or []:
        value = row.get(attribute) if isinstance(row, Mapping) else None
        if value is not None and _amount(value, f"covering: {attribute}")[0] >= wanted:
            found.append(row)
    return found


def order_status(
    raw: Any, mapping: Mapping[str, str], total: Any = None, refunded: Any = None
) -> str:
    """The order schema's status (pending, paid, shipped …) from the site's own words.

    `status | order_status({'Completed': 'delivered', …}, total, refunded)`: `raw` is a word
    or a list of words (the first the mapping knows wins, case-insensitively); "refunded"
    once `refunded` covers `total` (unless cancelled). A word the mapping does not know is an
    error naming it: add it to the recipe's mapping.
    """
    words = [raw] if isinstance(raw, str) else list(raw or [])
    known = {str(key).strip().lower(): status for key, status in mapping.items()}
    keys = [w.strip().lower() for w in words if isinstance(w, str)]
    found = [known[key] for key in keys if key in known]
    if not found:
        raise ValueError(
            f"order_status: the site's status {' / '.join(map(str, words))!r} is not in the "
            f"recipe's mapping ({', '.join(map(str, mapping))}); add it"
        )
    status = found[0]
    if status != "cancelled" and total is not None and refunded is not None:
        whole, back = _amount(total)[0], _amount(refunded)[0]
        if whole > 0 and back >= whole:
            return "refunded"
    return status


FILTERS = {
    "money": money,
    "money_strings": money_strings,
    "sum_money": sum_money,
    "refundable": refundable,
    "where": where,
    "covering": covering,
    "order_status": order_status,
}
