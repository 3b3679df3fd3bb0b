"""Every spelling of a secret: how `SecretSpellings` finds a value wherever a page, a URL,
a script or a file puts it (see its docstring). The runner's `Masker`
(`agent.core.secrets`) and the evidence store's `Redactor` (`evidence.redaction`) both use it,
so what one masks the other masks too.
"""

from __future__ import annotations

import base64
import html.entities
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, AnyStr, Generic

MASK = "******"


# ------------------------------------------------------------------------------ spellings
#
# Regex sources are built per character, one branch per way a spelling starts. A secret is
# searched from its least common character on, with one pattern per branch of that character:
# each starts with a literal, which `re` finds at memchr speed (a pattern starting with a set
# of characters is ~10x slower). The characters before it are checked backwards in a small
# window. Measured: ~20 ms of CPU for 3 secrets in a 2 MB page (tests/evidence).

_BACKSLASH = r"\\\\*"  # a JS/JSON escape's backslash, itself escaped any number of times
_AMP = r"&(?:amp;)*"  # a character reference's ampersand, perhaps escaped again and again
_PCT = r"%(?:25)*"  # a percent-escape, perhaps percent-escaped again and again
_QP = r"=(?:3[dD])*"  # a quoted-printable escape (MHTML), perhaps encoded again
_ZEROS = "0{0,8}"  # leading zeros in a numeric reference
_MAX_SPELLING = 128  # bytes one character's spelling may take (window for the prefix)
_JS_SHORT = {"\n": "n", "\t": "t", "\r": "r", "\b": "b", "\f": "f", "\v": "v"}
_NO_IDENTITY_ESCAPE = frozenset("0123456789bfnrtvux\n\r\u2028\u2029\\")
_LONG_TEXT = 1 << 16  # longer str is masked as UTF-8 bytes
MIN_BASE64_FRAGMENT = 6  # shorter fragments would match unrelated base64 (images, hashes)
# How common a character is in pages, scripts and JSON (rough per-mille); the anchor is the
# secret's least common character. Anything not listed counts as rare.
_COMMON = {
    **dict.fromkeys(' <>"=/etaoinsr', 60),
    **dict.fromkeys("hldcum:.-_,;", 25),
    **dict.fromkeys("pfgwybv'()0123456789{}[]", 12),
    **dict.fromkeys("kxjqz#!?*|@$^~`ABCDEFGHIJKLMNOPQRSTUVWXYZ", 3),
    **dict.fromkeys("&%\\+", 80),  # they start escapes too
    " ": 100,  # a space is also `+`, and starts nothing specific
}
_NON_ASCII = 8  # UTF-8 lead and continuation bytes are common in non-English pages
_ESCAPE_STARTS = 40  # `&`, `%` and `\`: every character may start with one


def _hex(value: int, width: int = 0) -> str:
    """`value` in hex as regex source, each letter in either case."""
    digits = f"{value:0{width}x}"
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in digits)


def _literal(data: bytes) -> str:
    """Bytes as (ASCII) regex source for a bytes pattern."""
    return "".join(re.escape(chr(b)) if 0x20 < b < 0x7F else f"\\x{b:02x}" for b in data)


@cache
def _entity_names() -> dict[str, list[str]]:
    """Character -> the names of its character references (`quot`, `QUOT`, `amp`, ...)."""
    names: dict[str, list[str]] = {}
    for name, value in html.entities.html5.items():
        if len(value) == 1 and name.rstrip(";") not in names.get(value, []):
            names.setdefault(value, []).append(name.rstrip(";"))
    return names


def _byte_forms(ch: str) -> list[bytes]:
    """The bytes `ch` takes in UTF-8, windows-1252 (what browsers use for "latin-1") and
    ISO-8859-1."""
    forms = [ch.encode("utf-8", "surrogatepass")]
    for codec in ("cp1252", "latin-1"):
        try:
            data = ch.encode(codec)
        except UnicodeEncodeError:
            continue
        if data not in forms:
            forms.append(data)
    return forms


def _either(sources: Iterable[str]) -> str:
    unique = list(dict.fromkeys(sources))
    return unique[0] if len(unique) == 1 else f"(?:{'|'.join(unique)})"


