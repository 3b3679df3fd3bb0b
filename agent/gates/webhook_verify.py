"""Check a signed Aijia webhook on the receiving side. Standard library only: copy this file.

Aijia signs every webhook POST when `webhook.secret` is set (agent/gates/notify.py)::

    X-Aijia-Timestamp: 1767225600                      (Unix seconds when it was sent)
    X-Aijia-Delivery:  3f0c…                           (unique per POST; also in a JSON body)
    X-Aijia-Signature: v1=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>

A receiver::

    from webhook_verify import WebhookRejected, verify

    seen = set()  # or any set-like store shared by your workers (add / __contains__)

    def handle(headers, body: bytes):
        try:
            notice = verify(os.environ["AIJIA_WEBHOOK_SECRET"], headers, body, seen=seen)
        except WebhookRejected as exc:
            return 401, exc.reason
        ...notice["event"], notice["gate_id"], notice["link"]

Why each check: the signature proves the body came from someone holding the secret and was
not altered; the timestamp (signed with the body) bounds how long a captured request stays
usable (`tolerance_s`, both ways, so a clock far ahead is refused too); `seen` remembers the
signatures (and delivery ids) accepted within that window, so the same request sent again is
refused. The signature, not the delivery header, is what makes a replay recognisable: the
header is not signed, so a replay with a fresh delivery id still carries a seen signature.
Keep `seen` entries for at least `tolerance_s`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any, Protocol

TIMESTAMP = "X-Aijia-Timestamp"
SIGNATURE = "X-Aijia-Signature"
DELIVERY = "X-Aijia-Delivery"
SCHEME = "v1"


class SeenStore(Protocol):
    def __contains__(self, key: object) -> bool: ...
    def add(self, key: str) -> None: ...


class WebhookRejected(Exception):
    """The request is not a fresh, authentic Aijia notice. `reason` is one of: missing,
    malformed, bad_signature, too_old, too_new, replayed."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


def signature(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """The `X-Aijia-Signature` value for `body` sent at `timestamp`."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def verify(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: float = 300,
    seen: SeenStore | None = None,
    now: float | None = None,
) -> Any:
    """The parsed JSON notice when `body` is authentic, fresh and not seen before; else
    WebhookRejected saying why. Pass the raw body bytes, exactly as received."""
    stamp, given = _header(headers, TIMESTAMP), _header(headers, SIGNATURE)
    if not stamp or not given:
        raise WebhookRejected("missing", f"no {TIMESTAMP} or {SIGNATURE} header: not signed")
    try:
        sent = int(stamp)
    except ValueError:
        raise WebhookRejected(
            "malformed", f"{TIMESTAMP} {stamp[:40]!r} is not Unix seconds"
        ) from None
    candidates = [part.strip() for part in given.split(",") if part.strip().startswith("v1=")]
    expected = signature(secret, stamp, body)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise WebhookRejected("bad_signature", "the signature does not match the body")
    age = (time.time() if now is None else now) - sent
    if age > tolerance_s:
        raise WebhookRejected("too_old", f"sent {age:.0f}s ago (tolerance {tolerance_s:g}s)")
    if age < -tolerance_s:
        raise WebhookRejected("too_new", f"timestamp {-age:.0f}s in the future")
    delivery = _header(headers, DELIVERY)
    if seen is not None:
        if expected in seen or (delivery and f"delivery:{delivery}" in seen):
            raise WebhookRejected("replayed", f"delivery {delivery or '?'} was seen before")
        seen.add(expected)
        if delivery:
            seen.add(f"delivery:{delivery}")
    try:
        return json.loads(body)
    except ValueError:
        raise WebhookRejected("malformed", "the body is not JSON") from None
