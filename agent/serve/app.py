"""`build_app(aijia, worker=…)`: the review console as a Starlette app.

Pages live in small modules, each exporting `routes`: `auth` (sign-in, sign-out), `queue`
(pending gates), `gate` (one gate: what is asked, the evidence, approve/reject, the commit's
progress), `oidc` (optional). Shared page plumbing is `pages`; sessions and CSRF `session`.

Security around every page: sessions are signed cookies (HttpOnly, SameSite=Strict, Secure
over HTTPS), every POST checks the CSRF token, responses carry a strict Content-Security-
Policy (no inline script, nothing from another origin), `frame-ancestors 'none'`, nosniff
and no referrer, and templates autoescape every value.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from agent.serve import session
from agent.serve.pages import SecurityHeaders, templates

if TYPE_CHECKING:
    from agent.api.async_api import AsyncAijia
    from agent.schedule.worker import CommitWorker

STATIC = Path(__file__).parent / "static"
COOKIE = "aijia_session"


def build_app(
    aijia: AsyncAijia, *, worker: CommitWorker | None = None, key_file: Path | None = None
) -> Starlette:
    """The console over `aijia`; `worker` (when given) is kicked after each approval so the
    commit starts at once. `key_file`: where the cookie key is kept when
    `console.session_secret` is not set (tests pass a temporary one)."""
    from agent.serve import auth, gate, oidc, queue

    console = aijia.settings.console
    routes: list[BaseRoute] = [
        *auth.routes,
        *queue.routes,
        *gate.routes,
        *oidc.routes(console.oidc),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=session.session_secret(console, key_file),
            session_cookie=COOKIE,
            max_age=int(console.session_hours * 3600),
            same_site="strict",
            https_only=console.cookies_secure,
        ),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.aijia = aijia
    app.state.worker = worker
    app.state.templates = templates()
    return app
