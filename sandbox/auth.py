"""Logins: password check, lockout, TOTP two-step (RFC 6238), sessions that expire.

Messages, the same on every flavor (recipes and tests match on them):

- wrong password or unknown email: "Incorrect email or password."
- locked account (seeded, or after 5 wrong passwords): "This account is locked. Contact your
  store administrator to unlock it."
- expired session (redirect to the login page): "Your session has expired. Please sign in again."
- wrong TOTP code: "The code you entered is not valid. Try again."
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

import pyotp
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from sandbox.accounts import hash_password
from sandbox.web import Site, login_redirect, safe_next

WRONG_PASSWORD = "Incorrect email or password."
LOCKED = "This account is locked. Contact your store administrator to unlock it."
EXPIRED = "Your session has expired. Please sign in again."
WRONG_CODE = "The code you entered is not valid. Try again."
SIGNED_OUT = "You have been signed out."
MAX_FAILED_LOGINS = 5

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class User:
    email: str
    name: str
    role: str


def _site(request: Request) -> Site:
    site: Site = request.app.state.site
    return site


def session_user(site: Site, request: Request) -> tuple[str, User | None]:
    """("ok", user), ("mfa", None) for a half-done two-step login, ("expired" | "none", None)."""
    token = request.cookies.get(site.spec.session_cookie)
    if not token:
        return "none", None
    row = site.conn.execute(
        "SELECT s.*, u.name, u.role FROM sessions s JOIN users u ON u.flavor = s.flavor AND "
        "u.email = s.email WHERE s.token = ? AND s.flavor = ?",
        (token, site.flavor),
    ).fetchone()
    if row is None:
        return "expired", None
    if time.time() - row["created_at"] > site.faults.session_ttl:
        site.conn.execute("DELETE FROM sessions WHERE token = ?", (token,))
        return "expired", None
    if row["stage"] != "ok":
        return "mfa", None
    return "ok", User(row["email"], row["name"], row["role"])


def login_required(handler: Handler) -> Handler:
    """Pages behind the login: redirect (or 401 JSON for /api/) when there is no session."""

    @wraps(handler)
    async def guarded(request: Request) -> Response:
        site = _site(request)
        status, user = session_user(site, request)
        if status == "ok":
            request.state.user = user
            return await handler(request)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "session expired", "message": EXPIRED}, 401)
        if status == "mfa" and site.spec.mfa_path:
            return RedirectResponse(site.spec.mfa_path, 303)
        return login_redirect(site, request, expired=status == "expired")

    return guarded


def _start_session(site: Site, email: str, stage: str, next_url: str, target: str) -> Response:
    token = secrets.token_urlsafe(24)
    now = time.time()
    site.conn.execute(
        "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)",
        (token, site.flavor, email, stage, now, now),
    )
    response = RedirectResponse(target if stage == "mfa" else next_url, 303)
    if stage == "mfa":
        response.set_cookie(
            f"{site.spec.session_cookie}_next", next_url, httponly=True, samesite="lax"
        )
    response.set_cookie(
        site.spec.session_cookie,
        token,
        # The cookie outlives the server-side session, so an expired login is noticed (and
        # said) by the server rather than silently dropped by the browser.
        max_age=site.faults.session_ttl + 3600,
        httponly=True,
        samesite="lax",
    )
    return response


async def login_page(request: Request) -> Response:
    site = _site(request)
    next_url = safe_next(request.query_params.get("next", ""), site.spec.home_path)
    if session_user(site, request)[0] == "ok":  # already signed in, as real sites do
        return RedirectResponse(next_url, 303)
    message = ""
    if request.query_params.get("expired"):
        message = EXPIRED
    elif request.query_params.get("signed_out"):
        message = SIGNED_OUT
    return site.render(
        request,
        "login.html",
        {
            "next": next_url,
            "message": message,
            "error": "",
            "email": "",
        },
    )


async def login_submit(request: Request) -> Response:
    site = _site(request)
    form = await site.form(request)
    email = str(form.get("email") or "").strip().lower()
    password = str(form.get("password") or "")
    next_url = safe_next(str(form.get("next") or ""), site.spec.home_path)
    row = site.conn.execute(
        "SELECT * FROM users WHERE flavor = ? AND email = ?", (site.flavor, email)
    ).fetchone()
    error = ""
    if row is not None and row["locked"]:
        error = LOCKED
    elif row is None or hash_password(email, password) != row["password_hash"]:
        error = WRONG_PASSWORD
        if row is not None:
            failed = row["failed_logins"] + 1
            site.conn.execute(
                "UPDATE users SET failed_logins = ?, locked = ? WHERE flavor = ? AND email = ?",
                (failed, int(failed >= MAX_FAILED_LOGINS), site.flavor, email),
            )
            site.state.dirty = True
            if failed >= MAX_FAILED_LOGINS:
                error = LOCKED
    if error:
        return site.render(
            request,
            "login.html",
            {"next": next_url, "message": "", "error": error, "email": email},
            200,
        )
    site.conn.execute(
        "UPDATE users SET failed_logins = 0 WHERE flavor = ? AND email = ?", (site.flavor, email)
    )
    stage = "mfa" if row["totp_secret"] and site.spec.mfa_path else "ok"
    return _start_session(site, email, stage, next_url, site.spec.mfa_path or next_url)


async def mfa_page(request: Request) -> Response:
    site = _site(request)
    status, _ = session_user(site, request)
    if status == "ok":
        return RedirectResponse(site.spec.home_path, 303)
    if status != "mfa":
        return login_redirect(site, request, expired=status == "expired")
    return site.render(request, "mfa.html", {"error": ""})


async def mfa_submit(request: Request) -> Response:
    site = _site(request)
    form = await site.form(request)
    status, _ = session_user(site, request)
    if status != "mfa":
        return login_redirect(site, request, expired=status == "expired")
    token = request.cookies.get(site.spec.session_cookie, "")
    row = site.conn.execute(
        "SELECT u.totp_secret FROM sessions s JOIN users u ON u.flavor = s.flavor AND "
        "u.email = s.email WHERE s.token = ?",
        (token,),
    ).fetchone()
    code = "".join(ch for ch in str(form.get("otp") or "") if ch.isdigit())
    if (
        row is None
        or len(code) != 6
        or not pyotp.TOTP(row["totp_secret"]).verify(code, valid_window=1)
    ):
        return site.render(request, "mfa.html", {"error": WRONG_CODE}, 200)
    site.conn.execute("UPDATE sessions SET stage = 'ok' WHERE token = ?", (token,))
    next_url = safe_next(
        request.cookies.get(f"{site.spec.session_cookie}_next", ""), site.spec.home_path
    )
    response = RedirectResponse(next_url, 303)
    response.delete_cookie(f"{site.spec.session_cookie}_next")
    return response


async def logout(request: Request) -> Response:
    site = _site(request)
    await site.form(request)
    token = request.cookies.get(site.spec.session_cookie, "")
    site.conn.execute("DELETE FROM sessions WHERE token = ?", (token,))
    response = RedirectResponse(f"{site.spec.login_path}?signed_out=1", 303)
    response.delete_cookie(site.spec.session_cookie)
    return response


def actor(request: Request) -> str:
    user: Any = getattr(request.state, "user", None)
    return str(user.email) if user else "unknown"
