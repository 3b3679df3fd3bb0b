"""Find a usable Chromium and launch it with the flags a closed network needs.

Order of preference: `$AIJIA_BROWSER`, then `browser.executable_path` in config.yaml, then
Playwright's own Chromium when it is installed, then a system Chromium on PATH.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.core.errors import BrowserError
from agent.core.settings import BrowserSettings

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

SYSTEM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Without these Chromium keeps calling home (updates, sync, field trials); on a closed network
# those calls fail loudly and slow start-up.
CLOSED_NETWORK_FLAGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # Chromium's autofill asks a Google server about every form it sees
    "--disable-features=AutofillServerCommunication",
    # A SharedWorker's requests bypass Playwright routing, through which the commit request is
    # held and compared with the approval; back offices do not need them
    "--disable-blink-features=SharedWorker",
)


@dataclass(frozen=True)
class BrowserChoice:
    """Which Chromium will run, and why that one."""

    executable: str | None  # None: let Playwright use its own bundled build
    source: str  # "env", "config", "playwright" or "system"


def playwright_chromium_path() -> str | None:
    """Path of Playwright's downloaded Chromium when it exists on disk, else None."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    try:
        with sync_playwright() as pw:
            path = pw.chromium.executable_path
    except Exception:
        return None
    return path if path and Path(path).is_file() else None


def find_browser(settings: BrowserSettings, *, check_playwright: bool = True) -> BrowserChoice:
    """Pick the Chromium to launch, or raise BrowserError with how to get one."""
    env = os.environ.get("AIJIA_BROWSER")
    if env:
        return BrowserChoice(_require_executable(env, "$AIJIA_BROWSER"), "env")
    if settings.executable_path:
        path = _require_executable(settings.executable_path, "browser.executable_path")
        return BrowserChoice(path, "config")
    if check_playwright:
        bundled = playwright_chromium_path()
        if bundled:
            return BrowserChoice(bundled, "playwright")
    for name in SYSTEM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return BrowserChoice(found, "system")
    raise BrowserError(
        "no Chromium found: Playwright's browser is not installed and none of "
        f"{', '.join(SYSTEM_CANDIDATES)} is on PATH",
        hint="run `make demo` or `make test` (they install one), or `apt-get install chromium`, "
        "or set AIJIA_BROWSER=/path/to/chrome",
    )


def _require_executable(path: str, where: str) -> str:
    resolved = shutil.which(path) or path
    if not (Path(resolved).is_file() and os.access(resolved, os.X_OK)):
        raise BrowserError(
            f"{where} points at {path!r}, which is not an executable file",
            hint="fix the path, or unset it to let Aijia find a browser",
        )
    return resolved


def browser_version(executable: str) -> str | None:
    """`chromium --version`, or None when it does not answer."""
    try:
        out = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, timeout=15, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = out.stdout.strip()
    return text or None


def launch_args(settings: BrowserSettings) -> list[str]:
    """Chromium flags: closed-network flags, --no-sandbox as root, then the user's extras."""
    args = list(CLOSED_NETWORK_FLAGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to start as root with its sandbox on
    args.extend(settings.extra_args)
    return args


def launch_options(settings: BrowserSettings, *, headless: bool | None = None) -> dict[str, Any]:
    """Keyword arguments for `playwright.chromium.launch` (sync or async)."""
    choice = find_browser(settings)
    options: dict[str, Any] = {
        "headless": settings.headless if headless is None else headless,
        "args": launch_args(settings),
    }
    if choice.executable and choice.source != "playwright":
        options["executable_path"] = choice.executable
    return options


# The DevTools address of each browser launched with `cdp=True` (see `cdp_url`).
_CDP_URLS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def cdp_url(browser: Any) -> str | None:
    """The loopback DevTools (CDP) address of a browser launched here with `cdp=True`;
    None for any other browser. The `agent` step shares the run's browser through it."""
    try:
        return _CDP_URLS.get(browser)
    except TypeError:  # not weak-referenceable: not one of ours
        return None


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def launch(
    playwright: Playwright,
    settings: BrowserSettings,
    *,
    headless: bool | None = None,
    cdp: bool = False,
) -> Browser:
    """Start Chromium through async Playwright; BrowserError with a hint when it cannot.

    `cdp`: also open a DevTools port on 127.0.0.1 (a free port), for the `agent` step's
    browser-use sub-task. Only when asked: any local process can drive a browser through an
    open DevTools port, logged-in sessions included.

    With `browser.remote` set (and no `cdp`: that needs a browser here), connect to the
    remote browser instead (agent/browser/remote.py)."""
    if settings.remote is not None and not cdp:
        from agent.browser.remote import connect

        return await connect(playwright, settings.remote)
    options = launch_options(settings, headless=headless)
    port = None
    if cdp:
        port = _free_loopback_port()
        options["args"] = [
            *options["args"],
            f"--remote-debugging-port={port}",
            "--remote-debugging-address=127.0.0.1",
        ]
    try:
        browser = await playwright.chromium.launch(**options)
        if port is not None:
            _CDP_URLS[browser] = f"http://127.0.0.1:{port}"
        return browser
    except Exception as exc:  # Playwright raises its own Error with a long log
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BrowserError(
            f"Chromium failed to start ({options.get('executable_path', 'playwright build')}): "
            f"{first}",
            hint="run `aijia doctor` to check the browser",
        ) from exc
