"""The `aijia serve` process: the console (uvicorn) and the commit worker on one event loop.

    server = ConsoleServer(aijia, log=log)           # host/port from console.*, or given
    url = await server.start()                       # http://127.0.0.1:8750 (port 0: any free)
    ...
    await server.stop()                              # the worker finishes its pass first

Both share the facade (one store, one Chromium), so an approval in the console kicks the
worker in-process and the commit starts at once, not at the next poll.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from agent.schedule.worker import CommitWorker
from agent.serve.app import build_app

if TYPE_CHECKING:
    from agent.api.async_api import AsyncAijia
    from agent.schedule.worker import Log


def _quiet(event: str, **fields: Any) -> None:
    return None


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
        self.host = host if host is not None else console.host
        self.port = port if port is not None else console.port
        self.log = log
        self.worker = CommitWorker(aijia, log=log) if worker else None
        self.app = build_app(aijia, worker=self.worker, key_file=key_file)
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            server_header=False,
        )
        self.server = uvicorn.Server(config)
        self.stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.url = ""

    async def start(self) -> str:
        """Listen and start the worker; the console's URL (OSError: the port is taken)."""
        serving = asyncio.create_task(self.server.serve())
        self._tasks.append(serving)
        while not self.server.started:
            if serving.done():  # bind failed: uvicorn logged it and returned
                serving.result()
                raise OSError(f"could not listen on {self.host}:{self.port}")
            await asyncio.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://{self.host}:{port}"
        if self.worker is not None:
            self._tasks.append(asyncio.create_task(self.worker.serve(self.stopping)))
        self.log("console_started", url=self.url, worker=self.worker is not None)
        return self.url

    async def stop(self) -> None:
        self.stopping.set()
        self.server.should_exit = True
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.log("console_stopped", url=self.url)

    async def serve(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set (the CLI sets it on SIGINT/SIGTERM)."""
        await self.start()
        await stop.wait()
        await self.stop()
