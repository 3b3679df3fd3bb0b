"""Seller text made inert for a terminal: control characters are shown escaped, never sent.

Page text, buyer names, bound values and error messages come from seller sites, which are
hostile (DESIGN.md, "Trust boundary"). Printed raw, an ESC sequence can clear the reviewer's
screen or retitle the window, a carriage return can overwrite what was printed, a C1 CSI
(0x9b) is an ESC [ on some terminals, and a bidi override repaints text in another order.
`printable` shows each such character as a visible escape (`\\x1b`, `\\r`, `\\u202e`), so the
reviewer sees that it was there and nothing acts on it:

    >>> printable("Ann\\x1b[2J APPROVED")
    'Ann\\\\x1b[2J APPROVED'

Unsafe: C0 controls (tab and newline only where a multi-line field is printed), DEL, C1
controls, the Unicode bidi embeddings, overrides, isolates and marks, the line and paragraph
separators, and lone surrogates (which a terminal encoder would choke on).

`json_printable` does the same for JSON text: `json.dumps` escapes C0 controls but, with
`ensure_ascii=False`, writes DEL, C1 and bidi characters raw; this turns them into `\\uXXXX`
escapes, which parse back to the very same value.
"""

from __future__ import annotations

import re

_ALWAYS = (
    "\x00-\x08\x0b-\x1f"  # C0 but tab and newline: NUL, BEL, BS, VT, FF, CR, ESC …
    "\x7f-\x9f"  # DEL and C1 (0x9b is CSI, 0x9d OSC)
    "\u061c\u200e\u200f"  # bidi marks (ALM, LRM, RLM)
    "\u202a-\u202e"  # bidi embeddings and overrides (LRE, RLE, PDF, LRO, RLO)
    "\u2066-\u2069"  # bidi isolates (LRI, RLI, FSI, PDI)
    "\u2028\u2029"  # line and paragraph separators
    "\ud800-\udfff"  # lone surrogates
)
_UNSAFE_MULTILINE = re.compile(f"[{_ALWAYS}]")
_UNSAFE_LINE = re.compile(f"[\t\n{_ALWAYS}]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, multiline: bool = False) -> str:
    """`text` with every unsafe character shown as a visible escape.

    One-line values (a buyer name, a bound value) also show tab and newline escaped, so a
    value cannot fake a line of its own; `multiline=True` keeps them where a field is meant
    to span lines (an error message with its hint, a list of details).
    """
    pattern = _UNSAFE_MULTILINE if multiline else _UNSAFE_LINE
    return pattern.sub(_escape, text)


def json_printable(json_text: str) -> str:
    """JSON text (from `json.dumps`) with DEL, C1, bidi and separator characters written as
    `\\uXXXX` escapes: the same JSON value, with nothing a terminal would act on."""
    return _UNSAFE_MULTILINE.sub(lambda m: f"\\u{ord(m.group()):04x}", json_text)
