"""What every seller center shares: process state, page rendering, CSRF, the human check,
error pages, and building one flavor's Starlette app.

One `SandboxState` per process (the database, seed, admin token); one `Site` per flavor (its
faults, templates, cookie names). Each flavor app keeps its Site in ``app.state.site``.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from sandbox import db, heavy, injection
from sandbox.faults import FaultMiddleware, Faults
from sandbox.money import format_money
from sandbox.seed import DEFAULT_COUNT, DEFAULT_SEED, FLAVORS, seed_database

TEMPLATES = Path(__file__).parent / "templates"
ERROR_TEXT = {
    400: ("Bad request", "The request could not be understood."),
    403: ("Request blocked", "Your request could not be verified. Reload the page and try again."),
    404: ("Page not found", "The page or order you are looking for does not exist."),
    405: ("Not allowed", "That action is not available here."),
    500: (
        "Something went wrong",
        "We could not process your request. Please try again in a moment.",
    ),
    503: (
        "Down for maintenance",
        "We are performing scheduled maintenance. Please come back shortly.",
    ),
}


@dataclass(frozen=True)
class FlavorSpec:
    """The parts of a flavor the shared code needs to know."""

    flavor: str
    title: str
    session_cookie: str
    login_path: str
    home_path: str
    logout_path: str
    mfa_path: str | None = None


class SandboxState:
    """The process-wide sandbox: one database, one seed, one admin token, the flavor sites."""

    def __init__(
        self,
        db_path: Path | str,
        *,
        seed: int = DEFAULT_SEED,
        count: int = DEFAULT_COUNT,
        today: date | None = None,
        token: str | None = None,
    ) -> None:
        self.db_path = db_path
        self.conn = db.connect(db_path)
        self.seed = seed
        self.count = count
        self.today = today
        self.token = token or secrets.token_urlsafe(16)
        self.secret = secrets.token_bytes(32)
        self.dirty = False
        self.sites: dict[str, Site] = {}
        self.cdn_url = ""  # the CDN origin heavy pages load a script from, once it listens
        self.reseed()

    def reseed(self) -> None:
        """Fresh data, no sessions, no faults."""
        seed_database(
            self.conn, seed=self.seed, count=self.count, today=self.today, flavors=FLAVORS
        )
        self.today = date.fromisoformat(db.get_meta(self.conn, "today"))
        for site in self.sites.values():
            site.faults.reset()
            site.fault_rng.seed(f"{self.seed}:{site.flavor}")
            site.challenge_generation += 1
        self.dirty = False

    def sign(self, *parts: object) -> str:
        message = "|".join(str(p) for p in parts).encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:32]


class Layout:
    """Template helpers for ids, classes and data-* that layout v2 renames."""

    def __init__(self, v2: bool) -> None:
        self.v2 = v2

    def _mangle(self, name: str, prefix: str) -> str:
        return f"{prefix}{hashlib.md5(name.encode()).hexdigest()[:7]}"

    def id(self, name: str) -> str:
        return self._mangle(name, "x") if self.v2 else name

    def cls(self, names: str) -> str:
        if not self.v2:
            return names
        return " ".join(self._mangle(n, "c") for n in names.split())

    def field(self, name: str) -> Markup:
        if self.v2:
            return Markup('data-qa="{}"').format(self._mangle(name, "q"))
        return Markup('data-field="{}"').format(name)


class Site:
    """One seller center: its spec, faults and templates, bound to the process state."""

    def __init__(self, spec: FlavorSpec, state: SandboxState) -> None:
        self.spec = spec
        self.flavor = spec.flavor
        self.state = state
        self.faults = Faults()
        self.fault_rng = random.Random(f"{state.seed}:{spec.flavor}")
        self.challenge_generation = 0
        # Logging in and out is not a "commit": commit_error_rate leaves these alone.
        self.login_paths = tuple(p for p in (spec.login_path, spec.mfa_path, spec.logout_path) if p)
        self.bid_cookie = f"{spec.session_cookie}_bid"
        self.clearance_cookie = f"{spec.session_cookie}_clearance"
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(
                [
                    jinja2.FileSystemLoader(TEMPLATES / spec.flavor),
                    jinja2.FileSystemLoader(TEMPLATES / "common"),
                ]
            ),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.globals.update(spec=spec, quote=quote, **injection.template_globals())
        state.sites[spec.flavor] = self

    @property
    def conn(self) -> Any:
        return self.state.conn

    # ---------------------------------------------------------------- browser id & CSRF

    def bid(self, request: Request) -> str:
        """A random id per browser, in a cookie; CSRF tokens and the human check sign it."""
        current = getattr(request.state, "bid", None) or request.cookies.get(self.bid_cookie)
        if not current:
            current = secrets.token_urlsafe(16)
            request.state.new_bid = current
        request.state.bid = current
        return str(current)

    def csrf_token(self, request: Request) -> str:
        return self.state.sign("csrf", self.flavor, self.bid(request))

    async def form(self, request: Request) -> FormData:
        """The posted form, after the CSRF check (403 page when missing or wrong)."""
        form = await request.form()
        sent = str(form.get("csrf_token") or "")
        known = request.cookies.get(self.bid_cookie)
        expected = self.state.sign("csrf", self.flavor, known) if known else ""
        if not sent or not known or not hmac.compare_digest(sent, expected):
            raise HTTPException(403, "csrf")
        return form

    # ---------------------------------------------------------------- rendering

    def render(
        self,
        request: Request,
        name: str,
        context: dict[str, Any] | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        ctx = {
            "request": request,
            "L": Layout(self.faults.layout == "v2"),
            "csrf_token": self.csrf_token(request),
            "user": getattr(request.state, "user", None),
            "money": lambda minor, currency: format_money(minor, currency, self.flavor),
            "heavy_head": Markup(""),
            "heavy_body": Markup(""),
            **(context or {}),
        }
        if self.faults.heavy and self.state.cdn_url:
            ctx["heavy_head"] = heavy.head_tags(self.state.cdn_url)
            ctx["heavy_body"] = heavy.body_tags()
        html = self.env.get_template(name).render(ctx)
        response = HTMLResponse(html, status_code=status, headers=headers)
        new_bid = getattr(request.state, "new_bid", None)
        if new_bid:
            response.set_cookie(self.bid_cookie, new_bid, httponly=True, samesite="lax")
        return response

    def plain_page(
        self, scope: Scope, name: str, status: int, headers: dict[str, str] | None = None
    ) -> HTMLResponse:
        title, text = ERROR_TEXT.get(status, ERROR_TEXT[500])
        return self.render(
            Request(scope),
            name,
            {"status": status, "title": title, "message": text},
            status,
            headers,
        )

    def error_page(
        self, request: Request, status: int, message: str | None = None, title: str | None = None
    ) -> HTMLResponse:
        default_title, default_text = ERROR_TEXT.get(status, ERROR_TEXT[500])
        return self.render(
            request,
            "error.html",
            {"status": status, "title": title or default_title, "message": message or default_text},
            status,
        )

    # ---------------------------------------------------------------- human check

    def has_clearance(self, scope: Scope) -> bool:
        cookie = Request(scope).cookies.get(self.clearance_cookie, "")
        bid = Request(scope).cookies.get(self.bid_cookie, "")
        expected = self.state.sign("clear", self.flavor, bid, self.challenge_generation)
        return bool(bid and cookie) and hmac.compare_digest(cookie, expected)

    def challenge_page(self, scope: Scope, error: str = "", next_url: str = "") -> Response:
        request = Request(scope)
        if not next_url:
            next_url = scope.get("path", "/")
            if scope.get("query_string"):
                next_url += "?" + scope["query_string"].decode("latin-1")
        issued = f"{time.time():.3f}"
        nonce = f"{issued}.{self.state.sign('nonce', self.flavor, self.bid(request), issued)}"
        if scope.get("path", "").startswith("/api/"):
            return JSONResponse({"error": "challenge", "message": "Verify you are a human"}, 403)
        return self.render(
            request, "challenge.html", {"next": next_url, "nonce": nonce, "error": error}, 403
        )

    async def verify_challenge(self, request: Request) -> Response:
        form = await request.form()
        next_url = safe_next(str(form.get("next") or ""), self.spec.home_path)
        nonce = str(form.get("nonce") or "")
        issued, _, signature = nonce.rpartition(".")
        bid = request.cookies.get(self.bid_cookie, "")
        expected = self.state.sign("nonce", self.flavor, bid, issued) if bid else ""
        human = form.get("human") == "on"
        try:
            age = time.time() - float(issued)
        except ValueError:
            age = -1
        # A person needs a moment to tick the box; an instant POST is refused.
        if not (
            expected and hmac.compare_digest(signature, expected) and human and 0.8 <= age <= 600
        ):
            return self.challenge_page(
                request.scope, "Verification failed. Please try again.", next_url
            )
        response = RedirectResponse(next_url, 303)
        response.set_cookie(
            self.clearance_cookie,
            self.state.sign("clear", self.flavor, bid, self.challenge_generation),
            httponly=True,
            samesite="lax",
        )
        return response


def safe_next(next_url: str, default: str) -> str:
    """Only local paths: no open redirects."""
    if next_url.startswith("/") and not next_url.startswith("//"):
        return next_url
    return default


def login_redirect(site: Site, request: Request, *, expired: bool = False) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = f"{site.spec.login_path}?next={quote(target, safe='')}"
    if expired:
        url += "&expired=1"
    response = RedirectResponse(url, 303)
    if expired:
        response.delete_cookie(site.spec.session_cookie)
    return response


def build_app(site: Site, routes: list[BaseRoute]) -> Starlette:
    """The flavor's routes plus the shared ones, error pages and the fault middleware."""
    from sandbox import admin

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if request.url.path.startswith(("/api/", "/__sandbox")):
            detail = exc.detail if isinstance(exc, HTTPException) else "server error"
            return JSONResponse({"error": detail}, status)
        return site.error_page(request, status)

    async def crash(request: Request, exc: Exception) -> Response:
        del exc
        return site.error_page(request, 500)

    async def challenge_post(request: Request) -> Response:
        return await site.verify_challenge(request)

    async def favicon(request: Request) -> Response:
        return Response(status_code=204)

    app = Starlette(
        routes=[
            *routes,
            Route("/security-check", challenge_post, methods=["POST"]),
            Route("/favicon.ico", favicon),
            *admin.routes(),
            *heavy.routes(),
        ],
        exception_handlers={HTTPException: http_error, Exception: crash},
    )
    app.state.site = site
    app.add_middleware(FaultMiddleware, site=site)
    return app
