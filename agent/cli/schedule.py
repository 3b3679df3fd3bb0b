"""`aijia schedule list/run/trigger/status/sync`: schedules, through the facade (the built-in
scheduler on the local backend, Temporal schedules on the temporal backend)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from agent.cli.common import (
    ConfigOption,
    ExitCode,
    console,
    handles_errors,
    json_text,
    open_aijia,
    print_json,
)

if TYPE_CHECKING:
    from agent.schedule.daemon import ScheduleView
    from evidence.schedules import Fire

app = typer.Typer(
    help="Schedules from config.yaml: list them, run the daemon (or sync them to Temporal), "
    "trigger one, check status.",
    no_args_is_help=True,
)


def json_log_line(event: str, **fields: Any) -> None:
    """One structured log line on stderr: {"at": …, "level": …, "event": …, …}; lines below
    the log level (config.yaml `log_level`, `aijia -v/-q`) are not written."""
    import sys
    from datetime import UTC, datetime

    from agent.cli.common import event_level, log_enabled

    level = event_level(event, fields)
    if not log_enabled(level):
        return
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    line = json_text({"at": at, "level": level, "event": event, **fields})
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def fire_dict(fire: Fire | None) -> dict[str, Any] | None:
    from dataclasses import asdict

    return asdict(fire) if fire is not None else None


def view_dict(view: ScheduleView) -> dict[str, Any]:
    return {
        "name": view.name,
        "enabled": view.enabled,
        "trigger": view.trigger,
        "recipe": view.recipe,
        "next_fire": view.next_fire.isoformat() if view.next_fire else None,
        "last": fire_dict(view.last),
        "running": fire_dict(view.open),
        "overdue": view.overdue,
        "problem": view.problem,
    }


def _outcome(view: ScheduleView) -> str:
    last = view.last
    outcome = (
        f"{last.state} {last.slot}: {last.done} done, {last.failed} failed, {last.skipped} skipped"
        if last
        else "never ran"
    )
    if last is not None and last.state != "done" and last.reason:
        outcome += f" ({last.reason})"
    if view.open is not None:
        outcome = f"running since {view.open.claimed_at}; before: {outcome}"
    return outcome


@app.command("list")
@handles_errors
def schedule_list(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    config: Path | None = ConfigOption,
) -> None:
    """Every schedule with its trigger, next fire time and last outcome."""
    from rich.table import Table

    from agent.cli.present import shown

    with open_aijia(config) as aijia:
        views = aijia.schedules()
    if as_json:
        print_json([view_dict(v) for v in views])
        return
    table = Table(title="schedules")
    for column in ("name", "trigger", "recipe", "next fire (UTC)", "last outcome"):
        table.add_column(column, overflow="fold")
    for v in views:
        next_fire = v.next_fire.strftime("%Y-%m-%d %H:%M:%S") if v.next_fire else "disabled"
        table.add_row(
            shown(v.name), shown(v.trigger), shown(v.recipe), next_fire, shown(_outcome(v))
        )
    console().print(table)


@app.command("run")
@handles_errors
def schedule_run(config: Path | None = ConfigOption) -> None:
    """Run the scheduler daemon in the foreground; JSON-lines logs on stderr.

    Local backend only: on the temporal backend Temporal fires schedules (`aijia schedule
    sync`), and this exits 2.

    SIGTERM or SIGINT stops it: no new run starts, in-flight runs get scheduler.stop_grace_s
    to finish, then they are marked interrupted (evidence kept) and finished by the next daemon.
    Exit 8 when another daemon already runs on the same evidence store.
    """
    with open_aijia(config) as aijia:
        aijia.serve_schedules(log=json_log_line)  # handles SIGTERM/SIGINT itself


@app.command("sync")
@handles_errors
def schedule_sync(
    as_json: bool = typer.Option(False, "--json", help="Print the changes as JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """Put config.yaml's schedules in Temporal (runs.backend: temporal), after every change.

    Creates the missing ones, replaces changed ones, deletes those of this task queue that
    config.yaml no longer has; an unchanged one is left as it is (a pause made in Temporal
    stays). A schedule with `enabled: false` is paused. Temporal then starts each fire on an
    `aijia worker`; fires are recorded in the store (`aijia schedule status`). Exit 2 on the
    local backend, when Temporal cannot be reached, or when a recipe is missing; exit 6
    when the scheduler's user may not run a schedule's recipe.
    """
    from dataclasses import asdict

    from agent.backends import sync_schedules

    with open_aijia(config) as aijia:
        changes = sync_schedules(aijia)
    if as_json:
        print_json([asdict(c) for c in changes])
        return
    out = console()
    for c in changes:
        paused = " (paused)" if c.paused and c.change != "deleted" else ""
        out.print(f"{c.name}: {c.change}{paused} — Temporal schedule {c.schedule_id}", markup=False)
    if not changes:
        out.print("no schedules in config.yaml, and none in Temporal", markup=False)


@app.command("trigger")
@handles_errors
def schedule_trigger(
    name: str = typer.Argument(..., help="The schedule to fire once, now."),
    as_json: bool = typer.Option(False, "--json", help="Print the fire as JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """Fire one schedule once, now (a manual slot); exit 1 unless every row ended well.

    On the temporal backend the fire runs on an `aijia worker` (exit 2 when none polls)."""
    from agent.backends import trigger_on_temporal, uses_temporal

    with open_aijia(config) as aijia:
        if uses_temporal(aijia.settings):
            fire = trigger_on_temporal(aijia, name)
        else:
            fire = aijia.trigger(name, log=json_log_line)
    if as_json:
        print_json(fire_dict(fire))
    else:
        console().print(
            f"{fire.schedule} {fire.fire_id}: {fire.state} — {fire.rows} rows, {fire.done} done, "
            f"{fire.failed} failed, {fire.skipped} skipped"
            + (f" ({fire.reason})" if fire.reason else ""),
            markup=False,
        )
    if fire.state != "done":
        raise typer.Exit(ExitCode.FAILED)


@app.command("status")
@handles_errors
def schedule_status(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of lines."),
    config: Path | None = ConfigOption,
) -> None:
    """For monitoring: exit 1 when an enabled schedule's last fire failed or it is overdue."""
    from agent.core.text import printable

    with open_aijia(config) as aijia:
        views = [v for v in aijia.schedules() if v.enabled]
    if as_json:
        print_json([view_dict(v) for v in views])
    else:
        out = console()
        for v in views:
            # one line per schedule, never wrapped: monitoring greps it
            # (a row's reason can quote seller data: control characters shown escaped)
            out.print(printable(f"{v.name}: {v.problem or 'ok'}"), markup=False, soft_wrap=True)
        if not views:
            out.print("no enabled schedules", markup=False)
    if any(v.problem for v in views):
        raise typer.Exit(ExitCode.FAILED)
