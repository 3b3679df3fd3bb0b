"""Money as the seller centers show and read it. Amounts are integers in minor units.

Display formats (documented for recipe writers; every currency has two decimals):

- ShopLane and MarketHub: ISO code, a space, the amount with `,` thousands: ``MYR 1,234.50``.
- Storefront (Shopify style, "show currency codes"): symbol, amount, space, code:
  ``RM1,234.50 MYR``, ``S$12.00 SGD``, ``฿450.00 THB``, ``R$99.90 BRL``, ``$5.00 USD``.

Form inputs accept ``12``, ``12.5``, ``12.50`` and ``1,234.50``; anything else is a form error.
"""

from __future__ import annotations

import re

SYMBOLS = {"MYR": "RM", "SGD": "S$", "THB": "฿", "BRL": "R$", "USD": "$"}
_AMOUNT = re.compile(r"^\s*(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?\s*$")


def format_money(minor: int, currency: str, flavor: str = "shoplane") -> str:
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    number = f"{whole:,}.{cents:02d}"
    if flavor == "storefront":
        return f"{sign}{SYMBOLS.get(currency, '')}{number} {currency}"
    return f"{sign}{currency} {number}"


def plain_amount(minor: int) -> str:
    """The value to pre-fill in an input: ``1234.50``."""
    whole, cents = divmod(minor, 100)
    return f"{whole}.{cents:02d}"


def parse_amount(text: str) -> int:
    """``"1,234.5"`` -> 123450. Raises ValueError with a user-facing sentence."""
    match = _AMOUNT.match(text or "")
    if not match:
        raise ValueError("Enter a valid amount, for example 12.50")
    whole = int(match.group(1).replace(",", ""))
    cents = int((match.group(2) or "0").ljust(2, "0"))
    return whole * 100 + cents
