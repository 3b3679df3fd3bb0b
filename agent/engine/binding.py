"""Bind what is sent: the commit request is held, compared with the approval, released once.

    binding = CommitBinding.for_run(ctx, recipe.commits, approved, claim=…)
    await binding.install()              # before the first commit step
    …commit steps…                       # binding.stopped is set when it refused the request
    await binding.remove()

The gate approved values (its binds); the recipe declares which request carries them
(`commits:`, agent/recipes/model.py `CommitRequest`). While the commit phase runs, every
request of the run's browser context passes through `CommitBinding.handle`:

* the declared request (method and URL pattern) is held; its body fields are compared with
  the approved binds. On a match the run is claimed (`claim`: the committer's lease is
  renewed and the compare-and-set approved -> committing made, so only one resumer ever
  sends it); then, immediately before release, `confirm` renews the lease once more (a
  committer paused past its lease, or taken over by reconcile or another resume, aborts the
  request here and sends nothing); `commit_request_sent` records the fields as sent, and the
  request goes on. On a difference it is aborted, nothing reaches
  the site, `commit_request_refused` records approved vs sent, `stopped` is set and the runner
  gates the run again;
* once sent (or refused), a second declared request is aborted: the commit happens once;
* any other request that is not GET or HEAD is aborted and recorded
  (`undeclared_request_refused`): a page must not sneak in a change of its own.

Service workers would answer a page's requests out of sight of this routing: the run's
context is created with `service_workers="block"` (agent/browser/containment.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Route, WebSocketRoute

    from agent.engine.context import RunContext
    from agent.recipes.model import CommitRequest

Record = Callable[[str, dict[str, Any]], None]
Claim = Callable[[], "str | None"]  # None: claimed; else why the run cannot be committed

# Called (synchronously) between the claim and the final lease check, with the binding.
# Empty in use; a test appends one that blocks to freeze a committer there the way a stopped
# process is frozen (nothing else of its event loop runs, its lease is not renewed).
BEFORE_RELEASE: list[Callable[[CommitBinding], None]] = []

PASSING_METHODS = frozenset({"GET", "HEAD"})
MAX_RECORDED = 50  # a hostile page can send thousands of requests; the rest are counted
_EXPRESSION = re.compile(r"(\{\{.*?\}\})", re.DOTALL)
_ABSOLUTE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
# "5", "5.00", "-3.5", "1,234.50": money-like text. A digit-only text bind (an id, maybe with
# leading zeros) stays text; a number bind, or text with a point or thousands commas, compares
# as a decimal.
_DECIMAL_TEXT = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")
_TRUE = frozenset({"on", "true", "1", "yes"})
_FALSE = frozenset({"", "off", "false", "0", "no"})


# --------------------------------------------------------------------------- the URL


def url_pattern(template: str, render: Callable[[str], Any], base_url: str) -> re.Pattern[str]:
    """The declared URL as a regular expression matched against the whole request URL.

    In the recipe's literal text `**` matches anything and `*` anything but `/`; what a
    `{{ … }}` expression renders to matches literally (a value read from a page cannot widen
    the pattern). A pattern that starts with neither a scheme nor `*` is joined to base_url.
    """
    parts = _EXPRESSION.split(template)
    rendered = [str(render(p)) if i % 2 else p for i, p in enumerate(parts)]
    probe = "".join(rendered)
    prefix = ""
    if not probe.startswith("*") and not _ABSOLUTE.match(probe):
        base = urlsplit(base_url)
        prefix = (
            f"{base.scheme}://{base.netloc}"
            if probe.startswith("/")
            else base_url.rstrip("/") + "/"
        )
    regex = re.escape(prefix)
    for i, text in enumerate(rendered):
        regex += re.escape(text) if i % 2 else _glob(text)
    return re.compile(regex)


def _glob(text: str) -> str:
    out = ""
    for i, chunk in enumerate(text.split("**")):
        out += (".*" if i else "") + "[^/]*".join(re.escape(c) for c in chunk.split("*"))
    return out


# --------------------------------------------------------------------------- the body


@dataclass(frozen=True)
class SentBody:
    """A request body as fields: form (urlencoded or multipart) or JSON (dotted paths)."""

    kind: str  # form | multipart | json | empty | other
    values: dict[str, list[Any]] = field(default_factory=dict)  # name -> every value sent

    def get(self, name: str) -> list[Any]:
        return self.values.get(name, [])

    def names(self) -> list[str]:
        return list(self.values)


def parse_body(content_type: str, body: bytes | None) -> SentBody:
    """The fields of a request body, by its Content-Type."""
    if not body:
        return SentBody("empty")
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        return SentBody("form", _grouped(pairs))
    if media == "multipart/form-data":
        return SentBody("multipart", _grouped(_multipart(content_type, body)))
    if media == "application/json" or media.endswith("+json"):
        try:
            data = json.loads(body)
        except ValueError:
            return SentBody("other")
        return SentBody("json", _grouped(_flatten(data, "")))
    return SentBody("other")


def _grouped(pairs: list[tuple[str, Any]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


def _multipart(content_type: str, body: bytes) -> list[tuple[str, Any]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    pairs: list[tuple[str, Any]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        raw = payload if isinstance(payload, bytes) else b""
        charset = part.get_content_charset() or "utf-8"
        pairs.append((name, raw.decode(charset, "replace")))
    return pairs


def _flatten(data: Any, prefix: str) -> list[tuple[str, Any]]:
    """JSON leaves by dotted path: {"items": [{"amount": 5}]} -> [("items.0.amount", 5)]."""
    if isinstance(data, dict):
        items: list[tuple[str, Any]] = [(str(k), v) for k, v in data.items()]
    elif isinstance(data, list):
        items = [(str(i), v) for i, v in enumerate(data)]
    else:
        return [(prefix, data)]
    out: list[tuple[str, Any]] = []
    for key, value in items:
        out += _flatten(value, f"{prefix}.{key}" if prefix else key)
    return out


# --------------------------------------------------------------------------- comparing


def same_value(bound: Any, sent: Any) -> bool:
    """Does the value sent (None: absent) carry the approved one? Numbers compare as
    decimals (5 = 5.0 = 5.00, thousands commas ignored), booleans as checkbox states
    ("on"/absent), None as absent or blank; everything else as exact text (line breaks
    normalised: browsers send a textarea's as CRLF)."""
    if isinstance(bound, bool):
        return _as_bool(sent) is bound
    if bound is None:
        return sent is None or _text(sent) == ""
    if isinstance(bound, int | float | Decimal) or (
        isinstance(bound, str) and _DECIMAL_TEXT.match(bound.strip()) and not bound.isdigit()
    ):
        approved, given = _decimal(bound), _decimal(sent)
        return approved is not None and approved == given
    return sent is not None and _text(bound) == _text(sent)


def is_empty(sent: Any) -> bool:
    """Absent, blank, false or zero: a field that asks for nothing."""
    if sent is None or sent is False or _text(sent).strip() == "":
        return True
    number = _decimal(sent)
    return number is not None and number == 0


def _as_bool(sent: Any) -> bool | None:
    if sent is None or isinstance(sent, bool):
        return bool(sent)
    text = _text(sent).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    text = str(value).strip()
    if isinstance(value, str):
        if not _DECIMAL_TEXT.match(text):
            return None
        text = text.replace(",", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _text(value: Any) -> str:
    return str(value).replace("\r\n", "\n")


# --------------------------------------------------------------------------- holding it


@dataclass(frozen=True)
class Declared:
    """The commit request of one run: its templates rendered (after the prepare phase)."""

    method: str
    url: str  # as declared, for messages and events
    pattern: re.Pattern[str]
    fields: dict[str, str]  # body field (rendered) -> bind name
    other_fields: str  # any | empty
    ignore: frozenset[str]

    def matches(self, method: str, url: str) -> bool:
        return method == self.method and self.pattern.fullmatch(url) is not None


def compare(
    declared: Declared, approved: Mapping[str, Any], body: SentBody
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(fields as sent, differences by bind name or field): no differences -> release."""
    sent: dict[str, Any] = {}
    differences: dict[str, dict[str, Any]] = {}
    for name, bind in declared.fields.items():
        values = body.get(name)
        value: Any = values[0] if len(values) == 1 else (values or None)
        sent[name] = value
        if len(values) > 1:
            why = f"sent {len(values)} times"
        elif bind not in approved:
            why = "not an approved bind"
        elif not same_value(approved[bind], value):
            why = "absent" if value is None else "differs"
        else:
            continue
        key = bind if bind not in differences else f"{bind} ({name})"
        differences[key] = {
            "field": name,
            "approved": approved.get(bind),
            "now": value,
            "why": why,
        }
    if declared.other_fields == "empty":
        for name in body.names():
            if name in declared.fields or name in declared.ignore:
                continue
            values = body.get(name)
            if all(is_empty(v) for v in values):
                continue
            value = values[0] if len(values) == 1 else values
            differences[f"{name} (not approved)"] = {
                "field": name,
                "approved": None,
                "now": value,
                "why": "a field nobody approved",
            }
    if body.kind == "other":
        differences["(body)"] = {
            "field": None,
            "approved": None,
            "now": None,
            "why": "a body that is neither a form nor JSON",
        }
    return sent, differences


class CommitBinding:
    """Holds the commit phase's requests (see the module docstring); one per resumed run."""

    def __init__(
        self,
        context: BrowserContext,
        declared: Declared,
        approved: Mapping[str, Any],
        *,
        record: Record,
        claim: Claim,
        confirm: Claim | None = None,
        run_id: str = "",
    ) -> None:
        self.context = context
        self.run_id = run_id
        self.declared = declared
        self.approved = dict(approved)
        self.record = record
        self.claim = claim
        self.confirm = confirm
        self.sent: dict[str, Any] | None = None  # the released request, as recorded
        self.refusal: dict[str, dict[str, Any]] | None = None  # differences of a refused one
        self.lost: str | None = None  # the claim failed: someone else moved the run
        self.refused_others = 0  # undeclared requests aborted
        self.stopped = asyncio.Event()  # set on a refusal or a lost claim: stop the steps
        self._recorded = 0
        self._installed = False

    @classmethod
    def for_run(
        cls,
        ctx: RunContext,
        commits: CommitRequest,
        approved: Mapping[str, Any],
        *,
        claim: Claim,
        confirm: Claim | None = None,
    ) -> CommitBinding:
        """The binding of `ctx`'s run: URL and field names rendered in the run's scope."""
        declared = Declared(
            method=commits.method,
            url=commits.url,
            pattern=url_pattern(commits.url, ctx.render, ctx.site.base_url),
            fields={str(ctx.render(name)): bind for name, bind in commits.fields.items()},
            other_fields=commits.other_fields,
            ignore=frozenset(commits.ignore),
        )
        return cls(
            ctx.browser_context,
            declared,
            approved,
            record=ctx.event,
            claim=claim,
            confirm=confirm,
            run_id=ctx.run_id,
        )

    @property
    def describe(self) -> str:
        return f"{self.declared.method} {self.declared.url}"

    async def install(self) -> None:
        await self.context.route("**/*", self.handle)
        # A socket could carry the change past the held request: none opens while committing
        # (the context is the resumed run's own and closes with it).
        await self.context.route_web_socket(re.compile(".*"), self.refuse_socket)
        self._installed = True

    async def refuse_socket(self, socket: WebSocketRoute) -> None:
        """Never connected to the site; closed at once and recorded."""
        self._note(
            "undeclared_request_refused",
            {
                "method": "WEBSOCKET",
                "url": socket.url,
                "resource_type": "websocket",
                "declared": self.describe,
                "reason": "the commit phase sends only the declared commit request",
            },
        )
        await socket.close(code=1008, reason="refused while committing")

    async def remove(self) -> None:
        if not self._installed:
            return
        self._installed = False
        with contextlib.suppress(Exception):  # the context may be closing already
            await self.context.unroute("**/*", self.handle)
        dropped = self._recorded - MAX_RECORDED
        if dropped > 0:
            self.record("requests_refused_unrecorded", {"count": dropped})

    async def handle(self, route: Route) -> None:
        request = route.request
        method, url = request.method.upper(), request.url
        if not self.declared.matches(method, url):
            if method in PASSING_METHODS:
                await route.fallback()
                return
            await route.abort("blockedbyclient")
            self.refused_others += 1
            self._note(
                "undeclared_request_refused",
                {
                    "method": method,
                    "url": url,
                    "resource_type": request.resource_type,
                    "declared": self.describe,
                    "reason": "the commit phase sends only the declared commit request",
                },
            )
            return
        content_type = await request.header_value("content-type") or ""
        body = parse_body(content_type, request.post_data_buffer)
        # Decide without awaiting from here on: two requests racing must not both pass.
        if self.sent is not None or self.refusal is not None or self.lost is not None:
            await route.abort("blockedbyclient")
            why = "the commit request was already sent once" if self.sent else "after a refusal"
            self._note("commit_request_refused", {"method": method, "url": url, "reason": why})
            return
        sent, differences = compare(self.declared, self.approved, body)
        data = {"method": method, "url": url, "fields": sent}
        if differences:
            self.refusal = differences
            self.stopped.set()
            await route.abort("blockedbyclient")
            self.record(
                "commit_request_refused",
                {
                    **data,
                    "reason": "what the page sends differs from the approval",
                    "differences": differences,
                },
            )
            return
        lost = self.claim()
        if lost is None:
            for hook in BEFORE_RELEASE:
                hook(self)
            lost = self.confirm() if self.confirm is not None else None
        if lost is not None:
            self.lost = lost
            self.stopped.set()
            await route.abort("blockedbyclient")
            self.record("commit_request_refused", {**data, "reason": lost})
            return
        self.sent = data
        self.record("commit_request_sent", data)
        await route.fallback()

    def _note(self, kind: str, data: dict[str, Any]) -> None:
        self._recorded += 1
        if self._recorded <= MAX_RECORDED:
            self.record(kind, data)

    def difference_text(self) -> str:
        return "; ".join(
            f"{name}: approved {d['approved']!r}, the page sends {d['now']!r} ({d['why']})"
            for name, d in (self.refusal or {}).items()
        )
