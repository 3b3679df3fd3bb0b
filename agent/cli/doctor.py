"""`aijia doctor`: is everything Aijia needs here and usable? (the checks: agent/doctor.py)"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from agent.cli.common import ConfigOption, ExitCode, console, handles_errors, print_json

if TYPE_CHECKING:
    from agent.doctor import Check


@handles_errors
def doctor(
    config: Path | None = ConfigOption,
    as_json: bool = typer.Option(
        False, "--json", help='Print JSON: {"ok", "checks": [{name, ok, detail, fix}]}.'
    ),
) -> None:
    """Check Python, Playwright, the browser, the config file and the data dir; suggest fixes.

    Exit 1 when a check fails."""
    from dataclasses import asdict

    from agent.doctor import run_checks

    checks = run_checks(config)
    ok = all(c.ok for c in checks)
    if as_json:
        print_json({"ok": ok, "checks": [asdict(c) for c in checks]})
    else:
        console().print(_table(checks))
    if not ok:
        raise typer.Exit(ExitCode.FAILED)


def _table(checks: list[Check]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="aijia doctor", show_lines=False)
    table.add_column("check")
    table.add_column("ok")
    table.add_column("detail", overflow="fold")
    for check in checks:
        mark = "[green]yes[/]" if check.ok else "[red]NO[/]"
        detail = escape(check.detail)
        if not check.ok:
            detail += f"\n[yellow]fix:[/] {escape(check.fix)}"
        table.add_row(check.name, mark, detail)
    return table
