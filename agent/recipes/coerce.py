"""Turning text read from a page into values: text, int, number, money, date, bool.

Every coercion parses the whole text, exactly, or raises ValueError saying what it expected
and what it saw (the extract step adds the field and the step): `as: int` on "$58.00" is an
error, never 5800. The rules, for recipe writers (README, "Values read from pages"):

- int: digits with an optional sign, thousands optionally grouped by `,`, `.`, a space or
  `'` in groups of three ("1,234", "1 234 567"); "58.00", "1.234" (one dot: a decimal point?),
  "3 pcs" and "$5" are refused.
- number: like int, plus a decimal part. With both `,` and `.`, the later one is the decimal
  point ("1,234.56", "1.234,56"); a lone `,` followed by exactly three digits groups
  thousands ("1,234" is 1234), otherwise it is a decimal comma ("12,5"); a lone `.` is a
  decimal point ("1.234" is 1.234). No currency, unit or percent sign.
- money: a number with at most two decimals and at most one currency, as a symbol ($, RM,
  S$ …) or an ISO code, before or after it, or both when they agree ("RM1,234.50 MYR");
  negative with `-` or in parentheses. `{"amount": float, "currency": "USD" | None}`; a code
  wins over a symbol ("$" is many dollars).
- date: one of the known formats, or `format:` (strptime), the whole text.
- bool: yes/no, true/false, on/off, 1/0, y/n, checked/unchecked, ✓/✗.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

Coercion = Literal["text", "int", "number", "money", "date", "bool"]

_SYMBOLS = {
    "$": "USD",
    "US$": "USD",
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₹": "INR",
    "RM": "MYR",
    "S$": "SGD",
    "A$": "AUD",
    "C$": "CAD",
    "₩": "KRW",
    "₱": "PHP",
    "฿": "THB",
    "Rp": "IDR",
    "R$": "BRL",
}
_SYMBOL = "|".join(re.escape(s) for s in sorted(_SYMBOLS, key=len, reverse=True))
_CURRENCY = rf"(?:[A-Z]{{3}}|{_SYMBOL})"
_MONEY = re.compile(
    rf"(?P<sign>[-+\u2212])?\s?(?P<pre>{_CURRENCY})?\s?(?P<sign2>[-+\u2212])?\s?"
    rf"(?P<number>\d[\d.,' ]*\d|\d)\s?(?P<post>{_CURRENCY})?"
)
_NUMBER_TEXT = re.compile(r"(?P<sign>[-+\u2212])?\s?(?P<number>\d[\d.,' ]*\d|\d)")
_SEPARATOR = re.compile(r"([.,' ])")
_TRUE = frozenset({"yes", "true", "on", "1", "y", "✓", "✔", "checked"})
_FALSE = frozenset({"no", "false", "off", "0", "n", "✗", "✘", "unchecked"})

_DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%d %b %Y",
    "%d %B %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%d %b %Y %H:%M",
    "%b %d, %Y %H:%M",
    "%Y/%m/%d",
    "%d.%m.%Y",
)


def clean_text(text: str) -> str:
    return " ".join(text.split())


def coerce(text: str | None, how: Coercion, *, date_format: str | None = None) -> Any:
    """ValueError saying what was seen when the text is not what `how` expects."""
    if text is None:
        return None
    text = clean_text(text)
    if how == "text":
        return text
    if how == "int":
        return parse_int(text)
    if how == "number":
        return parse_number(text)
    if how == "money":
        return parse_money(text)
    if how == "date":
        return parse_date(text, date_format)
    if how == "bool":
        return parse_bool(text)
    raise ValueError(f"unknown coercion {how!r}")


def parse_int(text: str) -> int:
    """ "1,234" -> 1234; ValueError for anything but a whole number (see the module doc)."""
    expected = "an integer (digits, optionally grouped: 1,234)"
    match = _NUMBER_TEXT.fullmatch(clean_text(text))
    value = _decimal(match.group("number"), decimal_dot=False) if match else None
    if match is None or value is None or value != value.to_integral_value():
        raise ValueError(f"expected {expected}, saw {_shown(text)}")
    return _signed(int(value), match.group("sign"))


def parse_number(text: str) -> float:
    """ "1,234.5" -> 1234.5; ValueError unless the whole text is one number."""
    match = _NUMBER_TEXT.fullmatch(clean_text(text))
    value = _decimal(match.group("number")) if match else None
    if match is None or value is None:
        raise ValueError(f"expected a number (like 1234.5, 1,234.5 or 1.234,5), saw {_shown(text)}")
    return _signed(float(value), match.group("sign"))


def parse_money(text: str) -> dict[str, Any]:
    """ "RM1,234.50 MYR" -> {"amount": 1234.5, "currency": "MYR"}; ValueError unless the
    whole text is one amount with at most one currency (symbol, code, or both agreeing)."""
    cleaned = clean_text(text)
    negative = cleaned.startswith("(") and cleaned.endswith(")")
    body = cleaned[1:-1].strip() if negative else cleaned
    match = _MONEY.fullmatch(body)
    expected = "an amount of money (like $1,234.50, MYR 12.00 or 12,50 €)"
    value = _decimal(match.group("number")) if match else None
    if match is None or value is None:
        raise ValueError(f"expected {expected}, saw {_shown(text)}")
    signs = [s for s in (match.group("sign"), match.group("sign2")) if s]
    if len(signs) > 1 or (negative and signs):
        raise ValueError(f"expected {expected} with one sign, saw {_shown(text)}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError(
            f"expected {expected} with at most two decimals, saw {_shown(text)}",
        )
    currency = _currency(match.group("pre"), match.group("post"), text)
    amount = float(value)
    if negative or (signs and signs[0] in "-\u2212"):
        amount = -amount
    return {"amount": amount, "currency": currency}


def parse_bool(text: str) -> bool:
    word = clean_text(text).lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"expected yes/no, true/false, on/off, 1/0 or checked, saw {_shown(text)}")


def _currency(pre: str | None, post: str | None, text: str) -> str | None:
    """The ISO code of the currency written before and/or after the amount."""
    given = [c for c in (pre, post) if c]
    codes = [c for c in given if c not in _SYMBOLS]
    if len(set(codes)) > 1 or (len(given) == 2 and not codes and pre != post):
        raise ValueError(f"expected one currency, saw {_shown(text)}")
    if codes:
        return codes[0]  # a code wins over a symbol: "$" is many dollars
    return _SYMBOLS[given[0]] if given else None


def _decimal(number: str, *, decimal_dot: bool = True) -> Decimal | None:
    """The value of digits with grouping and decimal separators, or None when the separators
    do not follow the rules of the module doc. `decimal_dot=False` (int): a lone dot is
    refused rather than read as a decimal point or as grouping."""
    parts = _SEPARATOR.split(number)
    digits, seps = parts[0::2], parts[1::2]
    if not seps:
        return Decimal(number)
    marks = [s for s in seps if s in ",."]
    decimal: str | None = None
    if "," in marks and "." in marks:
        decimal = seps[-1]  # the later one is the decimal point
        if decimal not in ",." or marks.count(decimal) != 1:
            return None
    elif len(marks) == 1 and seps[-1] == marks[0]:
        mark = marks[0]
        if mark == "." and not decimal_dot:
            return None  # "1.234" as an integer: a decimal point or grouping? refuse
        if mark == "." or len(digits[-1]) != 3:
            decimal = mark
    whole, fraction = (digits[:-1], digits[-1]) if decimal else (digits, "")
    group_seps = seps[:-1] if decimal else seps
    if group_seps:
        if len(set(group_seps)) != 1 or decimal in group_seps:
            return None
        if not 1 <= len(whole[0]) <= 3 or any(len(g) != 3 for g in whole[1:]):
            return None
    return Decimal("".join(whole) + ("." + fraction if decimal else ""))


def _signed(value: Any, sign: str | None) -> Any:
    return -value if sign in ("-", "\u2212") else value


def _shown(text: str) -> str:
    """The text as quoted in an error: shortened, since it comes from a (hostile) page."""
    return repr(text if len(text) <= 80 else text[:77] + "...")


def parse_date(text: str, date_format: str | None = None) -> str:
    """ISO 8601 date (or date-time when the text has a time)."""
    formats = (date_format,) if date_format else _DATE_FORMATS
    if not date_format:
        # "2026-11-17 19:57:49 UTC" / "… GMT" / "…Z": a UTC time; keep it as ISO with +00:00
        utc = re.sub(r"\s*(UTC|GMT|Z)$", "", text.strip())
        if utc != text.strip():
            return parse_date(utc, None).replace("+00:00", "") + (
                "+00:00" if any(c in utc for c in ":") else ""
            )
    for fmt in formats:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        has_time = any(c in fmt for c in ("%H", "%M"))
        return parsed.isoformat() if has_time else parsed.date().isoformat()
    hint = f"format {date_format!r}" if date_format else "a known date format (or set `format`)"
    raise ValueError(f"expected a date in {hint}, saw {text!r}")
