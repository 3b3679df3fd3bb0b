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


@sandbox_app.command("serve")
@handles_errors
def sandbox_serve(
    flavor: str = typer.Option("all", help="all, shoplane, markethub or storefront."),
    host: str | None = typer.Option(None, help="Interface to bind (default: config, 127.0.0.1)."),
    port: int | None = typer.Option(
        None, help="First port; markethub +1, storefront +2 (default: config, 8700)."
    ),
    seed: int | None = typer.Option(None, help="Seed of the demo data (default: config)."),
    db: Path | None = typer.Option(
        None, help="SQLite file (default: <data_dir>/sandbox/sandbox.db)."
    ),
    fault: list[str] = typer.Option(
        [],
        "--fault",
        help="NAME=VALUE, repeatable: latency=300, error_rate=0.2, "
        "session_ttl=60, maintenance=true, layout=v2, challenge=true.",
    ),
    token: str | None = typer.Option(
        None, help="X-Sandbox-Token for /__sandbox (default: random)."
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Serve the seller centers on 127.0.0.1 and print URLs and logins; Ctrl-C stops."""
    from agent.config import load_config
    from agent.errors import SandboxError
    from sandbox.faults import parse_fault_flags
    from sandbox.server import Running, ServeOptions, parse_flavors, serve, startup_lines

    settings = load_config(config)
    try:
        faults = parse_fault_flags(fault)
    except ValueError as exc:
        raise SandboxError(str(exc), hint="see `aijia sandbox serve --help`") from None
    options = ServeOptions(
        flavors=parse_flavors(flavor),
        host=host or settings.sandbox.host,
        port=settings.sandbox.port if port is None else port,
        db_path=db or settings.data_dir / "sandbox" / "sandbox.db",
        seed=settings.sandbox.seed if seed is None else seed,
        count=settings.sandbox.orders_per_flavor,
        token=token,
        faults=faults,
    )
    console = _console()

    def ready(running: Running) -> None:
        for line in startup_lines(running):
            console.print(line, markup=False, soft_wrap=True)

    serve(options, ready)
    console.print("sandbox stopped", markup=False)


@sandbox_app.command("orders")
@handles_errors
def sandbox_orders(
    flavor: str = typer.Option("shoplane", help="shoplane, markethub or storefront."),
    case: str | None = typer.Option(None, help="delivered, delayed, lost, unpaid … (see --cases)."),
    limit: int | None = typer.Option(None, help="At most this many orders."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table."),
    cases: bool = typer.Option(False, "--cases", help="List the cases and exit."),
    seed: int | None = typer.Option(None, help="Seed of the demo data (default: config)."),
    config: Path | None = ConfigOption,
) -> None:
    """List seeded sandbox orders by case, so recipes and tests can pick one."""
    import json

    from agent.config import load_config
    from agent.errors import InputError
    from sandbox.fixtures import CASES, find_orders

    console = _console()
    if cases:
        for name, text in CASES.items():
            console.print(f"{name:20} {text}", markup=False)
        return
    settings = load_config(config)
    try:
        found = find_orders(
            flavor,
            case,
            limit=limit,
            seed=settings.sandbox.seed if seed is None else seed,
            count=settings.sandbox.orders_per_flavor,
        )
    except ValueError as exc:
        raise InputError(str(exc), hint="`aijia sandbox orders --cases` lists the cases") from None
    if as_json:
        for order in found:
            print(json.dumps(order.to_dict(), ensure_ascii=False))
        return
    from rich.table import Table

    table = Table(title=f"{flavor} orders" + (f" ({case})" if case else ""))
    for column in ("order id", "status", "total", "refundable", "buyer", "url path"):
        table.add_column(column, no_wrap=column in ("order id", "url path"))
    for order in found:
        table.add_row(
            order.order_id,
            order.status,
            order.total_display,
            order.refundable_display,
            order.buyer_name,
            order.url_path,
        )
    console.print(table)


# --------------------------------------------------------------------------- recipes / run

# --------------------------------------------------------------------------- evidence

# --------------------------------------------------------------------------- demo


def main() -> None:  # pragma: no cover - `python cli.py`
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
