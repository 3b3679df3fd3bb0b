"""The `aijia` command line: parse, call agent/ evidence/ sandbox/, print, map errors to exit codes.

No logic lives here. Heavy imports happen inside the commands so that `aijia --help` is fast.
Exit codes: 0 ok, 1 a run failed, 2 invalid recipe/input/config, 3 a run paused at a gate,
4 browser or sandbox unavailable, 5 gate error, 6 policy refused, 7 evidence error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

app = typer.Typer(
    name="aijia",
    help="Aijia: a headless back-office agent for ecommerce support teams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])

ConfigOption = typer.Option(
    None, "--config", "-c", help="config.yaml to use (default: $AIJIA_CONFIG, ./config.yaml)."
)


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def handles_errors(func: F) -> F:
    """Turn AgentError into a one-paragraph message on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from agent.errors import AgentError

        try:
            return func(*args, **kwargs)
        except AgentError as err:
            _console(stderr=True).print(f"[bold red]error:[/] {err}", markup=True, soft_wrap=True)
            raise typer.Exit(err.exit_code) from None

    return wrapper  # type: ignore[return-value]


# --------------------------------------------------------------------------- doctor


@app.command()
@handles_errors
def doctor(config: Path | None = ConfigOption) -> None:
    """Check Python, Playwright, the browser, the config file and the data dir; suggest fixes."""
    from rich.table import Table

    from agent.doctor import run_checks

    checks = run_checks(config)
    table = Table(title="aijia doctor", show_lines=False)
    table.add_column("check")
    table.add_column("ok")
    table.add_column("detail", overflow="fold")
    for check in checks:
        mark = "[green]yes[/]" if check.ok else "[red]NO[/]"
        detail = check.detail if check.ok else f"{check.detail}\n[yellow]fix:[/] {check.fix}"
        table.add_row(check.name, mark, detail)
    _console().print(table)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


# --------------------------------------------------------------------------- sandbox
# (sandbox sub-commands: owned by the sandbox work; keep them thin)

sandbox_app = typer.Typer(help="The simulated seller centers used by the demo and the tests.")
app.add_typer(sandbox_app, name="sandbox")


# --------------------------------------------------------------------------- recipes / run

# --------------------------------------------------------------------------- evidence

# --------------------------------------------------------------------------- demo


def main() -> None:  # pragma: no cover - `python cli.py`
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