def _char_branches(
    ch: str, as_bytes: bool, quoted_printable: bool = False
) -> list[tuple[str | None, str]]:
    """Regex sources for every spelling of one character, one branch per first character (a
    candidate position costs one dispatch, not one try per spelling), each starting with a
    literal: (the escape character it starts with, or None for the others, source)."""
    cp = ord(ch)
    forms = _byte_forms(ch)
    raw = [_literal(b) for b in forms] if as_bytes else [re.escape(ch)]
    names = [re.escape(name) for name in _entity_names().get(ch, [])]
    refs = _either([f"#(?:{_ZEROS}{cp}|[xX]{_ZEROS}{_hex(cp)})", *names]) + ";?"
    # what follows the escape's backslash(es)
    escaped = [f"u{_hex(cp, 4)}" if cp <= 0xFFFF else _surrogates(cp)]
    escaped += [r"u\{" + _ZEROS + _hex(cp) + r"\}", f"u0026{refs}"]  # `\u0026` + reference
    if cp < 0x100:
        escaped.append(f"x{_hex(cp, 2)}")
    if ch in _JS_SHORT:
        escaped.append(_JS_SHORT[ch])
    if ch not in _NO_IDENTITY_ESCAPE:  # `\"`, `\/`, `\'` and JS's `\p` for `p`
        escaped += [*raw, f"{_AMP}{refs}"]  # `\&quot;`: JSON inside an attribute
    # what follows the percent sign
    percent = [_PCT.join(_hex(b, 2) for b in data) for data in forms]
    if cp <= 0xFFFF:
        percent.append(f"[uU]{_hex(cp, 4)}")  # JavaScript's escape()
    else:
        high, low = _surrogate_pair(cp)
        percent.append(f"[uU]{_hex(high, 4)}{_PCT}[uU]{_hex(low, 4)}")
    if cp > 0x7F and len(forms) == 1:
        # a form posted in a legacy charset sends what that charset lacks as `&#NNNN;`
        percent.append(f"26{_PCT}23{_ZEROS}{cp}(?:{_PCT}3[bB])?")
    branches: list[tuple[str | None, str]] = [(None, r) for r in raw]
    branches += [("&", f"{_AMP}{refs}"), ("%", f"{_PCT}{_either(percent)}")]
    branches.append(("\\", f"{_BACKSLASH}{_either(escaped)}"))
    if ch == "\\":
        branches.append(("\\", r"\\\\+"))  # escaped, however often
    if quoted_printable:
        qp = _either(_QP.join(_hex(b, 2) for b in data) for data in forms)
        branches.append((None, _QP + qp))
    if ch == " ":
        branches.append((None, r"\+"))  # form encoding (quote_plus)
    return list(dict.fromkeys(branches))


def _char_source(ch: str, as_bytes: bool, quoted_printable: bool = False) -> str:
    return _either(source for _, source in _char_branches(ch, as_bytes, quoted_printable))


def _surrogate_pair(cp: int) -> tuple[int, int]:
    return 0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + ((cp - 0x10000) & 0x3FF)


def _surrogates(cp: int) -> str:
    high, low = _surrogate_pair(cp)
    return f"u{_hex(high, 4)}{_BACKSLASH}u{_hex(low, 4)}"


def _source(value: str, as_bytes: bool, quoted_printable: bool = False) -> str:
    return "".join(_char_source(ch, as_bytes, quoted_printable) for ch in value)


def _rarity(ch: str) -> int:
    if ord(ch) > 0x7F:
        return _NON_ASCII + _ESCAPE_STARTS
    return _COMMON.get(ch, 1) + _ESCAPE_STARTS


def _anchor(value: str) -> int:
    """Where to start searching: the least common character, keeping at least two after it
    (a one-character search would stop everywhere that character is)."""
    last = max(0, len(value) - 3)
    return min(range(last + 1), key=lambda i: (_rarity(value[i]), i))


