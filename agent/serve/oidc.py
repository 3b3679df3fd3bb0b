"""Optional sign-in through an OpenID Connect provider (`console.oidc`, Authlib).

    GET /signin/oidc?next=/gates/g-…   start: the authorization code flow (state, nonce, PKCE)
    GET /signin/oidc/callback          finish: code -> ID token (Authlib checks its signature
                                       against the provider's JWKS, issuer, audience, nonce,
                                       expiry), the `username_claim` names the Aijia account

The provider proves who the person is; Aijia decides what they may do. The account must
exist and be enabled (`AsyncAijia.sign_in_external`): a sign-in never creates one, so roles
stay Aijia's. The console token it mints records the proof "oidc <issuer>", which each
approval made in that session records.

Why the flow has its own cookie: the session cookie is SameSite=Strict, and a browser does
not send it on the provider's redirect back (a navigation another site started). State,
nonce and PKCE verifier therefore travel in a short-lived cookie of their own (SameSite=Lax,
HttpOnly, only under /signin/oidc, signed with a per-process key, ten minutes), and after a
successful sign-in the callback answers with a page that moves on to `next` by itself (a
navigation this console starts, so the new session cookie goes with it).

Refusals (no such account, a disabled one, a forged or stale callback, an ID token from
another issuer or for another audience, a provider that is down) show the sign-in page with
a sentence naming the issuer and the reason; nothing is signed in. Authlib is the optional
extra `aijia[oidc]`, imported only when `console.oidc` is set: without it the console
refuses to start (ConfigError) and says what to install.
"""

from __future__ import annotations

import hmac
import secrets
import warnings
from typing import TYPE_CHECKING, Any

import httpx
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from agent.core.errors import ConfigError, PolicyError
from agent.core.secrets import SecretRef, resolve
from agent.gates.identity import PROOF_OIDC
from agent.serve import session
from agent.serve.auth import local_target
from agent.serve.pages import aijia_of, render

if TYPE_CHECKING:
    from starlette.requests import Request

    from agent.core.settings import OidcSettings

SCOPE = "openid profile email"
FLOW_COOKIE = "aijia_oidc"
FLOW_PATH = "/signin/oidc"
FLOW_SECONDS = 600  # a sign-in at the provider must finish within this
INSTALL_HINT = "install the extra: pip install 'aijia[oidc]' (or remove console.oidc)"


def routes(settings: OidcSettings | None) -> list[BaseRoute]:
    """The provider's sign-in routes, or none when `console.oidc` is not configured.
    ConfigError when it is configured but Authlib is missing or the client secret is unset."""
    if settings is None:
        return []
    provider = ProviderSignIn(settings)
    return [
        Route(FLOW_PATH, provider.start, methods=["GET"], name="oidc_start"),
        Route(f"{FLOW_PATH}/callback", provider.callback, methods=["GET"], name="oidc_callback"),
    ]


ErrorTypes = tuple[type[BaseException], ...]


def _authlib() -> tuple[Any, ErrorTypes, ErrorTypes]:
    """Authlib's Starlette client class, the errors of its HTTP client (the provider is
    unreachable or answered with an HTTP error) and those of its protocol checks."""
    try:
        # Authlib 1.9 warns, on import, that it would rather use httpx2 (not released for
        # every platform yet); the httpx it uses works, so the warning only confuses people.
        # (authlib.deprecate turns its warnings "always" on import: filter after it.)
        import authlib.deprecate

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=authlib.deprecate.AuthlibDeprecationWarning)
            import authlib.integrations.httpx_client
            from authlib.common.errors import AuthlibBaseError
            from authlib.integrations.starlette_client import OAuth
    except ImportError as exc:
        raise ConfigError(
            "console.oidc is set, but Authlib (OpenID Connect sign-in) is not installed",
            hint=INSTALL_HINT,
        ) from exc
    transport: ErrorTypes = (httpx.HTTPError, OSError)
    try:  # newer Authlib prefers httpx2 when it is installed
        import httpx2

        transport = (*transport, httpx2.HTTPError)
    except ImportError:
        pass
    protocol: ErrorTypes = (AuthlibBaseError, ValueError, KeyError, RuntimeError)
    try:  # Authlib 1.7+ checks tokens with joserfc, whose errors are its own
        from joserfc.errors import JoseError

        protocol = (*protocol, JoseError)
    except ImportError:
        pass
    return OAuth, transport, protocol


