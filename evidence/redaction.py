"""Masking before anything is written: registered secrets everywhere, patterns in text.

Defence in depth: the runner masks secrets itself, and the store masks them again in every
event, run field, gate, approval and artifact it writes. A secret is found in every spelling
it takes inside documents (`agent.core.spellings.SecretSpellings`: raw and latin-1 bytes, URL-,
HTML-, JSON-, JS-escaped, base64, UTF-16, quoted-printable), and password fields' values are
blanked in HTML whether or not a secret is registered for them. Values are kept in memory
only, never in the store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from agent.core.spellings import SecretSpellings

MASK = "******"
MASK_BYTES = MASK.encode("ascii")

# Shorter values would mask unrelated text ("1", "ab") and make trails unreadable; the runner
# masks short secrets by field, which it can do because it knows which field held one.
MIN_SECRET_LENGTH = 4

# Card numbers: 13-19 digits, optionally grouped by spaces or dashes, Luhn-checked so that
# order numbers are left alone. E-mail: the common shape. Phone: only formatted numbers (a
# leading + or separators), again so that plain order and tracking numbers survive.
_CARD = re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,4}"
    r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}|\d{3}[.-]\d{3}[.-]\d{4})(?!\w)"
)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _mask_cards(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        return MASK if 13 <= len(digits) <= 19 and luhn_ok(digits) else m.group(0)

    return _CARD.sub(repl, text)


BUILTIN_PATTERNS = ("card", "email", "phone")


# <input ... type=password ...>, attributes quoted or not; `=3D` is an `=` in quoted-printable
# (an MHTML that could not be decoded part by part).
_INPUT_TAG = re.compile(rb"""<input\b(?:[^>"']+|"[^"]*"|'[^']*')*>""", re.IGNORECASE)
_PASSWORD_TYPE = re.compile(
    rb"""[\s/]type\s*=(?:3[dD])?\s*(?:"\s*password\s*"|'\s*password\s*'|password\b)""",
    re.IGNORECASE,
)
_VALUE_ATTR = re.compile(
    rb"""([\s/]value\s*=(?:3[dD])?\s*)(?:"[^"]*"|'[^']*'|[^\s"'>]+)""", re.IGNORECASE
)


def blank_password_values(html: bytes) -> bytes:
    """`html` with the `value` of every `<input type=password>` emptied. Tags are found by
    their usual spellings (`<input`, `<INPUT`, `<Input`): Chromium's serializers write them
    in lower case; a literal search keeps this cheap on big pages."""
    starts = sorted(
        at for casing in (b"<input", b"<INPUT", b"<Input") for at in _find_all(html, casing)
    )
    if not starts:
        return html
    pieces, end = [], 0
    for at in starts:
        tag = _INPUT_TAG.match(html, at) if at >= end else None
        if tag is None or not _PASSWORD_TYPE.search(tag.group()):
            continue
        pieces += [html[end:at], _VALUE_ATTR.sub(rb'\1""', tag.group())]
        end = tag.end()
    return b"".join([*pieces, html[end:]]) if pieces else html


def _find_all(data: bytes, needle: bytes) -> list[int]:
    found, at = [], data.find(needle)
    while at >= 0:
        found.append(at)
        at = data.find(needle, at + 1)
    return found


class Redactor:
    """Holds the secrets registered so far and the configured text patterns."""

    def __init__(
        self, patterns: Iterable[str] = (), custom_patterns: Mapping[str, str] | None = None
    ) -> None:
        self.spellings = SecretSpellings(min_length=MIN_SECRET_LENGTH)
        self._patterns = [p for p in patterns if p in BUILTIN_PATTERNS]
        self._custom = [re.compile(rx) for rx in (custom_patterns or {}).values()]

    def register(self, value: str) -> None:
        self.spellings.add(value)

    @property
    def active(self) -> bool:
        """Are any secrets registered?"""
        return bool(self.spellings)

    @property
    def has_patterns(self) -> bool:
        return bool(self._patterns or self._custom)

    def mask_text(self, text: str) -> str:
        """Mask registered secrets (every spelling) in a string."""
        return self.spellings.mask(text, MASK)

    def mask_patterns(self, text: str) -> str:
        """Mask the configured patterns (card, email, phone, custom) in a text artifact."""
        if "card" in self._patterns:
            text = _mask_cards(text)
        if "email" in self._patterns:
            text = _EMAIL.sub(MASK, text)
        if "phone" in self._patterns:
            text = _PHONE.sub(MASK, text)
        for rx in self._custom:
            text = rx.sub(MASK, text)
        return text

    def mask_data(self, value: Any) -> Any:
        """Mask secrets in a JSON-like structure: keys, strings, and numbers spelled as text."""
        if not self.spellings:
            return value
        if isinstance(value, str):
            return self.mask_text(value)
        if isinstance(value, Mapping):
            return {self.mask_text(str(k)): self.mask_data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask_data(v) for v in value]
        if isinstance(value, int | float) and not isinstance(value, bool):
            spelled = str(value)
            masked = self.mask_text(spelled)
            return value if masked == spelled else masked
        return value

    def mask_bytes(
        self, content: bytes, *, text: bool = False, quoted_printable: bool = False
    ) -> bytes:
        """Mask registered secrets (every spelling) in bytes.

        `text`: replace each with ******; otherwise with the same number of `*` bytes, which
        keeps offsets inside a binary file valid. A secret inside compressed data is not
        visible here, which is why traces and MHTML are unpacked and masked part by part.
        `quoted_printable` also finds `=XX` escapes (MHTML headers).
        """
        if not self.spellings:
            return content
        mask = MASK_BYTES if text else None
        return self.spellings.mask_bytes(content, mask, quoted_printable=quoted_printable)


# ------------------------------------------------------------------ sessions in traces and HARs

SESSION_HEADERS = frozenset(
    {"cookie", "set-cookie", "set-cookie2", "authorization", "proxy-authorization"}
)
# Other names that carry session material: X-CSRF-Token, X-Api-Key, X-Auth-Token, X-Session-Id,
# and form fields or storage keys named like a password or a token.
_SESSION_NAME = re.compile(r"cookie|auth|token|session|secret|passw|api.?key|csrf|xsrf", re.I)
_STORAGE_KEYS = frozenset({"cookies", "localStorage", "sessionStorage"})
MIN_SESSION_VALUE = 8  # shorter cookie values ("1", "en") are masked in place, not everywhere


def is_session_name(name: str) -> bool:
    """Is a header, cookie or field of this name session material?"""
    return name.lower() in SESSION_HEADERS or bool(_SESSION_NAME.search(name))


class SessionScrubber:
    """Strips session material from a trace's or a HAR's JSON, in place: the values of session
    headers (Cookie, Set-Cookie, Authorization, ...), of every cookie and web-storage entry
    (network entries, storage states, `addCookies` calls), of HTTP credentials, and of password
    fields in DOM snapshots. The values it strips are kept in `values`, so that they can be
    masked wherever else they occur (a page may echo a session id)."""

    def __init__(self) -> None:
        self.values: set[str] = set()

    def scrub(self, value: Any, key: str | None = None) -> bool:
        """Scrub `value` (a parsed JSON document) in place; True when anything changed."""
        changed = False
        if isinstance(value, dict):
            name = value.get("name")
            named = isinstance(name, str) and isinstance(value.get("value"), str)
            if named and (key in _STORAGE_KEYS or is_session_name(str(name))):
                changed |= self._strip(value, "value", str(name))
            if key == "httpCredentials" and isinstance(value.get("password"), str):
                changed |= self._strip(value, "password", "password")
            for k, v in value.items():
                if isinstance(v, dict | list):
                    if k in ("headers", "extraHTTPHeaders") and isinstance(v, dict):
                        changed |= self._header_map(v)
                    else:
                        changed |= self.scrub(v, k)
                elif isinstance(v, str) and ("<input" in v or "<INPUT" in v):
                    blanked = blank_password_values(v.encode("utf-8", "surrogatepass"))
                    text = blanked.decode("utf-8", "surrogatepass")
                    if text != v:
                        value[k], changed = text, True
        elif isinstance(value, list):
            changed |= _blank_snapshot_password(value)
            for item in value:
                if isinstance(item, dict | list):
                    changed |= self.scrub(item, key)
        return changed

    def _header_map(self, headers: dict[str, Any]) -> bool:
        changed = False
        for name, value in headers.items():
            if isinstance(value, str) and is_session_name(name):
                changed |= self._strip(headers, name, name)
        return changed

    def _strip(self, holder: dict[str, Any], field: str, name: str) -> bool:
        value = holder[field]
        if value == MASK:
            return False
        self._remember(name.lower(), value)
        holder[field] = MASK
        return True

    def _remember(self, name: str, value: str) -> None:
        pieces = [value]
        for line in value.split("\n"):  # several Set-Cookie headers arrive joined by newlines
            if name == "cookie":
                pieces += [p.split("=", 1)[1] for p in line.split(";") if "=" in p]
            elif name.startswith("set-cookie"):
                pieces.append(line.split(";", 1)[0].split("=", 1)[-1])
            elif " " in line:  # "Bearer <token>", "Basic <credentials>"
                pieces.append(line.rsplit(" ", 1)[-1])
        self.values |= {p.strip() for p in pieces if len(p.strip()) >= MIN_SESSION_VALUE}

    def mask_values(self, content: bytes, *, text: bool) -> bytes:
        """Mask the stripped values (raw and URL-encoded) wherever they occur in `content`."""
        from urllib.parse import quote, unquote

        for value in sorted(self.values, key=len, reverse=True):
            for spelled in {value, quote(value, safe=""), unquote(value)}:
                raw = spelled.encode("utf-8", "surrogatepass")
                if len(raw) >= MIN_SESSION_VALUE and raw in content:
                    content = content.replace(raw, MASK_BYTES if text else b"*" * len(raw))
        return content


def _blank_snapshot_password(node: list[Any]) -> bool:
    """A Playwright DOM-snapshot node is `[TAG, {attributes}, children...]`; an INPUT of type
    password keeps its typed value in `value` or `__playwright_value_`."""
    if len(node) < 2 or not isinstance(node[0], str) or not isinstance(node[1], dict):
        return False
    attrs = node[1]
    if node[0].upper() != "INPUT" or str(attrs.get("type", "")).strip().lower() != "password":
        return False
    changed = False
    for name in ("value", "__playwright_value_"):
        if attrs.get(name):
            attrs[name], changed = "", True
    return changed
