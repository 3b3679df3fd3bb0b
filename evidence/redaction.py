"""Masking before anything is written: registered secrets everywhere, patterns in text.

Defence in depth: the runner masks secrets itself, and the store masks them again in every
event, run field, gate, approval and text artifact it writes. A secret is also masked in the
spellings it takes inside documents: HTML-escaped, JSON-escaped, URL-encoded and
quoted-printable (MHTML). Values are kept in memory only, never in the store.
"""

from __future__ import annotations

import html
import json
import quopri
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "******"

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


class Redactor:
    """Holds the secrets registered so far and the configured text patterns."""

    def __init__(
        self, patterns: Iterable[str] = (), custom_patterns: Mapping[str, str] | None = None
    ) -> None:
        self._secrets: set[str] = set()
        self._variants: list[str] = []
        self._patterns = [p for p in patterns if p in BUILTIN_PATTERNS]
        self._custom = [re.compile(rx) for rx in (custom_patterns or {}).values()]

    def register(self, value: str) -> None:
        if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
            return
        if value in self._secrets:
            return
        self._secrets.add(value)
        variants = {
            value,
            html.escape(value, quote=True),
            html.escape(value, quote=False),
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
            urllib.parse.quote(value, safe=""),
            urllib.parse.quote_plus(value, safe=""),
            quopri.encodestring(value.encode("utf-8")).decode("ascii").replace("=\n", ""),
        }
        # Longest first, so that a secret containing another is masked whole.
        self._variants = sorted(set(self._variants) | variants, key=len, reverse=True)

    @property
    def active(self) -> bool:
        """Are any secrets registered?"""
        return bool(self._variants)

    @property
    def has_patterns(self) -> bool:
        return bool(self._patterns or self._custom)

    def mask_text(self, text: str) -> str:
        """Mask registered secrets (every spelling) in a string."""
        for variant in self._variants:
            if variant in text:
                text = text.replace(variant, MASK)
        return text

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
        if not self._variants:
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

    def mask_bytes(self, content: bytes) -> bytes:
        """Binary artifacts: overwrite raw occurrences with the same number of '*' bytes.

        Same length keeps offsets inside the file valid; a secret inside compressed data is
        not visible here, which is why traces are unpacked and masked member by member.
        """
        for variant in self._variants:
            raw = variant.encode("utf-8")
            if raw in content:
                content = content.replace(raw, b"*" * len(raw))
        return content
