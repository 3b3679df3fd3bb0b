"""`aijia doctor`: is everything Aijia needs here and usable? (the checks: agent/doctor.py)"""

from __future__ import annotations

from pathlib import Path

import typer

from agent.cli.common import ConfigOption, ExitCode, console, handles_errors


@handles_errors
def doctor(config: Path | None = ConfigOption) -> None:
    """Check Python, Playwright, the browser, the config file and the data dir; suggest fixes."""
    from rich.markup import escape
    from rich.table import Table

    from agent.doctor import run_checks

    checks = run_checks(config)
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
    console().print(table)
    if not all(c.ok for c in checks):
        raise typer.Exit(ExitCode.FAILED)
