"""Console sessions: who is signed in, proven by a personal token minted at sign-in.

A sign-in (password, or the identity provider) mints a personal token with label "console"
(`AsyncAijia.login`); the session cookie carries it, signed by Starlette's SessionMiddleware
(itsdangerous) with `console.session_secret` or a 0600 key file. Every request re-proves the
token (`AsyncAijia.identify`), so a revoked token, a disabled account or a changed role
applies at the next click, and each decision records "token t-…" as its proof. Sign-out
revokes the token: a copied cookie is worthless afterwards.

Every form carries the session's CSRF token; `csrf_ok` refuses a POST without it (and one
whose Origin is another site). `tell` keeps one message for the next sign-in page (why a
session ended, "You are signed out.", a refused sign-in through the identity provider).
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.core.errors import PolicyError
from agent.core.files import create_private_once
from agent.core.secrets import SecretRef, resolve
from agent.core.settings import user_config_dir

if TYPE_CHECKING:
    from starlette.requests import Request

    from agent.api.async_api import AsyncAijia
    from agent.core.settings import ConsoleSettings
    from agent.gates.identity import Identity

TOKEN = "token"
CSRF = "csrf"
NOTICE = "notice"  # one message for the sign-in page (`tell`, `told`)


def default_key_file() -> Path:
    return user_config_dir() / "console.key"


def session_secret(settings: ConsoleSettings, key_file: Path | None = None) -> str:
    """The key that signs session cookies: `console.session_secret`, else a random key kept
    in a 0600 file (made once, atomically: written aside, then linked into place)."""
    if settings.session_secret is not None:
        return resolve(SecretRef.model_validate(settings.session_secret), site="console")
    path = key_file or default_key_file()
    if not path.exists():  # made once; another process that made it first wins
        create_private_once(path, secrets.token_urlsafe(48).encode())
    return path.read_text().strip()


def start(request: Request, token: str) -> None:
    """After a successful sign-in: a fresh session (no fixation) holding the token."""
    request.session.clear()
    request.session[TOKEN] = token
    request.session[CSRF] = secrets.token_urlsafe(32)


def token_of(request: Request) -> str | None:
    value = request.session.get(TOKEN)
    return value if isinstance(value, str) else None


async def current(request: Request, aijia: AsyncAijia) -> Identity | None:
    """The signed-in identity, re-proven now; None (and the session cleared) when there is
    none or its token no longer proves anyone (revoked, expired, account disabled)."""
    token = token_of(request)
    if token is None:
        return None
    try:
        return await aijia.identify(token)
    except PolicyError as err:
        request.session.clear()
        tell(request, f"Your session has ended: {err.message}.", error=True)
        return None


def tell(request: Request, text: str, *, error: bool = False) -> None:
    """Keep one message for the next sign-in page (why a session ended, a sign-out, a refused
    sign-in through the identity provider); it is shown once."""
    request.session[NOTICE] = {"text": text, "error": error}


def told(request: Request) -> tuple[str, bool] | None:
    """The message `tell` kept (text, is it an error), removed from the session; or None."""
    kept = request.session.pop(NOTICE, None)
    if isinstance(kept, dict) and isinstance(kept.get("text"), str):
        return kept["text"], bool(kept.get("error"))
    return None


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use, also for signed-out pages)."""
    value = request.session.get(CSRF)
    if not isinstance(value, str):
        value = secrets.token_urlsafe(32)
        request.session[CSRF] = value
    return value


def csrf_ok(request: Request, form: Any) -> bool:
    """The form's csrf field matches the session's, and the Origin (when sent) is ours."""
    expected = request.session.get(CSRF)
    given = form.get("csrf") if form is not None else None
    if not isinstance(expected, str) or not isinstance(given, str):
        return False
    origin = request.headers.get("origin")
    if origin and origin != "null":
        ours = f"{request.url.scheme}://{request.url.netloc}"
        if origin != ours:
            return False
    return hmac.compare_digest(expected, given)
