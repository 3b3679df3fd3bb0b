"""Connect to a Chromium running elsewhere instead of launching one here.

    browser:
      remote:
        ws_endpoint: ws://browsers.internal:3000/4f1c…    # what `playwright launch-server` prints
        headers: {Authorization: {$env: BROWSER_TOKEN}}    # optional

Start the server with our closed-network flags (`aijia doctor` prints them; see
docs/scale_pool.md): `playwright launch-server --browser chromium --config cfg.json`. A worker
then shares that browser through Playwright's protocol; each run still gets a browser context
of its own, and containment travels with the context (its proxy settings are applied by the
remote Chromium), so an off-site request is blocked there as it is locally.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.core.errors import BrowserError
from agent.core.secrets import SecretRef, is_ref, resolve
from agent.core.settings import RemoteBrowserSettings

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright


def connect_headers(remote: RemoteBrowserSettings) -> dict[str, str]:
    """The connection headers, secret references resolved."""
    headers: dict[str, str] = {}
    for name, value in remote.headers.items():
        if is_ref(value):
            headers[name] = resolve(SecretRef.model_validate(value), site="browser.remote")
        else:
            headers[name] = str(value)
    return headers


def describe_endpoint(ws_endpoint: str) -> str:
    """scheme://host:port of the endpoint: the path is the server's secret, never shown."""
    scheme, _, rest = ws_endpoint.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


async def connect(playwright: Playwright, remote: RemoteBrowserSettings) -> Browser:
    """The remote Chromium; BrowserError with a hint when the endpoint does not answer."""
    where = describe_endpoint(remote.ws_endpoint)
    try:
        return await playwright.chromium.connect(
            remote.ws_endpoint, timeout=remote.timeout_ms, headers=connect_headers(remote)
        )
    except Exception as exc:  # Playwright's Error carries a long call log
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        raise BrowserError(
            f"the remote browser at {where} (browser.remote.ws_endpoint) did not answer: "
            f"{first.replace(remote.ws_endpoint, where)}",
            hint="check that `playwright launch-server` runs there and that the endpoint "
            "(with its path) is exactly what it printed; `aijia doctor` tries it",
        ) from exc


def remote_version(remote: RemoteBrowserSettings) -> str:
    """Connect once (sync Playwright) and return the remote browser's version; BrowserError
    as `connect` when it does not answer. For `aijia doctor`."""
    from playwright.async_api import async_playwright

    from agent.core.aio import run_sync

    async def probe() -> str:
        async with async_playwright() as pw:
            browser = await connect(pw, remote)
            try:
                return f"{browser.browser_type.name} {browser.version}"
            finally:
                await browser.close()

    return run_sync(probe)
