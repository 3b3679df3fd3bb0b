"""Run the sandbox for tests: a real server in a subprocess, on free ports, with a fresh DB.

Most tests use the pytest fixtures in ``tests/conftest.py``::

    def test_refund(sandbox, page):                 # `sandbox` is a SandboxServer
        order = sandbox.find_orders("shoplane", "delivered", limit=1)[0]
        login(page, sandbox, "shoplane")            # UI login (TOTP too on markethub)
        page.goto(sandbox.url("shoplane", order.url_path))
        ...
        assert sandbox.ledger("shoplane")["refunds"][0]["order_id"] == order.order_id

The server lives for the whole pytest session; after each test that changed anything (a
refund, a note, faults, a failed login …) the fixture calls ``reset()``: data re-seeded,
faults cleared, everyone logged out. Outside pytest::

    with SandboxServer(tmp_dir) as sandbox:
        print(sandbox.base_urls)
"""

from __future__ import annotations

import json
import re
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import pyotp

from sandbox.accounts import ACCOUNTS, ENV_NAMES
from sandbox.errors import SandboxError
from sandbox.fixtures import OrderSummary, find_orders
from sandbox.seed import DEFAULT_COUNT, DEFAULT_SEED, FLAVORS

if TYPE_CHECKING:
    from playwright.sync_api import Page

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    totp_secret: str | None = None

    def totp(self) -> str:
        """The current 6-digit code (MarketHub only)."""
        if not self.totp_secret:
            raise SandboxError(f"{self.username} has no TOTP secret")
        return pyotp.TOTP(self.totp_secret).now()


def credentials(flavor: str, account: str = "lead") -> Credentials:
    """Demo login of `account` ("lead", "reviewer" or "locked") on `flavor`."""
    for acc in ACCOUNTS[flavor]:
        if acc.role == account:
            return Credentials(acc.email, acc.password, acc.totp_secret)
    raise SandboxError(
        f"no {account!r} account on {flavor}", hint="accounts: lead, reviewer, locked"
    )


