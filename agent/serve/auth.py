"""Sign-in and sign-out: GET/POST /signin, POST /signout.

A sign-in checks the password through the facade (`AsyncAijia.login`, label "console"), which
mints a personal token; the session cookie carries it (`session.start`: a fresh session, no
fixation). Sign-out revokes that token, so a copied cookie is worthless afterwards.

What a visitor learns from a refused sign-in is kept small: a wrong password and an unknown
name give the same sentence ("name or password is wrong"); only a locked or disabled account
(which the facade reports after the checks) says so, with its hint. The sign-in form carries
a CSRF token too (login CSRF: another site cannot sign a browser in as someone else), and the
`next` target is only ever a path on this console (no open redirect).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from agent.core.errors import PolicyError
from agent.serve import session
from agent.serve.pages import aijia_of, forged, render, signed_in

if TYPE_CHECKING:
    from starlette.requests import Request

WRONG = "Name or password is wrong."
# identity.sign_in says this for both an unknown name and a wrong password
_WRONG_FROM_FACADE = "wrong user name or password"


def local_target(value: str | None) -> str:
    """`value` when it is a path on this console, else "/". Refuses anything a browser could
    read as another origin: a scheme or host (`https://…`, `//evil`), a backslash (`/\\evil`
    is `//evil` to browsers), control characters, or a relative path."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def _sign_in_page(
    request: Request, *, target: str, error: str | None = None, name: str = "", status: int = 200
) -> Response:
    notice = None
    kept = session.told(request)
    if kept is not None:
        text, is_error = kept
        if is_error and error is None:
            error = text
        elif not is_error:
            notice = text
    return render(
        request,
        "signin.html",
        status_code=status,
        next=target,
        error=error,
        notice=notice,
        name=name,
    )


async def sign_in_form(request: Request) -> Response:
    target = local_target(request.query_params.get("next"))
    if await signed_in(request) is not None:
        return RedirectResponse(target, status_code=303)
    return _sign_in_page(request, target=target)


async def sign_in(request: Request) -> Response:
    form = await request.form()
    if not session.csrf_ok(request, form):
        return forged()
    target = local_target(str(form.get("next") or ""))
    name = str(form.get("name") or "").strip()
    password = str(form.get("password") or "")
    if not name or not password:
        return _sign_in_page(
            request, target=target, name=name, status=400, error="Enter your name and password."
        )
    try:
        _, token = await aijia_of(request).login(name, password, label="console")
    except PolicyError as err:
        # unknown name and wrong password: one sentence; locked or disabled: the facade's
        # own message and hint (it is raised only once those checks apply)
        wrong = err.message.startswith(_WRONG_FROM_FACADE)
        message = WRONG if wrong else str(err).replace("\n  hint:", " Hint:")
        return _sign_in_page(request, target=target, name=name, status=403, error=message)
    session.start(request, token)
    return RedirectResponse(target, status_code=303)


async def sign_out(request: Request) -> Response:
    form = await request.form()
    if not session.csrf_ok(request, form):
        return forged()
    token = session.token_of(request)
    if token is not None:
        await aijia_of(request).logout(token)  # the token is revoked: a copied cookie is dead
    request.session.clear()
    session.tell(request, "You are signed out.")
    return RedirectResponse("/signin", status_code=303)


routes: list[BaseRoute] = [
    Route("/signin", sign_in_form, methods=["GET"]),
    Route("/signin", sign_in, methods=["POST"]),
    Route("/signout", sign_out, methods=["POST"]),
]
