"""Reviewers: `aijia gates list/show`, `aijia approve`, `aijia reject`, `aijia resume`.

Every decision and every resume goes through the facade, which applies the policy (roles,
thresholds, separation of duties); these commands only ask, confirm and show.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from agent.backends import uses_temporal, wake_run
from agent.cli.common import (
    ConfigOption,
    RemovedAsOption,
    acting_identity,
    console,
    handles_errors,
    open_aijia,
    print_json,
)

if TYPE_CHECKING:
    from agent import Aijia, GateView

app = typer.Typer(help="Permission gates waiting for a human decision.", no_args_is_help=True)


@app.command("list")
@handles_errors
def gates_list(
    mine: bool = typer.Option(False, "--mine", help="Only gates you may approve."),
    action: str | None = typer.Option(None, "--action", help="Only gates of this action."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    _as: str | None = RemovedAsOption,
    config: Path | None = ConfigOption,
) -> None:
    """Pending gates, oldest first: age, action, amount, who asked, who may approve.
    `--mine`: only those the signed-in user (`aijia whoami`) may approve."""
    with open_aijia(config) as aijia:
        user = acting_identity(aijia).user if mine else None
        views = aijia.pending_gates(user, action=action)
    if as_json:
        print_json([gate_dict(v) for v in views])
        return
    console().print(pending_table(views))


@app.command("show")
@handles_errors
def gates_show(
    gate: str = typer.Argument(..., help="Gate id (g-…)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """One gate: bound values, summary, labelled screenshots, drift since the last approval,
    policy, and its page in the review console (console.public_url)."""
    with open_aijia(config) as aijia:
        view = aijia.gate(gate)
        shots = _screenshots(aijia, view.gate.run_id)
        link = aijia.settings.console.gate_link(view.gate.gate_id)
    if as_json:
        print_json({**gate_dict(view), "screenshots": shots, "link": link})
        return
    from agent.cli.present import gate_link_line

    console().print(gate_table(view, shots))
    console().print(gate_link_line(link))


def _screenshots(aijia: Aijia, run_id: str) -> list[dict[str, str]]:
    """The run's screenshots in the order taken, each with what it shows (the step and its
    label), a file name with its extension and where the store keeps it (read-only)."""
    from agent.gates.screenshots import labelled_screenshots

    where = aijia.store.files.where.rstrip("/")  # a folder, or s3://bucket/prefix
    return [
        {
            "label": s.label,
            "name": s.name,
            "path": s.path,
            "file": f"{where}/{s.path}",
            "media_type": s.media_type,
        }
        for s in labelled_screenshots(aijia.store, run_id)
    ]


def gate_dict(view: GateView) -> dict[str, Any]:
    """A gate as a reviewer sees it, JSON-ready."""
    return {
        **asdict(view.gate),
        "run_state": view.run.state.value,
        "recipe": view.run.recipe,
        "site": view.run.site,
        "initiator": view.initiator,
        "requires": view.needs.describe(),
        "policy": view.needs.why,
        "approvers": view.approvers,
        "approved_by": view.approved_by,
        "decisions": [  # each person's decision and how their identity was proven
            {"approver": a.approver, "decision": a.decision, "proof": a.proof, "at": a.at}
            for a in view.approvals
        ],
        "drift": view.drift,
        "verified": None if view.problems is None else not view.problems,
        "problems": view.problems,
        "retry": view.retry,
    }


def pending_table(views: list[GateView]) -> Any:
    """Pending gates, one line each; an expired one is marked."""
    from rich.table import Table

    from agent.cli.present import shown

    table = Table(title=f"pending gates ({len(views)})")
    for column in ("gate", "age", "action", "amount", "asked by", "may approve", "summary"):
        table.add_column(column, overflow="fold", no_wrap=column == "gate")
    for v in views:
        amount = f"{v.needs.amount} {v.needs.currency or ''}" if v.needs.amount is not None else ""
        got = f" ({len(v.approved_by)}/{v.needs.approvals})" if v.needs.approvals > 1 else ""
        expired = v.gate.expires_at is not None and age(v.gate.expires_at)[0] != "-"
        table.add_row(
            v.gate.gate_id,
            age(v.gate.created_at) + (" [red](expired)[/]" if expired else ""),
            shown(v.gate.action),
            shown(amount),
            shown(v.initiator or "?"),
            shown(", ".join(v.approvers) + got),
            shown(v.gate.summary),
        )
    return table


def gate_table(view: GateView, shots: list[dict[str, str]]) -> Any:
    """One gate, a row per fact: what, who, policy, each bound value, drift, screenshots.
    When the store's rows disagree with the run's evidence chain, the title says so, every
    problem gets a row, and the rows read from the store are marked as not verified."""
    from rich.table import Table

    from agent.cli.present import screenshot_rows, shown
    from agent.gates.recorder import retry_line

    unverified = bool(view.problems)
    mark = " [red](NOT VERIFIED)[/]" if unverified else ""
    title = f"gate {view.gate.gate_id}" + (
        " — [red]its evidence does not verify: do not act on it[/]" if unverified else ""
    )
    table = Table(show_header=False, title=title)
    table.add_column("what", no_wrap=True)
    table.add_column("value", overflow="fold")
    rows = [
        ("summary", view.gate.summary),
        ("action", view.gate.action),
        ("state", f"{view.gate.state} (run {view.run.run_id}: {view.run.state.value})"),
        ("recipe", f"{view.run.recipe} on {view.run.site}"),
        ("asked by", view.initiator or "?"),
        ("created", view.gate.created_at),
        ("expires", view.gate.expires_at or "never"),
        ("requires", view.needs.describe()),
        ("policy", "; ".join(view.needs.why) or "default: one approver"),
        ("may approve", ", ".join(view.approvers) or "nobody listed"),
        ("approved by", _approved_by(view)),
        ("bind hash", view.gate.bind_hash),
    ]
    rows += [(f"bind {k}", str(v)) for k, v in view.gate.binds.items()]
    rows += [
        (f"drift {k}", f"approved {d.get('approved')!r} -> now {d.get('now')!r}")
        for k, d in view.drift.items()
    ]
    rows += screenshot_rows(shots)
    if view.retry is not None:
        rows.append(("retry", retry_line(view.retry)))
    if view.problems is not None and not view.problems:
        rows.append(("evidence", "verified against the run's chain"))
    checked = {"summary", "action", "state", "approved by", "bind hash"}
    for key, value in rows:
        flagged = unverified and (key in checked or key.startswith("bind "))
        table.add_row(shown(key), shown(value) + (mark if flagged else ""))
    for problem in view.problems or []:
        table.add_row("[red]not verified[/]", shown(problem))
    return table


def _approved_by(view: GateView) -> str:
    """Who approved this bind hash, each with how they were proven: "sam (token t-…)"."""
    proofs = {
        a.approver: a.proof
        for a in view.approvals
        if a.decision == "approved" and a.bind_hash == view.gate.bind_hash
    }
    shown = [f"{who} ({proofs[who]})" if proofs.get(who) else who for who in view.approved_by]
    return ", ".join(shown) or "-"


def age(iso: str) -> str:
    """How long ago `iso` was: 5m, 3h07m, 2d; '-' first when it is in the future."""
    from datetime import UTC, datetime

    delta = datetime.now(UTC) - datetime.fromisoformat(iso.replace("Z", "+00:00"))
    seconds = delta.total_seconds()
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    minutes = int(seconds // 60)
    if minutes >= 24 * 60:
        return f"{sign}{minutes // (24 * 60)}d"
    if minutes >= 60:
        return f"{sign}{minutes // 60}h{minutes % 60:02d}m"
    return f"{sign}{minutes}m"


@handles_errors
def approve(
    gate: str = typer.Argument(..., help="Gate id (g-…), from `aijia gates list`."),
    note: str = typer.Option("", "--note", help="Why; kept in the evidence."),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Do not ask to type the bound value (needed without a TTY)."
    ),
    no_resume: bool = typer.Option(
        False,
        "--no-resume",
        help="Only approve; a worker or `aijia resume RUN` commits later (always so when "
        "worker.enabled is on).",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the decision (and the resumed run) as one JSON document."
    ),
    _as: str | None = RemovedAsOption,
    config: Path | None = ConfigOption,
) -> None:
    """Approve the exact bound action of a gate as the signed-in user (`aijia login`); then
    resume the run and commit it once. The approval records who and how they were proven.
    With `worker.enabled` it only records the decision: the commit worker (`aijia serve`),
    which holds the site secrets, commits it; the approver needs no secrets and no browser.

    Exit codes: 0 approved (and committed), 3 re-gated after drift, 5 gate refused (used,
    expired, another process holds the run's commit lease …), 6 policy refused
    (self-approval, role, unknown user), 7 the run's evidence does not verify (nothing
    recorded or sent), 4 approved but the site was down before anything was sent (the
    approval holds: `aijia resume RUN` later).
    """
    from agent.cli.present import result_json, resumed

    # with --json, stdout carries the one JSON document: everything else goes to stderr
    out = console(stderr=as_json)
    with open_aijia(config) as aijia:
        who = acting_identity(aijia)
        user = who.user
        if not yes:
            _confirm(aijia.gate(gate), to_stderr=as_json)
        decision = aijia.approve(gate, as_user=who, note=note)
        report: dict[str, Any] = {**asdict(decision), "committed_by": None, "run": None}
        if not decision.complete:
            out.print(
                f"approved by {user}: {decision.approvals} of {decision.needed} approvals; "
                "waiting for another approver"
            )
            if as_json:
                print_json(report)
            return
        out.print(f"gate {gate} approved by {user}; run {decision.run_id} is approved")
        if uses_temporal(aijia.settings):  # its workflow re-reads the store and commits
            woken = wake_run(aijia.settings, decision.run_id, gate, approved=True)
            out.print(
                f"  {'its workflow commits it once' if woken else 'it has no live workflow'}; "
                f"`aijia runs show {decision.run_id}` shows when it is done"
            )
            if as_json:
                print_json({**report, "committed_by": "workflow" if woken else None})
            return
        if aijia.settings.worker.enabled:  # the worker holds the secrets; we start nothing
            out.print(
                "  the commit worker (`aijia serve`) commits it once; "
                f"`aijia runs show {decision.run_id}` shows when it is done"
            )
            if as_json:
                print_json({**report, "committed_by": "worker"})
            return
        if no_resume:
            out.print(f"  not resumed: `aijia resume {decision.run_id}` commits it once")
            if as_json:
                print_json({**report, "committed_by": "resume"})
            return
        result = aijia.resume(decision.run_id, as_user=who)
    if as_json:
        print_json({**report, "committed_by": "this command", "run": result_json(result)})
    else:
        resumed(result)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _confirm(view: GateView, *, to_stderr: bool = False) -> None:
    """The reviewer types the bound value (the order id …) they approve; refused without a
    terminal to ask on (a script passes --yes once it has checked the gate). `to_stderr`:
    ask on stderr (with --json, stdout is for the JSON document only)."""
    import sys

    from agent.cli.present import shown
    from agent.core.errors import GateError
    from agent.core.text import printable

    key, expected = view.confirm_key
    if not sys.stdin.isatty():
        raise GateError(
            f"approving gate {view.gate.gate_id} needs a confirmation: no terminal to ask on",
            hint="run it in a terminal, or pass --yes when you have checked the gate",
        )
    out = console(stderr=to_stderr)
    out.print(f"[bold]{shown(view.gate.summary)}[/]  ({shown(view.needs.describe())})")
    for k, v in view.gate.binds.items():
        out.print(f"  {shown(k)}: {shown(v)}")
    typed = typer.prompt(f"Type the {printable(key)} to approve", err=to_stderr)
    if typed.strip() != expected:
        raise GateError(
            f"typed {typed.strip()!r}, expected the {key} {expected!r}; not approved",
            hint="check `aijia gates show` and try again",
        )


@handles_errors
def reject(
    gate: str = typer.Argument(..., help="Gate id (g-…)."),
    reason: str = typer.Option(..., "--reason", help="Why; kept in the evidence."),
    as_json: bool = typer.Option(False, "--json", help="Print the decision as JSON."),
    _as: str | None = RemovedAsOption,
    config: Path | None = ConfigOption,
) -> None:
    """Reject a gate as the signed-in user: the run closes as rejected with its evidence;
    nothing is committed."""
    with open_aijia(config) as aijia:
        who = acting_identity(aijia)
        decision = aijia.reject(gate, as_user=who, reason=reason)
        if uses_temporal(aijia.settings):  # its workflow ends: nothing to commit
            wake_run(aijia.settings, decision.run_id, gate, approved=False)
    if as_json:
        print_json({**asdict(decision), "reason": reason})
        return
    console().print(f"gate {gate} rejected by {who.user}; run {decision.run_id} is rejected")


@handles_errors
def resume(
    run: str = typer.Argument(..., help="Run id of an approved run."),
    as_json: bool = typer.Option(False, "--json", help="Print the run's result as JSON."),
    _as: str | None = RemovedAsOption,
    config: Path | None = ConfigOption,
) -> None:
    """Commit an approved run once: prepare again, re-check the bound values, commit.

    Exit codes: 0 done, 1 failed, 3 re-gated after drift, 5 not resumable (not approved,
    expired, in doubt, another process holds its commit lease), 7 its evidence does not
    verify (nothing sent), 4 the site was down or login failed before anything was sent:
    the run stays approved with a retry time (`aijia runs show RUN`), resume again later.
    """
    from agent.cli.present import result_json, resumed

    with open_aijia(config) as aijia:
        result = aijia.resume(run, as_user=acting_identity(aijia))
    if as_json:
        print_json(result_json(result))
    else:
        resumed(result)
    if result.exit_code:
        raise typer.Exit(result.exit_code)
