"""Faults on demand: what can go wrong with a seller center, switched on by flag or endpoint.

=================  ==============================================================  ========
name               effect                                                          default
=================  ==============================================================  ========
latency            milliseconds added before every page and API response           0
error_rate         share (0..1) of requests answered with a 500 error page          0
commit_error_rate  share (0..1) of successful form POSTs (refund, note …) whose     0
                   change IS saved but whose answer is a 500 page: the in-doubt case
session_ttl        seconds a login lasts (then: back to the login page)             3600
maintenance        every page answers 503 "down for maintenance"                    false
layout             "v2" changes ids, classes, data-* and nesting; labels stay       v1
challenge          a "Security check" page until a human ticks the box and clicks   false
heavy              pages also load ~35 cacheable assets (some slow) and one CDN     false
                   script, as real back offices do (sandbox/heavy.py)
submit_tamper      a hostile ShopLane refund form: its script, on submit,           off
                   ``swap_amount`` rewrites the amount to 999.00; ``extra_post``
                   first POSTs an internal note nobody approved, then submits;
                   ``socket`` opens a WebSocket to the site and sends a change
refund_declined    the payment provider declines every refund: the refund form     false
                   answers 422 with its message, nothing is written (a refund the
                   back office refuses after it was approved)
=================  ==============================================================  ========

A site that is down (every page 503) is ``maintenance``; switching it off brings it back.

CLI: ``--fault latency=300 --fault layout=v2``; at run time ``POST /__sandbox/faults`` with the
JSON ``{"latency": 300}`` and header ``X-Sandbox-Token``. The 500s come from a random generator
seeded with the sandbox seed, so a run is repeatable. `/__sandbox/*` itself is never faulted.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict, dataclass, fields
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_SESSION_TTL = 3600
SUBMIT_TAMPERING = ("off", "swap_amount", "extra_post", "socket")
UNFAULTED_PREFIXES = ("/__sandbox", "/security-check", "/favicon.ico")


@dataclass
class Faults:
    latency: int = 0
    error_rate: float = 0.0
    commit_error_rate: float = 0.0
    session_ttl: int = DEFAULT_SESSION_TTL
    maintenance: bool = False
    layout: str = "v1"
    challenge: bool = False
    heavy: bool = False
    submit_tamper: str = "off"  # off | swap_amount | extra_post | socket (templates/shoplane)
    refund_declined: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply `{"name": value}` (values may be strings from the CLI); ValueError if bad."""
        known = {f.name: f.type for f in fields(self)}
        for name, raw in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(known)}")
            setattr(self, name, _coerce(name, raw))

    def reset(self) -> None:
        for f in fields(self):
            setattr(self, f.name, f.default)


def _coerce(name: str, raw: Any) -> Any:
    text = str(raw).strip().lower()
    try:
        if name in ("maintenance", "challenge", "heavy", "refund_declined"):
            if isinstance(raw, bool):
                return raw
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if name == "layout":
            if text not in ("v1", "v2"):
                raise ValueError
            return text
        if name == "submit_tamper":
            if text not in SUBMIT_TAMPERING:
                raise ValueError
            return text
        if name in ("error_rate", "commit_error_rate"):
            value = float(raw)
            if not 0 <= value <= 1:
                raise ValueError
            return value
        value = int(float(raw))
        if value < (1 if name == "session_ttl" else 0):
            raise ValueError
        return value
    except (TypeError, ValueError):
        raise ValueError(f"bad value {raw!r} for fault {name!r}") from None


def parse_fault_flags(flags: list[str]) -> dict[str, Any]:
    """``["latency=300", "layout=v2"]`` -> validated ``{"latency": 300, "layout": "v2"}``."""
    changes: dict[str, Any] = {}
    for flag in flags:
        name, sep, value = flag.partition("=")
        if not sep:
            value = "true"  # `--fault maintenance` switches a boolean on
        changes[name.strip().replace("-", "_")] = value
    probe = Faults()
    probe.update(changes)
    return {name: getattr(probe, name) for name in changes}


class FaultMiddleware:
    """Delays, maintenance, random 500s and the human check, before the app sees a request.

    `site` is the flavor's `web.Site` (its faults, renderer and clearance check).
    """

    def __init__(self, app: ASGIApp, site: Any) -> None:
        self.app = app
        self.site = site

    @property
    def rng(self) -> random.Random:
        rng: random.Random = self.site.fault_rng  # re-seeded by every reset: repeatable runs
        return rng

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(UNFAULTED_PREFIXES):
            await self.app(scope, receive, send)
            return
        faults: Faults = self.site.faults
        if faults.latency:
            await asyncio.sleep(faults.latency / 1000)
        response = None
        if faults.maintenance:
            response = self.site.plain_page(
                scope, "maintenance.html", 503, headers={"Retry-After": "120"}
            )
        elif faults.error_rate and self.rng.random() < faults.error_rate:
            response = self.site.plain_page(scope, "error.html", 500)
        elif faults.challenge and not self.site.has_clearance(scope):
            response = self.site.challenge_page(scope)
        if response is not None:
            await response(scope, receive, send)
            return
        if (
            faults.commit_error_rate
            and scope.get("method") == "POST"
            and not path.startswith(self.site.login_paths)
            and self.rng.random() < faults.commit_error_rate
        ):
            await self.app(scope, receive, self._fail_after_success(scope, receive, send))
            return
        await self.app(scope, receive, send)

    def _fail_after_success(self, scope: Scope, receive: Receive, send: Send) -> Send:
        """A send() that swaps a success redirect (the change is already saved) for a 500."""
        swapped = False

        async def send_or_swap(message: Message) -> None:
            nonlocal swapped
            if message["type"] == "http.response.start" and message["status"] in (302, 303):
                swapped = True
                await self.site.plain_page(scope, "error.html", 500)(scope, receive, send)
                return
            if not swapped:
                await send(message)

        return send_or_swap
