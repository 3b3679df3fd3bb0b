"""What every console page shares: templates, the signed-in user, rendering, security headers.

me = await signed_in(request)                  # Identity, or None
return render(request, "queue.html", gates=…)  # adds me, csrf, the console's settings
return redirect_to_sign_in(request)            # 303 to /signin?next=<this path>
if not session.csrf_ok(request, form): return forged()   # 403, nothing recorded
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse

from agent.serve import session

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from agent.api.async_api import AsyncAijia
    from agent.gates.identity import Identity

TEMPLATES = Path(__file__).parent / "templates"

# No script, style or image from anywhere but this console; no inline script; never framed.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


def templates() -> Environment:
    """Autoescaped Jinja2 (every value is text unless a template says otherwise; none do
    for seller data)."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def aijia_of(request: Request) -> AsyncAijia:
    aijia: AsyncAijia = request.app.state.aijia
    return aijia


async def signed_in(request: Request) -> Identity | None:
    return await session.current(request, aijia_of(request))


def redirect_to_sign_in(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)


FORGED = (
    "Refused: this form has no valid CSRF token (it is stale, or was sent from another site). "
    "Nothing was done. Hint: reload the page and try again."
)


def forged() -> PlainTextResponse:
    """The answer to a POST without a valid CSRF token: 403, as text; nothing is recorded."""
    return PlainTextResponse(FORGED, status_code=403)


def render(
    request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    env: Environment = request.app.state.templates
    page = env.get_template(template).render(
        request=request,
        csrf=session.csrf_token(request),
        console=aijia_of(request).settings.console,
        **{"me": None, **context},
    )
    return HTMLResponse(page, status_code=status_code)


class SecurityHeaders:
    """Adds HEADERS to every response (pure ASGI, so streaming and static files keep working)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in HEADERS if n not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)
