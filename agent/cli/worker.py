"""`aijia worker`: execute runs for the Temporal backend (agent/backends/temporal/)."""

from __future__ import annotations

from pathlib import Path

import typer

from agent.cli.common import ConfigOption, handles_errors, json_text, set_log_level


@handles_errors
def worker(
    concurrency: int = typer.Option(
        4,
        "--concurrency",
        "-n",
        min=1,
        max=32,
        help="Run phases (browser work) at once in this process.",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the ready line as one JSON object (for supervisors)."
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Execute runs as a Temporal worker: poll runs.temporal.task_queue for run workflows and
    their phases (prepare, commit, reconcile), with this machine's Chromium and the store of
    config.yaml. Start more workers, here or on other machines, for more runs at once.

    Needs `runs.backend: temporal` and the `scale` extra (temporalio). Prints a ready line
    once polling; SIGINT or SIGTERM stops it after the phases in hand (exit 0). Exit 2 when
    the backend is not temporal or the Temporal service cannot be reached.
    """
    import asyncio
    import signal

    from agent import AsyncAijia
    from agent.core.errors import ConfigError

    def ready(address: str, task_queue: str) -> None:
        if as_json:
            typer.echo(json_text({"ready": True, "address": address, "task_queue": task_queue}))
        else:
            typer.echo(f"Aijia worker: polling task queue {task_queue} at {address}")
            typer.echo("Stop with Ctrl-C (SIGINT) or SIGTERM.")

    async def main() -> None:
        async with AsyncAijia.from_config(config) as aijia:
            set_log_level(aijia.settings.log_level)
            if aijia.settings.runs.backend != "temporal":
                raise ConfigError(
                    "`aijia worker` executes runs of the temporal backend, and runs.backend "
                    f"is {aijia.settings.runs.backend!r}",
                    hint="set runs.backend: temporal (and runs.temporal.address) in "
                    "config.yaml; on the local backend `aijia serve` commits approved runs",
                )
            try:
                from agent.backends.temporal.worker import serve_worker
            except ImportError as exc:
                raise ConfigError(
                    f"the temporal backend needs temporalio ({exc})",
                    hint="pip install 'aijia[scale]'",
                ) from None
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for number in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(number, stop.set)
            await serve_worker(aijia, stop, concurrency=concurrency, ready=ready)

    asyncio.run(main())