class ProviderSignIn:
    """The two routes over one Authlib client for `settings`."""

    def __init__(self, settings: OidcSettings) -> None:
        oauth_class, self.transport_errors, self.protocol_errors = _authlib()
        self.settings = settings
        self.issuer = settings.issuer
        self.proof = f"{PROOF_OIDC} {settings.issuer}"
        secret = resolve(SecretRef.model_validate(settings.client_secret), site="console.oidc")
        self.client = oauth_class().register(
            "aijia",
            client_id=settings.client_id,
            client_secret=secret,
            server_metadata_url=f"{settings.issuer.rstrip('/')}/.well-known/openid-configuration",
            client_kwargs={"scope": SCOPE, "code_challenge_method": "S256", "timeout": 10.0},
        )
        # Signs the flow cookie; a restart during a sign-in only means clicking again.
        self.flows = URLSafeTimedSerializer(secrets.token_bytes(32), salt="aijia-oidc-flow")

    # ----------------------------------------------------------------- the two routes

    async def start(self, request: Request) -> Response:
        target = local_target(request.query_params.get("next"))
        try:
            await self._provider_metadata()
            asked = await self.client.create_authorization_url(self._redirect_uri(request))
        except Refused as refused:
            return self._refuse(request, target, refused)
        except self.transport_errors as exc:
            return self._refuse(request, target, self._unreachable(exc))
        except self.protocol_errors as exc:  # e.g. a discovery document that is not JSON
            return self._refuse(request, target, self._not_proven(exc))
        flow = {
            "state": asked["state"],
            "nonce": asked["nonce"],
            "verifier": asked.get("code_verifier"),
            "redirect_uri": self._redirect_uri(request),
            "next": target,
        }
        response = RedirectResponse(asked["url"], status_code=302)
        response.set_cookie(
            FLOW_COOKIE,
            self.flows.dumps(flow),
            max_age=FLOW_SECONDS,
            path=FLOW_PATH,
            httponly=True,
            samesite="lax",  # sent on the provider's redirect back (a top-level GET)
            secure=aijia_of(request).settings.console.cookies_secure,
        )
        return response

    async def callback(self, request: Request) -> Response:
        flow = self._flow(request)
        target = local_target(flow.get("next") if flow else None)
        try:
            name = await self._proven_name(request, flow)
        except Refused as refused:
            return self._refuse(request, target, refused)
        aijia = aijia_of(request)
        try:
            who, token = await aijia.sign_in_external(name, proof=self.proof, label="console")
        except PolicyError as err:
            return self._refuse(request, target, Refused(err.message, err.hint))
        earlier = session.token_of(request)
        if earlier is not None:  # signed in already (as anyone): that token is done with
            await aijia.logout(earlier)
        session.start(request, token)
        response = render(request, "oidc_continue.html", me=who, target=target)
        response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
        return response

    # ----------------------------------------------------------------- the checks

    async def _proven_name(self, request: Request, flow: dict[str, Any] | None) -> str:
        """The account name the provider's ID token proves; Refused with the reason."""
        query = request.query_params
        if query.get("error"):
            detail = query.get("error_description") or query["error"]
            raise Refused(f"the identity provider {self.issuer} refused the sign-in: {detail}")
        state = query.get("state") or ""
        if flow is None or not hmac.compare_digest(str(flow.get("state", "")), state):
            raise Refused(
                "this sign-in was not started here, or it is stale (its state does not match)",
                "start again with the button on this page",
            )
        if not query.get("code"):
            raise Refused(f"the identity provider {self.issuer} sent no authorization code")
        try:
            await self._provider_metadata()
            tokens = await self.client.fetch_access_token(
                redirect_uri=flow["redirect_uri"],
                code=query["code"],
                code_verifier=flow.get("verifier"),
            )
            claims = await self.client.parse_id_token(
                tokens,
                nonce=flow["nonce"],
                claims_options={
                    "iss": {"essential": True, "value": self.issuer},
                    "aud": {"essential": True, "value": self.settings.client_id},
                    "sub": {"essential": True},
                },
            )
        except self.transport_errors as exc:
            raise self._unreachable(exc) from exc
        except self.protocol_errors as exc:
            raise self._not_proven(exc) from exc
        if claims is None:
            raise Refused(f"the identity provider {self.issuer} sent no ID token")
        name = claims.get(self.settings.username_claim)
        if not isinstance(name, str) or not name.strip():
            raise Refused(
                f"the ID token from {self.issuer} has no {self.settings.username_claim!r} claim",
                "set console.oidc.username_claim to the claim that names Aijia accounts",
            )
        return name.strip()

    async def _provider_metadata(self) -> dict[str, Any]:
        """The discovery document (Authlib keeps it), whose issuer must be ours exactly."""
        metadata: dict[str, Any] = await self.client.load_server_metadata()
        if metadata.get("issuer") != self.issuer:
            self.client.server_metadata.clear()  # look again next time
            raise Refused(
                f"the identity provider at {self.issuer} names itself "
                f"{metadata.get('issuer')!r}, not {self.issuer!r}",
                "console.oidc.issuer must be the provider's issuer exactly",
            )
        return metadata

    def _not_proven(self, exc: BaseException) -> Refused:
        return Refused(
            f"the identity provider {self.issuer} did not prove who you are: {_describe(exc)}",
            "ask your administrator to check console.oidc (issuer, client_id)",
        )

    def _unreachable(self, exc: BaseException) -> Refused:
        return Refused(
            f"the identity provider {self.issuer} could not be reached ({_describe(exc)})",
            "try again in a moment, or sign in with your password",
            status=503,
        )

    def _flow(self, request: Request) -> dict[str, Any] | None:
        raw = request.cookies.get(FLOW_COOKIE)
        if not raw:
            return None
        try:
            flow = self.flows.loads(raw, max_age=FLOW_SECONDS)
        except BadSignature:  # also SignatureExpired
            return None
        return flow if isinstance(flow, dict) else None

    def _redirect_uri(self, request: Request) -> str:
        public = aijia_of(request).settings.console.public_url
        if public:
            return f"{public}{FLOW_PATH}/callback"
        return str(request.url_for("oidc_callback"))

    def _refuse(self, request: Request, target: str, refused: Refused) -> Response:
        """The sign-in page with the reason; nothing signed in, the flow cookie gone."""
        response = render(
            request,
            "signin.html",
            status_code=refused.status,
            next=target,
            error=f"Sign-in refused: {refused.text}",
            notice=None,
            name="",
        )
        response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
        return response


class Refused(Exception):
    """Why a sign-in through the provider is refused, as the sign-in page shows it."""

    def __init__(self, message: str, hint: str | None = None, status: int = 403) -> None:
        super().__init__(message)
        self.status = status
        self.text = message + "." + (f" Hint: {hint}." if hint else "")


def _describe(exc: BaseException) -> str:
    """A short, single-line reason (no traceback, no secrets: error names and descriptions)."""
    text = getattr(exc, "description", None) or str(exc) or type(exc).__name__
    text = " ".join(str(text).split())
    return text if len(text) <= 200 else text[:197] + "…"
