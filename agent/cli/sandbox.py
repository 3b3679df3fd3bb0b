"""`aijia sandbox serve/orders`: the simulated seller centers, for exploring and for tests.

The sandbox stands apart from agent/ (it imports nothing from it); these commands only read
the config for its host, port and seed, and hand over to `sandbox.server` / `sandbox.fixtures`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from agent.cli.common import (
    ConfigOption,
    SiteAliasOption,
    chosen_site,
    console,
    handles_errors,
)

app = typer.Typer(help="The simulated seller centers used by the demo and the tests.")


@app.command("serve")
@handles_errors
def sandbox_serve(
    site: str | None = typer.Option(
        None, "--site", help="all (default), shoplane, markethub or storefront."
    ),
    site_alias: str | None = SiteAliasOption,
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
        help="NAME=VALUE, repeatable: latency=300, error_rate=0.2, commit_error_rate=0.5, "
        "session_ttl=60, maintenance=true, layout=v2, challenge=true.",
    ),
    token: str | None = typer.Option(
        None, help="X-Sandbox-Token for /__sandbox (default: random)."
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Serve the seller centers on 127.0.0.1 and print URLs and logins; Ctrl-C stops."""
    flavor = chosen_site(site, site_alias, "all") or "all"
    from agent.core.settings import load_config
    from sandbox.errors import SandboxError
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
    out = console()

    def ready(running: Running) -> None:
        for line in startup_lines(running):
            out.print(line, markup=False, soft_wrap=True)

    serve(options, ready)
    out.print("sandbox stopped", markup=False)


@app.command("orders")
@handles_errors
def sandbox_orders(
    site: str | None = typer.Option(
        None, "--site", help="shoplane (default), markethub or storefront."
    ),
    site_alias: str | None = SiteAliasOption,
    case: str | None = typer.Option(None, help="delivered, delayed, lost, unpaid … (see --cases)."),
    limit: int | None = typer.Option(None, help="At most this many orders."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table."),
    cases: bool = typer.Option(False, "--cases", help="List the cases and exit."),
    seed: int | None = typer.Option(None, help="Seed of the demo data (default: config)."),
    config: Path | None = ConfigOption,
) -> None:
    """List seeded sandbox orders by case, so recipes and tests can pick one."""
    flavor = chosen_site(site, site_alias, "shoplane") or "shoplane"
    from agent.cli.common import json_text
    from agent.core.errors import InputError
    from agent.core.settings import load_config
    from sandbox.fixtures import CASES, find_orders

    out = console()
    if cases:
        for name, text in CASES.items():
            out.print(f"{name:20} {text}", markup=False)
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
            typer.echo(json_text(order.to_dict()))
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
    out.print(table)
