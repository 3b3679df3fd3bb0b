"""DOM snapshots with secrets blanked: password values always, configured selectors on request.

The HTML is streamed through the standard library's tolerant `html.parser` and written back
unchanged except for the blanked parts, so broken markup from real back offices survives.
Selectors: a practical CSS subset, checked when the store opens so a typo never silently
leaves data in place — type, `#id`, `.class`, `[attr]`, `[attr=v]`, `[attr^=v]`, `[attr$=v]`,
`[attr*=v]`, `[attr~=v]`, compounds of those, descendant (space) and child (`>`) combinators,
and comma-separated lists.

Blanking an element removes its text and the `value` of every field inside it, and marks it
with `data-aijia-redacted`, so a reviewer sees that something was there.

The store keeps a snapshot with the site's markup as it was, scripts included. `inert_dom`
makes the copy a person opens from an export bundle: allow-list sanitised (nh3), under a
Content-Security-Policy that forbids scripts and every load (see the section at the end).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser

from agent.core.errors import EvidenceError

VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)
_TOKEN = re.compile(
    r"""(?P<tag>[a-zA-Z][\w-]*|\*)
      |\#(?P<id>[\w-]+)
      |\.(?P<cls>[\w-]+)
      |\[\s*(?P<attr>[\w:-]+)\s*(?:(?P<op>[~^$*]?=)\s*(?P<val>"[^"]*"|'[^']*'|[^\]\s]+)\s*)?\]
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Compound:
    tag: str | None = None
    ids: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    attrs: tuple[tuple[str, str | None, str | None], ...] = ()  # (name, op, value)

    def matches(self, tag: str, attrs: dict[str, str]) -> bool:
        if self.tag not in (None, "*") and self.tag != tag:
            return False
        if any(attrs.get("id") != i for i in self.ids):
            return False
        classes = attrs.get("class", "").split()
        if any(c not in classes for c in self.classes):
            return False
        for name, op, value in self.attrs:
            if name not in attrs:
                return False
            have = attrs[name]
            if op is None or value is None:
                continue
            ok = {
                "=": have == value,
                "^=": have.startswith(value),
                "$=": have.endswith(value),
                "*=": value in have,
                "~=": value in have.split(),
            }[op]
            if not ok:
                return False
        return True


@dataclass(frozen=True)
class Selector:
    # Right to left: parts[-1] is the element itself; combinators[i] joins parts[i], parts[i+1].
    parts: tuple[Compound, ...]
    combinators: tuple[str, ...] = field(default=())

    def matches(self, path: Sequence[tuple[str, dict[str, str]]]) -> bool:
        """`path` = ancestors then the element, each (tag, attrs)."""
        return self._match(len(self.parts) - 1, path, len(path) - 1)

    def _match(self, part: int, path: Sequence[tuple[str, dict[str, str]]], at: int) -> bool:
        if at < 0 or not self.parts[part].matches(*path[at]):
            return False
        if part == 0:
            return True
        if self.combinators[part - 1] == ">":
            return self._match(part - 1, path, at - 1)
        return any(self._match(part - 1, path, i) for i in range(at - 1, -1, -1))


def _compound(text: str, source: str) -> Compound:
    pos, tag = 0, None
    ids: list[str] = []
    classes: list[str] = []
    attrs: list[tuple[str, str | None, str | None]] = []
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos or (m.group("tag") and pos != 0):
            raise EvidenceError(
                f"redaction selector {source!r}: cannot read {text[pos:]!r}",
                hint="use type, #id, .class, [attr], [attr=value], descendant and > combinators",
            )
        if m.group("tag"):
            tag = m.group("tag").lower()
        elif m.group("id"):
            ids.append(m.group("id"))
        elif m.group("cls"):
            classes.append(m.group("cls"))
        else:
            value = m.group("val")
            if value and value[0] in "\"'":
                value = value[1:-1]
            attrs.append((m.group("attr").lower(), m.group("op"), value))
        pos = m.end()
    return Compound(tag, tuple(ids), tuple(classes), tuple(attrs))


def parse_selectors(selectors: Sequence[str]) -> list[Selector]:
    """Parse selector strings (each may be a comma list); EvidenceError on what we cannot read."""
    parsed = []
    for source in selectors:
        for one in source.split(","):
            spaced = re.sub(r"\s*>\s*", " > ", one.strip())
            tokens = spaced.split()
            if not tokens or tokens[0] == ">" or tokens[-1] == ">":
                raise EvidenceError(f"redaction selector {source!r} is empty or incomplete")
            parts: list[Compound] = []
            combinators: list[str] = []
            pending = " "
            for token in tokens:
                if token == ">":
                    pending = ">"
                    continue
                if parts:
                    combinators.append(pending)
                parts.append(_compound(token, source))
                pending = " "
            parsed.append(Selector(tuple(parts), tuple(combinators)))
    return parsed


PASSWORD_FIELD = Selector((Compound("input", attrs=(("type", "=", "password"),)),))


class _Blanker(HTMLParser):
    def __init__(self, selectors: list[Selector]) -> None:
        super().__init__(convert_charrefs=False)
        self.selectors = selectors
        self.out: list[str] = []
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.blank_depth: int | None = None  # stack depth of the blanked element

    def _start(self, tag: str, raw_attrs: list[tuple[str, str | None]], closed: bool) -> None:
        attrs = {k.lower(): (v or "") for k, v in raw_attrs}
        path = [*self.stack, (tag, {**attrs, "type": attrs.get("type", "").lower()})]
        hit = any(s.matches(path) for s in self.selectors)
        password = PASSWORD_FIELD.matches(path)
        inside = self.blank_depth is not None
        text = self.get_starttag_text() or ""
        if hit or password or (inside and "value" in attrs):
            kept = [(k, "" if k.lower() == "value" else v) for k, v in raw_attrs]
            if hit:
                kept.append(("data-aijia-redacted", "1"))
            rendered = "".join(
                f" {k}" if v is None else f' {k}="{html.escape(v, quote=True)}"' for k, v in kept
            )
            text = f"<{tag}{rendered}{' /' if closed else ''}>"
        self.out.append(text)
        if tag in VOID or closed:
            return
        self.stack.append((tag, attrs))
        if hit and not inside:
            self.blank_depth = len(self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, closed=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, closed=True)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth][0] == tag:
                del self.stack[depth:]
                if self.blank_depth is not None and depth < self.blank_depth:
                    self.blank_depth = None
                break
        self.out.append(f"</{tag}>")

    def _text(self, raw: str) -> None:
        if self.blank_depth is None:
            self.out.append(raw)

    def handle_data(self, data: str) -> None:
        self._text(data)

    def handle_entityref(self, name: str) -> None:
        self._text(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self._text(f"&#{name};")

    def handle_comment(self, data: str) -> None:
        self._text(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self.out.append(f"<!{decl}>")

    def handle_pi(self, data: str) -> None:
        self.out.append(f"<?{data}>")

    def unknown_decl(self, data: str) -> None:
        self.out.append(f"<![{data}]>")


def blank_dom(document: str, selectors: Sequence[str] = ()) -> str:
    """`document` with password values and elements matching `selectors` blanked."""
    blanker = _Blanker(parse_selectors(selectors))
    blanker.feed(document)
    blanker.close()
    return "".join(blanker.out)


# --------------------------------------------------------------------------- inert copies
# A snapshot keeps the site's markup as captured, scripts included: that is what the chain
# hashes. A person opening one must not run them, so exports ship, next to the stored bytes,
# a copy made by an allow-list sanitiser (ammonia, through nh3): only text, tables, lists and
# form fields survive, with their values; scripts, styles, event handlers, frames, objects,
# forms, meta refresh, <base> and every remote reference go. A CSP meta tag, first in the
# head, forbids scripts and every load but data: images, should anything be missed.

INERT_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'"
)
_KEPT_TAGS = frozenset(
    {
        *("a", "abbr", "address", "article", "aside", "b", "bdi", "blockquote", "br"),
        *("caption", "cite", "code", "col", "colgroup", "data", "dd", "del", "details"),
        *("dfn", "div", "dl", "dt", "em", "figcaption", "figure", "footer", "h1", "h2"),
        *("h3", "h4", "h5", "h6", "header", "hgroup", "hr", "i", "img", "ins", "kbd", "li"),
        *("main", "mark", "nav", "ol", "p", "pre", "q", "rp", "rt", "ruby", "s", "samp"),
        *("section", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody"),
        *("td", "tfoot", "th", "thead", "time", "tr", "u", "ul", "var", "wbr"),
        # form fields show what was typed or chosen; the <form> around them is dropped
        *("button", "fieldset", "input", "label", "legend", "meter", "optgroup", "option"),
        *("output", "progress", "select", "textarea"),
    }
)
# Dropped with everything inside: code, styles, embedded documents, and text nobody saw.
_DROPPED_WITH_CONTENT = frozenset(
    {
        *("script", "style", "template", "noscript", "noframes", "title", "xmp"),
        *("iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math"),
    }
)
_KEPT_ATTRIBUTES = {
    "*": {"id", "title", "lang", "role", "hidden", "style"},
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "headers", "align"},
    "th": {"colspan", "rowspan", "headers", "scope", "align"},
    "col": {"span"},
    "colgroup": {"span"},
    "ol": {"start", "reversed", "type"},
    "li": {"value"},
    "time": {"datetime"},
    "data": {"value"},
    "details": {"open"},
    "input": {"type", "name", "value", "checked", "disabled", "readonly", "placeholder"},
    "select": {"name", "multiple", "disabled"},
    "option": {"value", "selected", "disabled", "label"},
    "optgroup": {"label", "disabled"},
    "textarea": {"name", "rows", "cols", "disabled", "readonly", "placeholder"},
    "label": {"for"},
    "button": {"name", "value", "disabled"},
    "meter": {"value", "min", "max", "low", "high", "optimum"},
    "progress": {"value", "max"},
}
# Properties that take no URL (no background, list-style, cursor, filter, mask …) and cannot
# lift an element over the page (no position, z-index, transform).
_KEPT_STYLE = frozenset(
    {
        *("color", "background-color", "font-weight", "font-style", "font-size"),
        *("font-family", "text-align", "text-decoration", "text-transform", "white-space"),
        *("vertical-align", "display", "visibility", "width", "min-width", "max-width"),
        *("height", "margin", "padding", "border", "border-width", "border-style"),
        *("border-color", "border-collapse", "border-spacing", "line-height", "word-break"),
    }
)
# A style that still names a resource (or hides a name behind a CSS escape) is dropped whole.
_RESOURCE_IN_STYLE = re.compile(r"url\s*\(|image\s*\(|image-set|expression|@import|\\", re.I)
_BANNER_STYLE = (
    "font:13px/1.4 system-ui,sans-serif;background:#fff7d6;color:#5c4400;"
    "border:1px solid #e0c45c;padding:8px 12px;margin:0 0 12px"
)
_PAGE_STYLE = (
    "body{font:14px/1.45 system-ui,sans-serif;margin:16px;color:#1d232b}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccd2da;padding:3px 6px}"
    "img{outline:1px dashed #ccd2da;min-width:1em;min-height:1em}"
    "[data-aijia-redacted]{background:#eee}[data-aijia-redacted]::after{content:'[redacted]'}"
)


def _kept_value(tag: str, attribute: str, value: str) -> str | None:
    """The allow-list by value: links only to web pages and mail, pictures only inline."""
    plain = re.sub(r"[\x00-\x20]", "", value).lower()
    if attribute == "href":
        return value if plain.startswith(("http://", "https://", "mailto:")) else None
    if attribute == "src":
        return value if tag == "img" and plain.startswith("data:image/") else None
    if attribute == "style" and _RESOURCE_IN_STYLE.search(value):
        return None
    return value


def inert_dom(document: str, *, note: str = "") -> str:
    """`document` as a page that runs nothing and loads nothing: its text and structure
    through the allow-list above, under a CSP, with `note` (plain text) shown on top."""
    import nh3

    body = nh3.clean(
        document,
        tags=set(_KEPT_TAGS),
        clean_content_tags=set(_DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in _KEPT_ATTRIBUTES.items()},
        attribute_filter=_kept_value,
        generic_attribute_prefixes={"data-", "aria-"},
        url_schemes={"http", "https", "mailto", "data"},
        url_relative="deny",  # a relative link would resolve against the viewer's disk
        filter_style_properties=set(_KEPT_STYLE),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    banner = f'<div style="{_BANNER_STYLE}">{html.escape(note)}</div>\n' if note else ""
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        f'<meta http-equiv="Content-Security-Policy" content="{INERT_CSP}">\n'
        '<meta charset="utf-8">\n<meta name="referrer" content="no-referrer">\n'
        f"<title>Inert copy of a captured page</title>\n<style>{_PAGE_STYLE}</style>\n"
        f"</head>\n<body>\n{banner}{body}\n</body>\n</html>\n"
    )
