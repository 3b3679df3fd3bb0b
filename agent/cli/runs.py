"""`aijia runs list/show` (read from the evidence store) and `aijia runs reconcile`."""

from __future__ import annotations

from pathlib import Path

import typer

from agent.cli.common import (
    AsOption,
    ConfigOption,
    acting_user,
    console,
    handles_errors,
    open_aijia,
    print_json,
)

app = typer.Typer(help="Runs recorded in the evidence store.", no_args_is_help=True)


@app.command("list")
@handles_errors
def runs_list(
    status: str | None = typer.Option(None, "--status", help="Only runs in this state."),
    case: str | None = typer.Option(None, "--case", help="Only runs of this case."),
    limit: int = typer.Option(50, help="At most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """List runs, newest first."""
    from agent.cli.present import run_dict, runs_table
    from agent.core.errors import InputError
    from agent.core.states import RunState

    if status is not None and status not in {s.value for s in RunState}:
        raise InputError(
            f"unknown run state {status!r}",
            hint=f"use one of: {', '.join(s.value for s in RunState)}",
        )
    with open_aijia(config) as aijia:
        runs = aijia.store.list_runs(state=status, case_id=case, limit=limit)
    if as_json:
        print_json([run_dict(r) for r in runs])
    else:
        runs_table(runs)


@app.command("show")
@handles_errors
def runs_show(
    run: str = typer.Argument(..., help="Run id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """Show one run: state, inputs, outputs, error, gates and approvals."""
    from dataclasses import asdict

    from rich.table import Table

    from agent.cli.present import run_dict, shown

    with open_aijia(config) as aijia:
        store = aijia.store
        record = store.get_run(run)
        gates = store.list_gates(run_id=run)
        approvals = {g.gate_id: store.approvals(g.gate_id) for g in gates}
        events = len(store.events(run))
    if as_json:
        print_json(
            {
                **run_dict(record),
                "events": events,
                "gates": [
                    {**asdict(g), "approvals": [asdict(a) for a in approvals[g.gate_id]]}
                    for g in gates
                ],
            }
        )
        return
    table = Table(show_header=False)
    for key, value in run_dict(record).items():
        table.add_row(key, "" if value is None else shown(value, multiline=key == "error"))
    table.add_row("events", str(events))
    for g in gates:
        decided = ", ".join(f"{a.decision} by {a.approver}" for a in approvals[g.gate_id])
        table.add_row(f"gate {g.gate_id}", shown(f"{g.action}: {g.summary} [{g.state}] {decided}"))
    console().print(table)


@app.command("reconcile")
@handles_errors
def runs_reconcile(
    run: str = typer.Argument(..., help="Run id (in_doubt, or committing in a process that died)."),
    as_user: str | None = AsOption,
    config: Path | None = ConfigOption,
) -> None:
    """Settle a run whose commit may or may not have happened, by reading the back office
    with the recipe's `reconcile` steps: done when it happened, else back to approved (then
    `aijia resume RUN`). Never retries the action."""
    from agent.cli.present import shown

    with open_aijia(config) as aijia:
        outcome = aijia.reconcile(run, as_user=acting_user(as_user))
    out = console()
    out.print(f"run {run}: [bold]{outcome.state.value}[/] — {shown(outcome.reason)}")
    if outcome.state.value == "approved":
        out.print(f"  the approval still holds: `aijia resume {run}` commits it once")
