"""`aijia demo`: runs `agent.demo.run_demo` and renders what it reports, line by line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from agent.cli.common import ConfigOption, console, handles_errors

if TYPE_CHECKING:
    from rich.console import Console

    from agent.demo import DemoEvent


@handles_errors
def demo(
    config: Path | None = ConfigOption,
    headed: bool = typer.Option(False, "--headed", help="Show the browser window."),
) -> None:
    """Start the sandbox seller centers and run the main job: look up an order, prepare a
    refund that stops at a permission gate, approve it as the seeded reviewer, commit it once,
    and show the refund in the sandbox ledger and where the evidence is."""
    from agent.core.settings import load_config
    from agent.demo import run_demo

    out = console()
    settings = load_config(config)
    out.print("[bold]Aijia demo[/] — starting the sandbox seller centers …")
    outcome = run_demo(settings, lambda event: show(out, event), headed=headed)
    if outcome.failure is not None:
        raise typer.Exit(outcome.exit_code)
    out.print("Sandbox stopped. `aijia sandbox serve` keeps one running to explore.")


def show(out: Console, event: DemoEvent) -> None:
    """One demo event, as the lines the user has always seen for it."""
    import agent.demo as d
    from agent.cli.present import shown as e

    match event:
        case d.SandboxStarted(sites=sites):
            for title, url in sites:
                out.print(f"  {e(title)}: {url}")
        case d.OrderPicked(pick=pick):
            order = pick.order
            out.print(
                f"\nOrder [bold]{order.order_id}[/] on ShopLane: {e(order.status)}, total "
                f"{order.total_display}, refundable {order.refundable_display}"
            )
        case d.CaseOpened(case_id=case, channel=channel, ask=ask):
            out.print(f'\nCase {e(case)} ({channel}): "{e(ask)}"')
        case d.LookupStarted():
            out.print("\n[bold]1. lookup_order[/] — reading the order in real Chromium …")
        case d.LookedUp(result=found):
            out.print_json(json.dumps(found.outputs, ensure_ascii=False, default=str))
            out.print(f"   run {found.run_id}: {found.state.value} in {found.duration_s:.1f}s")
        case d.RefundStarted(pick=pick):
            out.print(
                f"\n[bold]2. prepare_refund[/] — refund {pick.refund_amount} "
                f"{pick.order.currency} ({pick.reason}); it must stop at the permission gate …"
            )
        case d.RefundPrepared(result=prepared, agent_refunds=refunds):
            binds = prepared.gate.binds if prepared.gate else {}
            summary = prepared.gate.summary if prepared.gate else ""
            out.print(f"   run {prepared.run_id}: [yellow]{prepared.state.value}[/] at the gate")
            out.print(f"   gate: {e(summary)}")
            out.print(f"   binds: {e(json.dumps(binds, ensure_ascii=False))}")
            out.print(
                f"   sandbox ledger: {refunds} refunds written by the agent "
                "(none until a reviewer approves)"
            )
        case d.GateWaiting(view=view):
            out.print(
                f"\n[bold]3. aijia gates list → aijia approve[/] — gate {view.gate.gate_id}, "
                f"asked by {view.initiator}; needs {view.needs.describe()}; "
                f"may approve: {', '.join(view.approvers)}"
            )
        case d.Approved(approver=approver, decision=decision):
            out.print(f"   approved by {approver} ({decision.approvals}/{decision.needed})")
        case d.Committed(result=done):
            out.print(
                f"   resumed: prepare phase repeated, binds re-verified, committed once → "
                f"run {done.run_id}: [green]{done.state.value}[/] in {done.duration_s:.1f}s"
            )
        case d.LedgerRefund(refund=row):
            out.print(
                f"   sandbox ledger: refund {row['refund_id']} {row['amount']} "
                f"{row['currency']} on {row['order_id']} ({e(str(row['reason']))})"
            )
        case d.EvidenceReady(evidence_dir=where, lookup_run=lookup, refund_run=refund):
            out.print(f"\nEvidence: {where}")
            out.print(f"  aijia evidence show {lookup}")
            out.print(f"  aijia evidence show {refund}")
            out.print(f"  aijia evidence report {refund}")
        case d.Failed(what=what, error=error):
            out.print(f"[red]{what}:[/] {e(str(error), multiline=True)}")
