"""Console sign-in through an OpenID Connect provider (`console.oidc`), end to end.

A real provider speaking the protocol (tests/serve/oidc_provider.py, on another site than the
console: http://localhost:PORT vs http://127.0.0.1:PORT, as in production), the real console
(ConsoleServer with its worker) over this test's store and the sandbox, and Chromium clicking
through. The provider signs in whoever `idp.user` names; Aijia decides whether that account
may sign in and what it may do.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from agent.core.errors import ConfigError, PolicyError
from agent.core.settings import OidcSettings, Settings
from tests.recipes.conftest import product, store  # noqa: F401 - fixtures
from tests.serve.conftest import Console, start_console
from tests.serve.oidc_provider import OidcProvider

SECRET_ENV = "AIJIA_TEST_OIDC_SECRET"


@pytest.fixture
def idp() -> Iterator[OidcProvider]:
    with OidcProvider() as provider:
        yield provider


def _oidc(idp: OidcProvider, **changes: Any) -> OidcSettings:
    return OidcSettings(
        issuer=idp.issuer,
        client_id=idp.client_id,
        client_secret={"$env": SECRET_ENV},
        **changes,
    )


@pytest.fixture
def oidc_console(
    run: Any,
    chromium: Any,
    product: Settings,  # noqa: F811
    store: Any,  # noqa: F811
    sandbox: Any,
    tmp_path: Path,
    idp: OidcProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Console]:
    """tests/serve/conftest.py `console`, with console.oidc pointing at `idp`."""
    monkeypatch.setenv(SECRET_ENV, idp.client_secret)
    product.console.oidc = _oidc(idp)
    started = start_console(run, chromium, product, store, sandbox, tmp_path)
    yield started
    run(started.server.stop())


def sign_in_with_provider(page: Any, console: Console, next_path: str = "/") -> None:
    """What a reviewer does: the sign-in page, the provider's button."""
    page.goto(console.url + f"/signin?next={quote(next_path, safe='')}")
    page.get_by_role("link", name="Sign in with your identity provider").click()
    page.wait_for_load_state()
    if page.url.startswith(idp_of(console).issuer):  # the provider's own page
        page.get_by_role("link", name="Continue as").click()
        page.wait_for_load_state()


def idp_of(console: Console) -> Any:
    oidc = console.gates.settings.console.oidc
    assert oidc is not None
    return oidc


def session_cookie(page: Any) -> dict[str, Any] | None:
    found = [c for c in page.context.cookies() if c["name"] == "aijia_session"]
    return found[0] if found else None


def test_the_provider_signs_in_an_existing_account(
    oidc_console: Console, idp: OidcProvider, page: Any
) -> None:
    idp.user = "reviewer"
    sign_in_with_provider(page, oidc_console, "/?mine=1")

    page.wait_for_url(f"{oidc_console.url}/?mine=1")
    assert page.get_by_text("Signed in as").inner_text() == "Signed in as reviewer"
    asked = idp.requests[-1]  # the authorization code flow, with nonce and PKCE
    assert asked["response_type"] == "code" and asked["scope"].split()[0] == "openid"
    assert asked["nonce"] and asked["state"] and asked["code_challenge_method"] == "S256"
    assert asked["redirect_uri"] == f"{oidc_console.url}/signin/oidc/callback"
    # the session is Aijia's own (Strict), the flow's cookie is gone
    assert session_cookie(page)["sameSite"] == "Strict"
    assert [c["name"] for c in page.context.cookies()] == ["aijia_session"]
    # the token it minted proves "oidc <issuer>" wherever it is used
    tokens = oidc_console.gates.store.query("SELECT * FROM api_tokens WHERE user = 'reviewer'")
    assert [t["label"] for t in tokens][-1] == f"console [oidc {idp.issuer}]"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unknown", "no Aijia account is named 'mallory'"),
        ("disabled", "the account 'reviewer' is disabled"),
        ("audience", "did not prove who you are: Invalid claim: 'aud'"),
        ("issuer", "did not prove who you are: Invalid claim: 'iss'"),
    ],
)
def test_refused_sign_ins_sign_nobody_in(
    oidc_console: Console, idp: OidcProvider, page: Any, case: str, expected: str
) -> None:
    evidence = oidc_console.gates.store
    before = evidence.query("SELECT COUNT(*) AS n FROM api_tokens")[0]["n"]
    if case == "unknown":
        idp.user = "mallory"  # the provider knows her; Aijia has no such account
    elif case == "disabled":
        aijia = oidc_console.gates.aijia
        oidc_console.gates._run(aijia.set_user_enabled("reviewer", enabled=False, by="admin"))
    elif case == "audience":
        idp.audience = "another-client"
    else:
        idp.issued_by = "http://evil.example"

    sign_in_with_provider(page, oidc_console, "/")

    error = page.get_by_role("alert")
    assert expected in error.inner_text()
    assert error.inner_text().startswith("Sign-in refused:")
    assert page.get_by_text("Signed in as").count() == 0
    page.goto(oidc_console.url + "/")
    assert page.url.startswith(oidc_console.url + "/signin")
    assert evidence.query("SELECT COUNT(*) AS n FROM api_tokens")[0]["n"] == before


