"""A small OpenID Connect provider for tests: the real protocol over HTTP, no login form.

    with OidcProvider() as idp:                 # uvicorn on 127.0.0.1, in its own thread
        idp.issuer                              # http://localhost:PORT (another site than
                                                # the console on 127.0.0.1, as in production)
        idp.user = "reviewer"                   # who /authorize signs in next
        idp.audience = "someone-else"           # tamper with the next ID token
        idp.requests                            # what /authorize was asked, in order

Endpoints: the discovery document, the JWKS (one RSA key), /authorize (the authorization
code flow: checks the client and the redirect URI, then shows a page with one link,
"Continue as <user>", that redirects back with a code and the state; no password form),
/token (checks the client secret, the code, the redirect URI and the PKCE verifier, and
answers with an RS256 ID token carrying iss, aud, sub, nonce, iat, exp and
preferred_username, signed with joserfc).
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.threaded_server import ThreadedServer

CLIENT_ID = "aijia-console"
CLIENT_SECRET = "test-client-secret-5e1f"


@dataclass
class Grant:
    """A code /authorize handed out, waiting for /token."""

    user: str
    client_id: str
    redirect_uri: str
    nonce: str | None
    challenge: str | None


@dataclass
class OidcProvider:
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    user: str = "reviewer"  # who the next /authorize signs in
    audience: str | None = None  # the next ID tokens' aud (None: the client id)
    issued_by: str | None = None  # the next ID tokens' iss (None: this issuer)
    requests: list[dict[str, str]] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-1", "use": "sig"})
        self.grants: dict[str, Grant] = {}
        self.pending: dict[str, dict[str, str]] = {}  # /authorize requests awaiting "Continue"
        self._server: ThreadedServer | None = None

    @property
    def issuer(self) -> str:
        return f"http://localhost:{self.port}"

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> OidcProvider:
        self._server = ThreadedServer(self.app(), "the test OIDC provider").start()
        self.port = self._server.port
        return self

    def stop(self) -> None:
        """Stop listening (idempotent): the provider is down from here on."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> OidcProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- the protocol

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/authorize/continue", self.authorize_continue),
                Route("/token", self.token, methods=["POST"]),
            ]
        )

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
            }
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        asked = dict(request.query_params)
        self.requests.append(asked)
        if asked.get("client_id") != self.client_id or asked.get("response_type") != "code":
            return JSONResponse({"error": "unauthorized_client"}, status_code=400)
        redirect_uri = asked.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://127.0.0.1:", "http://localhost:")):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        ticket = secrets.token_urlsafe(16)
        self.pending[ticket] = asked
        # The person acts on the provider's page: the way back is a navigation this site
        # starts (so the browser treats the console's callback as a cross-site request).
        return HTMLResponse(
            f"<!doctype html><title>Test provider</title>"
            f'<p><a href="/authorize/continue?ticket={ticket}">Continue as {html.escape(self.user)}'
            "</a></p>"
        )

    async def authorize_continue(self, request: Request) -> Response:
        asked = self.pending.pop(request.query_params.get("ticket", ""), None)
        if asked is None:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = self.code_for(asked)
        back = {"code": code, **({"state": asked["state"]} if "state" in asked else {})}
        return RedirectResponse(f"{asked['redirect_uri']}?{urlencode(back)}", status_code=302)

    def code_for(self, asked: dict[str, str]) -> str:
        """An authorization code for `user`, as /authorize grants it (tests use it to forge
        a callback with a genuine code)."""
        code = secrets.token_urlsafe(24)
        self.grants[code] = Grant(
            self.user,
            asked.get("client_id", self.client_id),
            asked.get("redirect_uri", ""),
            asked.get("nonce"),
            asked.get("code_challenge") if asked.get("code_challenge_method") == "S256" else None,
        )
        return code

    async def token(self, request: Request) -> Response:
        form = await request.form()
        client_id, secret = _client_auth(request, form)
        if client_id != self.client_id or secret != self.client_secret:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self.grants.pop(str(form.get("code", "")), None)
        if grant is None or grant.redirect_uri != form.get("redirect_uri"):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if grant.challenge is not None:
            verifier = str(form.get("code_verifier", ""))
            digest = hashlib.sha256(verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.challenge:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issued_by or self.issuer,
            "aud": self.audience or grant.client_id,
            "sub": f"sub-{grant.user}",
            "iat": now,
            "exp": now + 300,
            "preferred_username": grant.user,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        id_token = jwt.encode({"alg": "RS256", "kid": "test-1"}, claims, self.key)
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(24),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token,
            }
        )


def _client_auth(request: Request, form: Any) -> tuple[str, str]:
    """client_secret_basic (the Authorization header) or client_secret_post (the form)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        decoded = base64.b64decode(header[6:]).decode()
        name, _, secret = decoded.partition(":")
        return unquote(name), unquote(secret)
    return str(form.get("client_id", "")), str(form.get("client_secret", ""))
