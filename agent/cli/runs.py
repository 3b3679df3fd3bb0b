"""`aijia runs list/show` (read from the evidence store), `aijia runs reconcile` and
`aijia runs close`."""

from __future__ import annotations

from pathlib import Path

import typer

from agent.cli.common import (
    ConfigOption,
    RemovedAsOption,
    acting_identity,
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
    from agent.gates.recorder import retries_since_approval, retry_line

    with open_aijia(config) as aijia:
        store = aijia.store
        record = store.get_run(run)
        gates = store.list_gates(run_id=run)
        approvals = {g.gate_id: store.approvals(g.gate_id) for g in gates}
        events = len(store.events(run))
        lease = store.commit_lease(run)
        retries = retries_since_approval(store, run) if record.state.value == "approved" else []
    live = lease is not None and lease.live()
    if as_json:
        print_json(
            {
                **run_dict(record),
                "retry": retries[-1] if retries else None,
                "lease": asdict(lease) if live and lease is not None else None,
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
    if retries:
        table.add_row("retry", shown(retry_line(retries[-1])))
    if live and lease is not None:
        table.add_row("lease", shown(f"held by {lease.holder} until {lease.expires_at}"))
    for g in gates:
        decided = ", ".join(f"{a.decision} by {a.approver}" for a in approvals[g.gate_id])
        table.add_row(f"gate {g.gate_id}", shown(f"{g.action}: {g.summary} [{g.state}] {decided}"))
    console().print(table)


@app.command("reconcile")
@handles_errors
def runs_reconcile(
    run: str = typer.Argument(..., help="Run id (in_doubt, or committing in a process that died)."),
    _as: str | None = RemovedAsOption,
    as_json: bool = typer.Option(
        False, "--json", help="Print the outcome (run_id, state, committed, values, reason)."
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Settle a run whose commit may or may not have happened, by reading the back office
    with the recipe's `reconcile` steps for the agent's own action (its reference): done when
    it is there, back to approved when it is positively not (then `aijia resume RUN`), else
    it stays in_doubt for a person (exit 5). Never retries the action; refused (exit 5) while
    a live committer holds the run's lease."""
    from agent.cli.present import shown

    with open_aijia(config) as aijia:
        outcome = aijia.reconcile(run, as_user=acting_identity(aijia))
    if as_json:
        from dataclasses import asdict

        print_json({**asdict(outcome), "state": outcome.state.value})
        return
    out = console()
    out.print(f"run {run}: [bold]{outcome.state.value}[/] — {shown(outcome.reason)}")
    if outcome.state.value == "approved":
        out.print(f"  the approval still holds: `aijia resume {run}` commits it once")


@app.command("close")
@handles_errors
def runs_close(
    run: str = typer.Argument(..., help="Run id (approved or in_doubt)."),
    reason: str = typer.Option(..., "--reason", help="Why; kept in the evidence."),
    _as: str | None = RemovedAsOption,
    as_json: bool = typer.Option(False, "--json", help="Print the closed run as JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """Close an approved or in_doubt run as failed, e.g. when the back office refused the
    approved refund, or a person settled an in_doubt run by hand. Its gate expires and the
    evidence says who closed it and why; nothing is sent to the site.

    Who: a supervisor, or a user who may approve the run's gate; never the user who started
    the run. Exit codes: 0 closed, 5 not closable (state, or a live commit lease), 6 policy
    refused.
    """
    from agent.cli.present import shown

    with open_aijia(config) as aijia:
        record = aijia.close_run(run, as_user=acting_identity(aijia), reason=reason)
    if as_json:
        from agent.cli.present import run_dict

        print_json(run_dict(record))
        return
    console().print(f"run {run}: [bold]{record.state.value}[/] — {shown(record.error or '')}")