def test_a_forged_callback_is_refused(oidc_console: Console, idp: OidcProvider, page: Any) -> None:
    """A code the attacker obtained, delivered to a victim's browser with the attacker's
    state (login CSRF), or with no flow started here at all: refused, nobody signed in."""
    # the victim has started a sign-in (the flow cookie is set), the provider is bypassed
    page.route(f"{idp.issuer}/authorize**", lambda route: route.fulfill(status=204))
    page.goto(oidc_console.url + "/signin/oidc?next=/")
    assert [c["name"] for c in page.context.cookies()] == ["aijia_oidc"]
    # the attacker's own code, with their state
    code = _code_for(idp, "reviewer", oidc_console)
    page.goto(f"{oidc_console.url}/signin/oidc/callback?code={code}&state=attackers-state")
    assert "its state does not match" in page.get_by_role("alert").inner_text()
    assert page.get_by_text("Signed in as").count() == 0
    # no flow at all (a fresh browser context holds no flow cookie)
    page.context.clear_cookies()
    response = page.goto(f"{oidc_console.url}/signin/oidc/callback?code={code}&state=x")
    assert response.status == 403
    assert "its state does not match" in page.get_by_role("alert").inner_text()
    page.goto(oidc_console.url + "/")
    assert page.url.startswith(oidc_console.url + "/signin")  # nobody is signed in
    tokens = oidc_console.gates.store.query("SELECT label FROM api_tokens")
    assert not [t for t in tokens if "[oidc " in t["label"]]


def _code_for(idp: OidcProvider, user: str, console: Console) -> str:
    """A genuine authorization code for this console, as an attacker gets one for their own
    account by starting a sign-in and stopping before the callback."""
    idp.user = user
    return idp.code_for({"redirect_uri": f"{console.url}/signin/oidc/callback"})


def test_a_provider_that_is_down_is_named(
    oidc_console: Console, idp: OidcProvider, page: Any
) -> None:
    idp.stop()
    sign_in_with_provider(page, oidc_console, "/")
    error = page.get_by_role("alert").inner_text()
    assert f"the identity provider {idp.issuer} could not be reached" in error
    assert "Traceback" not in page.content()
    assert page.get_by_text("Signed in as").count() == 0


def test_an_approval_in_a_provider_session_records_the_proof(
    oidc_console: Console, idp: OidcProvider, page: Any
) -> None:
    prepared = oidc_console.gates.refund()
    idp.user = "reviewer"
    sign_in_with_provider(page, oidc_console, f"/gates/{prepared.gate_id}")
    page.wait_for_url(f"{oidc_console.url}/gates/{prepared.gate_id}")

    page.get_by_label("to confirm").fill(prepared.order_id)
    page.get_by_role("button", name="Approve").click()
    page.wait_for_load_state()

    proof = f"oidc {idp.issuer}"
    approvals = oidc_console.gates.store.query(
        "SELECT approver, proof FROM approvals WHERE gate_id = ?", [prepared.gate_id]
    )
    assert [(a["approver"], a["proof"]) for a in approvals] == [("reviewer", proof)]
    approved = [e.data for e in oidc_console.gates.store.events(prepared.run_id)]
    assert [(e["approver"], e.get("proof")) for e in approved if "approver" in e] == [
        ("reviewer", proof)
    ]


def test_a_password_sign_in_may_not_claim_the_providers_proof(
    oidc_console: Console, idp: OidcProvider
) -> None:
    """The label suffix that carries "oidc <issuer>" is reserved: `aijia login --label`
    cannot forge it."""
    from tests.gates.conftest import PASSWORD

    aijia = oidc_console.gates.aijia
    with pytest.raises(PolicyError, match="reserved"):
        oidc_console.gates._run(aijia.login("reviewer", PASSWORD, label=f"cli [oidc {idp.issuer}]"))
    _, token = oidc_console.gates._run(aijia.login("reviewer", PASSWORD, label="cli [oidc]"))
    assert oidc_console.gates._run(aijia.identify(token)).proof.startswith("token t-")


def test_without_authlib_the_console_does_not_start(
    product: Settings,  # noqa: F811
    idp: OidcProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agent.serve.oidc import routes

    monkeypatch.setenv(SECRET_ENV, idp.client_secret)
    monkeypatch.setitem(sys.modules, "authlib.integrations.starlette_client", None)
    with pytest.raises(ConfigError, match="Authlib") as refused:
        routes(_oidc(idp))
    assert "pip install 'aijia[oidc]'" in str(refused.value)
