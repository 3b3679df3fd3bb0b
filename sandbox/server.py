"""Run the seller centers: each flavor is its own Starlette app on its own port, all in one
process and one asyncio loop, sharing one SQLite database.

Ports: shoplane = port, markethub = port + 1, storefront = port + 2. Port 0 picks free ports
(the test harness uses it and reads the ready line). SIGINT/SIGTERM stop every server cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from sandbox import courier, heavy
from sandbox.errors import SandboxError
from sandbox.faults import Faults
from sandbox.seed import DEFAULT_COUNT, DEFAULT_SEED, FLAVORS
from sandbox.web import SandboxState, Site, build_app

PORT_OFFSETS = {"shoplane": 0, "markethub": 1, "storefront": 2, "kedai": 4}  # 3: the CDN
CDN = "cdn"  # not a flavor: the key of the CDN's server among the flavors' ones
CDN_PORT_OFFSET = 3  # the CDN that heavy pages load a script from (its own origin)


@dataclass
class ServeOptions:
    """What `serve` runs. `faults` are validated `{name: value}` for every served flavor."""

    flavors: tuple[str, ...] = FLAVORS
    host: str = "127.0.0.1"
    port: int = 8700
    db_path: Path | str = Path("var/sandbox/sandbox.db")
    seed: int = DEFAULT_SEED
    count: int = DEFAULT_COUNT
    today: date | None = None
    token: str | None = None
    faults: dict[str, Any] = field(default_factory=dict)


def parse_flavors(choice: str) -> tuple[str, ...]:
    if choice == "all":
        return FLAVORS
    names = tuple(n.strip() for n in choice.split(",") if n.strip())
    unknown = [n for n in names if n not in FLAVORS]
    if unknown or not names:
        raise SandboxError(
            f"unknown flavor {', '.join(unknown) or choice!r}",
            hint=f"use all or one of {', '.join(FLAVORS)}",
        )
    return names


def make_site(flavor: str, state: SandboxState) -> tuple[Site, Starlette]:
    module = importlib.import_module(f"sandbox.flavors.{flavor}")
    site = module.make_site(state)
    return site, build_app(site, module.routes())


def build(options: ServeOptions) -> tuple[SandboxState, dict[str, Starlette]]:
    """The state and one app per served flavor, faults applied. No sockets yet."""
    state = SandboxState(
        options.db_path,
        seed=options.seed,
        count=options.count,
        today=options.today,
        token=options.token,
    )
    apps: dict[str, Starlette] = {}
    for flavor in options.flavors:
        site, app = make_site(flavor, state)
        try:
            site.faults.update(options.faults)
        except ValueError as exc:
            raise SandboxError(str(exc), hint="see `aijia sandbox serve --help`") from None
        apps[flavor] = app
    return state, apps


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SandboxError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            hint="pick another --port, or stop what is using it",
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class _QuietServer(uvicorn.Server):
    """Signals are handled once for all servers by `serve`, not by each uvicorn server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass(frozen=True)
class Running:
    """What `serve` reports once every server accepts connections."""

    urls: dict[str, str]
    token: str
    state: SandboxState
    cdn_url: str = ""


def serve(options: ServeOptions, on_ready: Callable[[Running], None] | None = None) -> None:
    """Bind, serve until SIGINT/SIGTERM, then shut every server down. Raises SandboxError."""
    state, apps = build(options)
    sockets: dict[str, socket.socket] = {}
    try:
        for flavor in apps:
            port = options.port + PORT_OFFSETS[flavor] if options.port else 0
            sockets[flavor] = _bind(options.host, port)
        cdn_port = options.port + CDN_PORT_OFFSET if options.port else 0
        sockets[CDN] = _bind(options.host, cdn_port)
        host, port = sockets[CDN].getsockname()[:2]
        state.cdn_url = f"http://{host}:{port}"
        cdn = Starlette(routes=[*heavy.cdn_app().routes, *courier.routes(state.conn)])
        apps = {**apps, CDN: cdn}  # the CDN host also serves the courier's tracking site
        asyncio.run(_serve_all(options, state, apps, sockets, on_ready))
    finally:
        for sock in sockets.values():
            sock.close()
        state.conn.close()


async def _serve_all(
    options: ServeOptions,
    state: SandboxState,
    apps: dict[str, Starlette],
    sockets: dict[str, socket.socket],
    on_ready: Callable[[Running], None] | None,
) -> None:
    servers = {
        flavor: _QuietServer(
            uvicorn.Config(
                app,
                log_level="warning",
                lifespan="off",
                access_log=False,
                timeout_graceful_shutdown=2,
            )
        )
        for flavor, app in apps.items()
    }
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server in servers.values():
            server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    tasks = [asyncio.create_task(servers[f].serve(sockets=[sockets[f]])) for f in servers]
    while not all(s.started for s in servers.values()):
        if any(t.done() for t in tasks):
            break
        await asyncio.sleep(0.02)
    if all(s.started for s in servers.values()) and on_ready is not None:
        urls = {}
        for flavor, sock in sockets.items():
            if flavor != CDN:
                host, port = sock.getsockname()[:2]
                urls[flavor] = f"http://{host}:{port}"
        on_ready(Running(urls, state.token, state, state.cdn_url))
    await asyncio.gather(*tasks)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)


def startup_lines(running: Running) -> list[str]:
    """What `aijia sandbox serve` prints: URLs, demo logins, export lines, the admin token."""
    from sandbox.accounts import ACCOUNTS, ENV_NAMES

    lines = []
    for flavor, url in running.urls.items():
        site = running.state.sites[flavor]
        lines.append(f"{site.spec.title:26} {url}{site.spec.login_path}")
        for account in ACCOUNTS[flavor]:
            totp = f"  TOTP secret {account.totp_secret}" if account.totp_secret else ""
            lines.append(f"  {account.role:9} {account.email} / {account.password}{totp}")
    lines.append("")
    lines.append("# for config.yaml's secret references:")
    for flavor in running.urls:
        lead = next(a for a in ACCOUNTS[flavor] if a.role == "lead")
        for field_name, env_name in ENV_NAMES[flavor].items():
            lines.append(f"export {env_name}={getattr(lead, field_name)}")
    active = {
        name: value
        for name, value in next(iter(running.state.sites.values())).faults.as_dict().items()
        if value != Faults().as_dict()[name]
    }
    if active:
        lines.append("")
        lines.append("faults: " + ", ".join(f"{name}={value}" for name, value in active.items()))
    lines.append("")
    lines.append(f"admin: X-Sandbox-Token: {running.token}  (POST /__sandbox/faults, /reset)")
    lines.append("Press Ctrl-C to stop.")
    return lines
