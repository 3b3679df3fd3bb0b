"""Timestamps and identifiers: UTC ISO 8601 with microseconds; sortable run and gate ids."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id(prefix: str = "") -> str:
    """`<prefix>20261126T045542-3f9a1c2b`: sorts by creation time, unique across processes."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{prefix}{stamp}-{secrets.token_hex(4)}"
