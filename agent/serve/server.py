"""The `aijia serve` process: the console (uvicorn) and the commit worker on one event loop.

    server = ConsoleServer(aijia, log=log)           # host/port from console.*, or given
    url = await server.start()                       # http://127.0.0.1:8750 (port 0: any free)
    ...
    await server.stop()                              # the worker finishes its pass first

    await serve_until_signalled(aijia, ready=print)  # `aijia serve`: until SIGINT/SIGTERM

Both share the facade (one store, one Chromium), so an approval in the console kicks the
worker in-process and the commit starts at once, not at the next poll. With `scheduler=True`
the scheduler daemon (`aijia schedule run`) runs on the same loop too.

The listening socket is bound here, before uvicorn starts, so that a port already in use is a
ConfigError with a hint (exit 2), not uvicorn's log line and `sys.exit`; and uvicorn's own
signal handling is off, so that SIGTERM stops the worker and the scheduler first and the
process exits 0 (uvicorn would re-raise the signal after its shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from agent.core.errors import ConfigError
from agent.schedule.worker import CommitWorker
from agent.serve.app import build_app

if TYPE_CHECKING:
    from agent.api.async_api import AsyncAijia
    from agent.schedule.worker import Log

GRACE_S = 5  # open requests get this long to finish when the console stops


def _quiet(event: str, **fields: Any) -> None:
    return None


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: the process's owner (`serve_until_signalled`,
    or a test) decides when to stop, and the worker stops before the listener."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (0: any free port); ConfigError when the address
    cannot be had (the port is in use, the address is not this machine's, no permission)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        where = f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"cannot listen on {where}: the port is already in use",
                hint="stop the other process (another `aijia serve`?) or choose another port: "
                "`aijia serve --port N`, or console.port in config.yaml",
            ) from None
        raise ConfigError(
            f"cannot listen on {where}: {exc.strerror or exc}",
            hint="check console.host and console.port in config.yaml (or --host/--port); "
            "ports below 1024 need privileges",
        ) from None
    sock.setblocking(False)
    return sock


class ConsoleServer:
    def __init__(
        self,
        aijia: AsyncAijia,
        *,
        host: str | None = None,
        port: int | None = None,
        worker: bool = True,
        key_file: Path | None = None,
        log: Log = _quiet,
    ) -> None:
        """`worker=False`: the console only (another process commits)."""
        console = aijia.settings.console
        self.aijia = aijia
        self.host = host if host is not None else console.host
        self.port = port if port is not None else console.port
        self.log = log
        # on the temporal backend the run's workflow commits it (the console wakes it)
        worker = worker and aijia.settings.runs.backend != "temporal"
        self.worker = CommitWorker(aijia, log=log) if worker else None
        self.app = build_app(aijia, worker=self.worker, key_file=key_file)
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            log_level="warning",
            log_config=None,  # leave the process's logging alone (the CLI logs JSON lines)
            lifespan="off",
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=GRACE_S,
        )
        self.server = _Uvicorn(config)
        self.stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.url = ""

    async def start(self) -> str:
        """Listen and start the worker; the console's URL (ConfigError: the port is taken)."""
        sock = listen(self.host, self.port)
        serving = asyncio.create_task(self.server.serve(sockets=[sock]))
        self._tasks.append(serving)
        while not self.server.started:
            if serving.done():  # uvicorn gave up before listening
                serving.result()
                raise ConfigError(f"the console could not start on {self.host}:{self.port}")
            await asyncio.sleep(0.02)
        port = sock.getsockname()[1]
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{shown}:{port}"
        console = self.aijia.settings.console
        if not console.public_url:  # notices sent from this process link here at least
            console.public_url = self.url
        if self.worker is not None:
            self._tasks.append(asyncio.create_task(self.worker.serve(self.stopping)))
        self.log("console_started", url=self.url, worker=self.worker is not None)
        return self.url

    async def stop(self) -> None:
        """Stop the worker (it finishes the run in hand) and the listener (open requests get
        GRACE_S)."""
        self.stopping.set()
        self.server.should_exit = True
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.log("console_stopped", url=self.url)

    async def serve(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set."""
        await self.start()
        await stop.wait()
        await self.stop()


@contextlib.contextmanager
def _signals_set(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set `stop` (from the main thread only; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    try:
        yield
    finally:
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)


async def serve_until_signalled(
    aijia: AsyncAijia,
    *,
    host: str | None = None,
    port: int | None = None,
    worker: bool = True,
    scheduler: bool = False,
    log: Log = _quiet,
    ready: Callable[[ConsoleServer], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """`aijia serve`: the console (and the worker, and with `scheduler` the scheduler daemon)
    until SIGINT/SIGTERM or `stop`. `ready(server)` is called once the console listens. The
    scheduler's refusal to start (another daemon holds the store, a schedule's recipe is
    unknown) stops the console too and is raised."""
    stop = stop or asyncio.Event()
    server = ConsoleServer(aijia, host=host, port=port, worker=worker, log=log)
    with _signals_set(stop):
        await server.start()
        if ready is not None:
            ready(server)
        waits: list[asyncio.Task[Any]] = [asyncio.create_task(stop.wait())]
        daemon = None
        if scheduler:
            daemon = asyncio.create_task(aijia.serve_schedules(stop, log=log))
            waits.append(daemon)
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.set()
            await server.stop()
            for task in waits:
                with contextlib.suppress(Exception):
                    await task
    failed = daemon.exception() if daemon is not None and daemon.done() else None
    if failed is not None:
        raise failed
