"""`aijia serve`: the review console and the commit worker in one process (agent/serve/)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from agent.cli.common import ConfigOption, handles_errors, set_log_level

if TYPE_CHECKING:
    from agent.serve.server import ConsoleServer


@handles_errors
def serve(
    host: str | None = typer.Option(
        None, "--host", help="Listen on this address (default: console.host, 127.0.0.1)."
    ),
    port: int | None = typer.Option(
        None,
        "--port",
        min=0,
        max=65535,
        help="Listen on this port (default: console.port, 8750; 0: any free port).",
    ),
    no_worker: bool = typer.Option(
        False,
        "--no-worker",
        help="The console only: do not commit approved runs here (another process does).",
    ),
    with_scheduler: bool = typer.Option(
        False,
        "--with-scheduler",
        help="Also run the scheduler daemon (`aijia schedule run`) in this process.",
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Run the review console (reviewers sign in, see the queue, approve or reject) and the
    commit worker (it commits approved runs once each, with the site secrets).

    Prints the console's URL on stdout; the worker's and the scheduler's events go to stderr
    as JSON lines. SIGINT or SIGTERM stops it: the worker finishes the run in hand and the
    process exits 0. Exit 2 when the port is already in use or config.yaml is invalid.
    """
    import asyncio

    from agent import AsyncAijia
    from agent.cli.schedule import json_log_line
    from agent.serve.server import serve_until_signalled

    def ready(server: ConsoleServer) -> None:
        if server.worker is not None:
            worker = "on"
        elif server.aijia.settings.runs.backend == "temporal":
            worker = "off: runs.backend is temporal, the workflows commit"
        else:
            worker = "off (--no-worker)"
        extra = "; scheduler on" if with_scheduler else ""
        typer.echo(f"Aijia review console: {server.url}  (commit worker {worker}{extra})")
        typer.echo("Stop with Ctrl-C (SIGINT) or SIGTERM.")

    async def main() -> None:
        async with AsyncAijia.from_config(config) as aijia:
            set_log_level(aijia.settings.log_level)  # config.yaml's, unless -v/-q said
            await serve_until_signalled(
                aijia,
                host=host,
                port=port,
                worker=not no_worker,
                scheduler=with_scheduler,
                log=json_log_line,
                ready=ready,
            )

    asyncio.run(main())
