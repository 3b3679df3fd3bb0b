"""Helpers for the sandbox tests: an HTTP client that logs in like a browser."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from sandbox.testing import LOGIN_LABELS, LOGIN_PATHS, SandboxServer

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def http_login(sandbox: SandboxServer, flavor: str, account: str = "lead") -> httpx.Client:
    """A logged-in httpx client (follows redirects; TOTP on MarketHub)."""
    client = httpx.Client(base_url=sandbox.url(flavor), follow_redirects=True, timeout=15)
    creds = sandbox.credentials(flavor, account)
    page = client.get(LOGIN_PATHS[flavor])
    response = client.post(
        LOGIN_PATHS[flavor],
        data={
            "csrf_token": csrf_of(page.text),
            "email": creds.username,
            "password": creds.password,
        },
    )
    if flavor == "markethub":
        response = client.post(
            "/ap/mfa", data={"csrf_token": csrf_of(response.text), "otp": creds.totp()}
        )
    assert response.status_code == 200, response.text
    assert "Log out" in response.text or "Sign out" in response.text, response.text[:2000]
    return client


@pytest.fixture
def client_for(sandbox: SandboxServer) -> Iterator[object]:
    clients: list[httpx.Client] = []

    def make(flavor: str, account: str = "lead") -> httpx.Client:
        clients.append(http_login(sandbox, flavor, account))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


__all__ = ["LOGIN_LABELS", "LOGIN_PATHS", "csrf_of", "http_login"]