class SandboxServer:
    """A sandbox subprocess (``python -m sandbox``) and a small client for its admin API."""

    def __init__(
        self,
        workdir: Path,
        *,
        seed: int = DEFAULT_SEED,
        orders: int = DEFAULT_COUNT,
        flavors: str = "all",
        token: str = "sandbox-test-token",
        faults: dict[str, Any] | None = None,
        today: date | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.seed = seed
        self.orders = orders
        self.flavors = flavors
        self.token = token
        self.faults = faults or {}
        self.today = today
        self.base_urls: dict[str, str] = {}
        self.cdn_url = ""  # the CDN origin heavy pages use (fault heavy=true)
        self._proc: subprocess.Popen[bytes] | None = None
        self._http = httpx.Client(timeout=15, headers={"X-Sandbox-Token": token})

    # ---------------------------------------------------------------- life cycle

    def start(self, timeout: float = 30.0) -> SandboxServer:
        """Start and wait until every seller center answers. Raises SandboxError."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.workdir / "sandbox.log"
        command = [
            sys.executable,
            "-m",
            "sandbox",
            "--port",
            "0",
            "--flavor",
            self.flavors,
            "--db",
            str(self.workdir / "sandbox.db"),
            "--seed",
            str(self.seed),
            "--orders",
            str(self.orders),
            "--token",
            self.token,
        ]
        if self.today:
            command += ["--today", self.today.isoformat()]
        for name, value in self.faults.items():
            command += ["--fault", f"{name}={value}"]
        with log.open("ab") as log_file:
            self._proc = subprocess.Popen(
                command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=log_file
            )
        assert self._proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline and self._proc.poll() is None:
            ready, _, _ = select.select([self._proc.stdout], [], [], 0.1)
            if ready:
                line = self._proc.stdout.readline()
                break
        try:
            message = json.loads(line)
        except ValueError:
            self.stop()
            raise SandboxError(
                f"the sandbox did not start: {log.read_text()[-2000:]}",
                hint=f"run: {' '.join(command)}",
            ) from None
        self.base_urls = dict(message["urls"])
        self.cdn_url = str(message.get("cdn", ""))
        info = self.info()
        self.today = date.fromisoformat(info["today"])
        return self

    def stop(self) -> None:
        """SIGTERM, then wait; SIGKILL only if it does not stop in 10 s."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()
        self._proc = None
        self._http.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---------------------------------------------------------------- where and who

    def url(self, flavor: str, path: str = "") -> str:
        """Base URL of `flavor`, plus `path` (e.g. an `OrderSummary.url_path`)."""
        if flavor not in self.base_urls:
            raise SandboxError(f"{flavor} is not served here; serving {list(self.base_urls)}")
        return self.base_urls[flavor] + path

    def credentials(self, flavor: str, account: str = "lead") -> Credentials:
        return credentials(flavor, account)

    def env(self) -> dict[str, str]:
        """The environment config.yaml's secret references read, e.g. SHOPLANE_PASSWORD."""
        values: dict[str, str] = {}
        for flavor in FLAVORS:
            lead = credentials(flavor)
            for field, name in ENV_NAMES[flavor].items():
                values[name] = str(getattr(lead, field))
        return values

    def find_orders(
        self, flavor: str, case: str | None = None, limit: int | None = None
    ) -> list[OrderSummary]:
        """Seeded orders with `case` (see `sandbox.fixtures.CASES`), as this server has them."""
        return find_orders(
            flavor, case, limit=limit, seed=self.seed, count=self.orders, today=self.today
        )

    # ---------------------------------------------------------------- admin API

    def _call(self, method: str, flavor: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, self.url(flavor, path), **kwargs)
        if response.status_code >= 400:
            raise SandboxError(
                f"{method} {path} on {flavor}: {response.status_code} {response.text}"
            )
        return response.json()

    def info(self, flavor: str | None = None) -> dict[str, Any]:
        flavor = flavor or next(iter(self.base_urls))
        result: dict[str, Any] = self._call("GET", flavor, "/__sandbox/info")
        return result

    def set_faults(self, flavor: str | None = None, **faults: Any) -> None:
        """E.g. ``set_faults(latency=300)`` (all flavors) or ``set_faults("shoplane",
        layout="v2")``. Names: latency, error_rate, commit_error_rate, session_ttl,
        maintenance, layout,
        challenge (see `sandbox.faults`)."""
        if flavor is None:
            self._call(
                "POST", next(iter(self.base_urls)), "/__sandbox/faults?scope=all", json=faults
            )
        else:
            self._call("POST", flavor, "/__sandbox/faults", json=faults)

    def reset(self) -> None:
        """Re-seed every flavor, clear faults, log everyone out."""
        self._call("POST", next(iter(self.base_urls)), "/__sandbox/reset")

    def is_dirty(self) -> bool:
        """Did anything change since the last reset (data, failed logins, faults)?"""
        return bool(self.info()["dirty"])

    def ledger(self, flavor: str, *, include_seed: bool = False) -> dict[str, Any]:
        """Refunds, notes and return answers written since the seed (JSON, amounts "12.50")."""
        suffix = "?all=1" if include_seed else ""
        result: dict[str, Any] = self._call("GET", flavor, "/__sandbox/ledger" + suffix)
        return result

    def order(self, flavor: str, order_id: str) -> dict[str, Any]:
        """The order as the back office has it now: status, refundable, refunds, notes."""
        result: dict[str, Any] = self._call(
            "GET", flavor, "/__sandbox/orders/" + quote(order_id, safe="")
        )
        return result

    def mutate_order(
        self,
        flavor: str,
        order_id: str,
        *,
        status: str | None = None,
        refund_amount: str | None = None,
        refund_reason: str = "other",
        note: str | None = None,
    ) -> dict[str, Any]:
        """Change an order behind the agent's back (e.g. between prepare and approve)."""
        change: dict[str, Any] = {}
        if status is not None:
            change["status"] = status
        if refund_amount is not None:
            change["refund"] = {"amount": refund_amount, "reason": refund_reason}
        if note is not None:
            change["note"] = note
        result: dict[str, Any] = self._call(
            "POST", flavor, "/__sandbox/orders/" + quote(order_id, safe=""), json=change
        )
        return result

    def expire_sessions(self, flavor: str) -> None:
        """Every logged-in browser of `flavor` is sent to the login page on its next request."""
        self._call("POST", flavor, "/__sandbox/sessions/expire")


LOGIN_LABELS = {
    "shoplane": ("Email", "Password", "Log in"),
    "markethub": ("Email or mobile phone number", "Password", "Sign in"),
    "storefront": ("Email", "Password", "Log in"),
}


LOGIN_PATHS = {
    "shoplane": "/account/signin",
    "markethub": "/ap/signin",
    "storefront": "/admin/auth/login",
}


def login(
    page: Page, sandbox: SandboxServer, flavor: str, account: str = "lead", then: str = ""
) -> None:
    """Log `page` in through the real login form (and the TOTP step on MarketHub), landing on
    the orders list or on `then` (a path such as `OrderSummary.url_path`)."""
    creds = sandbox.credentials(flavor, account)
    email, password, button = LOGIN_LABELS[flavor]
    query = f"?next={quote(then, safe='')}" if then else ""
    page.goto(sandbox.url(flavor, LOGIN_PATHS[flavor] + query))
    page.get_by_label(email, exact=True).fill(creds.username)
    page.get_by_label(password, exact=True).fill(creds.password)
    page.get_by_role("button", name=button, exact=True).click()
    if flavor == "markethub" and creds.totp_secret:
        page.get_by_label("Enter OTP", exact=True).fill(creds.totp())
        page.get_by_role("button", name="Submit code", exact=True).click()
    page.wait_for_load_state()


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if not match:
        raise SandboxError("no CSRF token on the login page")
    return match.group(1)


def login_cookies(sandbox: SandboxServer, flavor: str, account: str = "lead") -> list[Any]:
    """Log in over HTTP (CSRF, TOTP) and return the cookies, ready for
    ``BrowserContext.add_cookies``. Much cheaper than the form when login is not the point."""
    creds = sandbox.credentials(flavor, account)
    base = sandbox.url(flavor)
    with httpx.Client(base_url=base, follow_redirects=True, timeout=15) as client:
        page = client.get(LOGIN_PATHS[flavor])
        answer = client.post(
            LOGIN_PATHS[flavor],
            data={
                "csrf_token": _csrf(page.text),
                "email": creds.username,
                "password": creds.password,
            },
        )
        if flavor == "markethub" and creds.totp_secret:
            answer = client.post(
                "/ap/mfa", data={"csrf_token": _csrf(answer.text), "otp": creds.totp()}
            )
        if LOGIN_PATHS[flavor] in str(answer.url) or "/ap/mfa" in str(answer.url):
            raise SandboxError(f"could not log in to {flavor} as {creds.username}")
        return [{"name": c.name, "value": c.value or "", "url": base} for c in client.cookies.jar]


def quick_login(
    page: Page, sandbox: SandboxServer, flavor: str, account: str = "lead", then: str = ""
) -> None:
    """Like `login`, without the form: the page gets a fresh session cookie, then opens `then`
    (default: the orders list)."""
    page.context.add_cookies(login_cookies(sandbox, flavor, account))
    page.goto(sandbox.url(flavor, then or "/"))
