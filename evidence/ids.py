"""Timestamps, ages and identifiers: UTC ISO 8601 with microseconds; sortable run ids."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

from agent.core.errors import InputError


def iso(moment: datetime) -> str:
    """`moment` as the store writes every time: UTC ISO 8601 with microseconds and a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now() -> str:
    return iso(datetime.now(UTC))


def new_id(prefix: str = "") -> str:
    """`<prefix>20261126T045542-3f9a1c2b`: sorts by creation time, unique across processes."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{prefix}{stamp}-{secrets.token_hex(4)}"


_AGE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """'180d', '12h', '2w', '30m', '45s' -> timedelta."""
    match = _AGE.match(text)
    if not match:
        raise InputError(
            f"cannot read the age {text!r}", hint="write a number and a unit: 180d, 12h, 2w, 30m"
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def cutoff_iso(age: timedelta, now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)) - age
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_since(text: str) -> str:
    """An age ('7d') or an ISO date/time ('2026-11-01') as a UTC ISO timestamp to compare."""
    if _AGE.match(text):
        return cutoff_iso(parse_age(text))
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"cannot read {text!r} as a date or an age",
            hint="write an ISO date (2026-11-01, 2026-11-01T08:00) or an age (7d, 12h)",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