def _base64_fragments(data: bytes) -> set[str]:
    """What `data` looks like inside any longer base64 text (standard or URL-safe alphabet),
    at each of the three byte alignments: only the characters that depend on `data` alone."""
    found = set()
    for shift in range(3):
        first, last = -(-8 * shift // 6), 8 * (shift + len(data)) // 6
        padded = b"\0" * shift + data
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            fragment = encode(padded).decode("ascii")[first:last]
            if len(fragment) >= MIN_BASE64_FRAGMENT:
                found.add(fragment)
    return found


def _base64_sources(value: str) -> set[bytes]:
    """The byte strings a secret is base64-encoded from: the secret in UTF-8 and latin-1
    (a basic-auth header, a token) and form-encoded (a HAR request body)."""
    sources = {value.encode("utf-8", "surrogatepass")}
    for codec in ("cp1252", "latin-1"):
        try:
            sources.add(value.encode(codec))
        except UnicodeEncodeError:
            continue
    for raw in list(sources):
        sources.add(urllib.parse.quote_plus(raw).encode("ascii"))
    return sources


ESCAPE_LEADS = ("&", "%", "\\")  # spellings of every character may start with these


@dataclass(frozen=True)
class _Finder(Generic[AnyStr]):
    """Finds one secret's spellings in str or bytes, from its anchor character on."""

    # One pattern per way the anchor's spelling starts with a character of its own (its raw
    # bytes): each begins with a literal, which `re` finds at memchr speed (a pattern that
    # starts with a choice of characters is ~10x slower).
    searches: tuple[re.Pattern[AnyStr], ...]
    # The spellings that start with an escape character (`&`, `%`, `\`): searched for all
    # secrets at once (`SecretSpellings`), checked here, one pattern per escape character.
    escaped: dict[str, re.Pattern[AnyStr]]
    escaped_sources: dict[str, str]
    prefix: re.Pattern[AnyStr] | None  # the characters before the anchor, ending at `\Z`
    window: int  # how far back the prefix may start
    needles: tuple[AnyStr, ...]  # literal spellings the patterns do not cover (base64)

    def whole(self, text: AnyStr, start: int, end: int) -> tuple[int, int] | None:
        """The whole spelling, given where its part from the anchor on is; None when the
        characters before the anchor are not there."""
        if self.prefix is None:
            return start, end
        before = self.prefix.search(text, max(0, start - self.window), start)
        return None if before is None else (before.start(), end)

    def spans(self, text: AnyStr) -> list[tuple[int, int]]:
        """Spellings found by this secret's own searches (the escaped ones are not)."""
        found = []
        for search in self.searches:
            pos = 0
            while (m := search.search(text, pos)) is not None:
                span = self.whole(text, m.start(), m.end())
                if span is not None:
                    found.append(span)
                pos = m.end() if span is not None else m.start() + 1
        for needle in self.needles:
            at = text.find(needle)
            while at >= 0:
                found.append((at, at + len(needle)))
                at = text.find(needle, at + len(needle))
        return found


@dataclass(frozen=True)
class _Spelled:
    value: str
    text: _Finder[str]
    data: _Finder[bytes]
    quoted_printable: re.Pattern[bytes]  # the whole secret, `=XX` escapes allowed (MHTML)


def _finder(value: str, anchor: int, needles: Iterable[AnyStr], as_bytes: bool) -> _Finder[Any]:
    def compile_(source: str) -> re.Pattern[Any]:
        return re.compile(source.encode("ascii") if as_bytes else source)

    rest = _source(value[anchor + 1 :], as_bytes)
    prefix = compile_(f"(?:{_source(value[:anchor], as_bytes)})\\Z") if anchor else None
    branches = _char_branches(value[anchor], as_bytes)
    escaped: dict[str, list[str]] = {}
    for lead, source in branches:
        if lead is not None:
            escaped.setdefault(lead, []).append(source + rest)
    sources = {lead: _either(found) for lead, found in escaped.items()}
    return _Finder(
        searches=tuple(compile_(source + rest) for lead, source in branches if lead is None),
        escaped={lead: compile_(source) for lead, source in sources.items()},
        escaped_sources=sources,
        prefix=prefix,
        window=anchor * _MAX_SPELLING,
        needles=tuple(needles),
    )


@lru_cache(maxsize=256)
def _spelled(value: str) -> _Spelled:
    """Compiled once per value: every run of a batch registers the same secrets."""
    fragments = set().union(*(_base64_fragments(s) for s in _base64_sources(value)))
    needles = sorted(fragments, key=len, reverse=True)
    utf16 = [value.encode(codec, "surrogatepass") for codec in ("utf-16-le", "utf-16-be")]
    anchor = _anchor(value)
    return _Spelled(
        value=value,
        text=_finder(value, anchor, needles, as_bytes=False),
        data=_finder(value, anchor, [*(n.encode("ascii") for n in needles), *utf16], True),
        quoted_printable=re.compile(_source(value, True, quoted_printable=True).encode("ascii")),
    )


@lru_cache(maxsize=64)
def _merged(values: tuple[str, ...], as_bytes: bool) -> dict[str, re.Pattern[Any]]:
    """Per escape character, one pattern for the escaped spellings of all `values`: one pass
    over a page per escape character, however many secrets there are."""
    merged = {}
    for lead in ESCAPE_LEADS:
        sources = []
        for value in values:
            finder = _spelled(value).data if as_bytes else _spelled(value).text
            if lead in finder.escaped_sources:
                sources.append(finder.escaped_sources[lead])
        if sources:
            source = _either(sources)
            merged[lead] = re.compile(source.encode("ascii") if as_bytes else source)
    return merged


def _replace(text: AnyStr, spans: list[tuple[int, int]], mask: AnyStr | None) -> AnyStr:
    """`text` with the spans replaced by `mask` (None: by as many `*` as they cover);
    overlapping spans are replaced as one."""
    merged: list[list[int]] = []
    for start, stop in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    pieces: list[AnyStr] = []
    end = 0
    for start, stop in merged:
        pieces.append(text[end:start])
        pieces.append(mask if mask is not None else _stars(text, stop - start))
        end = stop
    pieces.append(text[end:])
    return text[:0].join(pieces)


def _stars(like: AnyStr, count: int) -> AnyStr:
    return b"*" * count if isinstance(like, bytes) else "*" * count


class SecretSpellings:
    r"""Finds secrets in every spelling they take on the way into pages, URLs, scripts and files.

    Per character: raw (UTF-8, windows-1252 and ISO-8859-1 bytes); percent-encoded (UTF-8 or
    latin-1 bytes, `+` for a space, `%uXXXX`, a legacy form's `%26%23NNNN%3B`); character
    references (decimal, hex, named, with or without `;`); JS and JSON escapes (`\uXXXX`,
    `\xNN`, `\u{...}`, `\"`, `\/`, identity escapes); quoted-printable (`=C3=A9`) on request.
    Each character may be spelled differently, and escapes may themselves be escaped, however
    often (`&amp;quot;`, `%2522`, JSON inside JSON inside JSON). Plus literal base64 fragments
    (standard and URL-safe, all three alignments, of the secret in UTF-8 and latin-1 and
    form-encoded) and UTF-16. A page that transforms a secret otherwise (reverses, encrypts,
    compresses it) is not found: nothing can find that.
    """

    def __init__(self, min_length: int = 1) -> None:
        self.min_length = min_length
        self._spelled: list[_Spelled] = []

    def __bool__(self) -> bool:
        return bool(self._spelled)

    def __contains__(self, value: object) -> bool:
        return any(s.value == value for s in self._spelled)

    @property
    def values(self) -> tuple[str, ...]:
        """The registered values, longest first."""
        return tuple(sorted((s.value for s in self._spelled), key=len, reverse=True))

    def add(self, value: str) -> bool:
        """Register `value`; False when it is too short or already known."""
        if not isinstance(value, str) or len(value) < self.min_length or value in self:
            return False
        self._spelled.append(_spelled(value))
        return True

    def spans(self, text: AnyStr) -> list[tuple[int, int]]:
        """Where spellings of the secrets are in `text` (they may overlap)."""
        as_bytes = isinstance(text, bytes)
        finders: list[_Finder[Any]] = [s.data if as_bytes else s.text for s in self._spelled]
        found = [span for finder in finders for span in finder.spans(text)]
        for lead, merged in _merged(tuple(s.value for s in self._spelled), as_bytes).items():
            pos = 0
            while (m := merged.search(text, pos)) is not None:  # rare: a secret is there
                at = m.start()
                for finder in finders:
                    own = finder.escaped.get(lead)
                    hit = own.match(text, at) if own is not None else None
                    span = finder.whole(text, at, hit.end()) if hit is not None else None
                    if span is not None:
                        found.append(span)
                pos = at + 1
        return found

    def mask(self, text: str, mask: str = MASK) -> str:
        """`text` with every spelling of every secret replaced by `mask`."""
        if not self._spelled:
            return text
        if len(text) > _LONG_TEXT:  # bytes patterns run faster on pages
            data = text.encode("utf-8", "surrogatepass")
            masked = self.mask_bytes(data, mask.encode("utf-8"))
            return text if masked == data else masked.decode("utf-8", "replace")
        spans = self.spans(text)
        return _replace(text, spans, mask) if spans else text

    def mask_bytes(
        self, data: bytes, mask: bytes | None = None, *, quoted_printable: bool = False
    ) -> bytes:
        """`data` with every spelling of every secret replaced by `mask`, or, when `mask` is
        None, by as many `*` bytes as it had (offsets in binary formats stay valid).
        `quoted_printable` also finds `=XX` escapes (MHTML headers; slower: short input)."""
        if not self._spelled:
            return data
        spans = self.spans(data)
        if quoted_printable:
            spans += [m.span() for s in self._spelled for m in s.quoted_printable.finditer(data)]
        return _replace(data, spans, mask) if spans else data

    def found_in(self, data: str | bytes) -> list[str]:
        """The spellings of secrets present in `data` (for tests and diagnostics)."""
        if isinstance(data, str):
            return [data[a:b] for a, b in self.spans(data)]
        return [data[a:b].decode("latin-1") for a, b in self.spans(data)]
