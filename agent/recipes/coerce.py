"""Turning text read from a page into values: text, int, number, money, date.

Money is `{"amount": float, "currency": "USD"}`; amounts are rounded to cents, which is what
back offices show (comparisons like `inputs.amount <= refundable.amount` stay exact enough).
"""

from __future__ import annotations

import re
from datetime import datetime
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
_CODE = re.compile(r"\b([A-Z]{3})\b")
_NUMBER = re.compile(r"-?\d[\d.,\s\u00a0']*")

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
        digits = re.sub(r"[^\d-]", "", text)
        if not re.fullmatch(r"-?\d+", digits):
            raise ValueError(f"expected an integer, saw {text!r}")
        return int(digits)
    if how == "number":
        return parse_number(text)
    if how == "money":
        return parse_money(text)
    if how == "date":
        return parse_date(text, date_format)
    if how == "bool":
        return text.lower() in ("yes", "true", "on", "1", "✓", "checked")
    raise ValueError(f"unknown coercion {how!r}")


def parse_number(text: str) -> float:
    match = _NUMBER.search(text)
    if match is None:
        raise ValueError(f"expected a number, saw {text!r}")
    raw = re.sub(r"[\s\u00a0']", "", match.group()).rstrip(".,")
    if "," in raw and "." in raw:
        # the later separator is the decimal one: 1,234.56 or 1.234,56
        if raw.rfind(",") > raw.rfind("."):
            raw = raw.replace(".", "").replace(",", ".")
        else:
            raw = raw.replace(",", "")
    elif "," in raw:
        head, _, tail = raw.rpartition(",")
        raw = f"{head.replace(',', '')}.{tail}" if len(tail) in (1, 2) else raw.replace(",", "")
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"expected a number, saw {text!r}") from None


def parse_money(text: str) -> dict[str, Any]:
    amount = round(parse_number(text), 2)
    negative = text.strip().startswith("-") or text.strip().startswith("(")
    if negative and amount > 0:
        amount = -amount
    currency = None
    code = _CODE.search(text)
    if code:
        currency = code.group(1)
    else:
        for symbol in sorted(_SYMBOLS, key=len, reverse=True):
            if symbol in text:
                currency = _SYMBOLS[symbol]
                break
    return {"amount": amount, "currency": currency}


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
