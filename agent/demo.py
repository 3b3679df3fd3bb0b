"""`aijia demo`: the main job against the sandbox seller centers, start to finish.

The sandbox runs in a subprocess on free ports with its own database under
`<data_dir>/demo-sandbox/`; the config's sites are pointed at it in memory, and the sandbox's
published demo passwords are put in the environment the config's `{$env: …}` references read.
Runs and evidence go to the configured evidence store, so `aijia evidence show RUN` works after.

`run_demo` drives it through the facade only (`Aijia`: open_case, run, gate, approve, resume)
and prints nothing: it reports each thing that happened as a small event, and the front end
(`aijia demo`) renders them::

    outcome = run_demo(load_config(), report=print)
    assert outcome.exit_code == 0, outcome.failure

The demo sits above both the agent and the sandbox (the import contract lets only it and the
CLI reach into the sandbox).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.core.settings import Settings
from sandbox.errors import SandboxError

if TYPE_CHECKING:
    from agent import Aijia, Decision, GateView, RunResult
    from sandbox.fixtures import OrderSummary
    from sandbox.testing import SandboxServer

INITIATOR = "lead"  # the seeded support lead (config.yaml policy.users) asks for the refund
REVIEWER = "reviewer"  # the seeded reviewer approves first; a second approver when needed
CHANNEL = "whatsapp"  # where the demo customer asked


@dataclass(frozen=True)
class DemoOrder:
    flavor: str
    order: OrderSummary
    refund_amount: str  # a part of what is refundable, as text with 2 decimals
    reason: str
    customer_ask: str  # what the buyer wrote to support, recorded as the case's ask


# --------------------------------------------------------------------------- events
# What happened, in order; `aijia demo` renders each one.


@dataclass(frozen=True)
class SandboxStarted:
    sites: tuple[tuple[str, str], ...]  # (title, or flavor; base URL) per seller center


@dataclass(frozen=True)
class OrderPicked:
    pick: DemoOrder


@dataclass(frozen=True)
class CaseOpened:
    case_id: str
    channel: str
    ask: str


@dataclass(frozen=True)
class LookupStarted:
    order_id: str


@dataclass(frozen=True)
class LookedUp:
    result: RunResult  # done, with the order's outputs


@dataclass(frozen=True)
class RefundStarted:
    pick: DemoOrder


@dataclass(frozen=True)
class RefundPrepared:
    result: RunResult  # paused at the gate
    agent_refunds: int  # refunds in the sandbox ledger written by the agent so far (0)


@dataclass(frozen=True)
class GateWaiting:
    view: GateView  # who asked, what policy requires, who may approve


@dataclass(frozen=True)
class Approved:
    approver: str
    decision: Decision


@dataclass(frozen=True)
class Committed:
    result: RunResult  # the resumed run: done (or failed)


@dataclass(frozen=True)
class LedgerRefund:
    refund: dict[str, Any]  # a row of the sandbox ledger: refund_id, amount, currency …


@dataclass(frozen=True)
class EvidenceReady:
    evidence_dir: Path
    lookup_run: str
    refund_run: str


@dataclass(frozen=True)
class Failed:
    what: str  # "lookup_order failed", "prepare_refund did not reach its gate" …
    error: str | None


DemoEvent = (
    SandboxStarted
    | OrderPicked
    | CaseOpened
    | LookupStarted
    | LookedUp
    | RefundStarted
    | RefundPrepared
    | GateWaiting
    | Approved
    | Committed
    | LedgerRefund
    | EvidenceReady
    | Failed
)
Report = Callable[[DemoEvent], None]


@dataclass(frozen=True)
class DemoOutcome:
    run_ids: list[str]  # the runs made, in order: lookup_order, prepare_refund
    exit_code: int = 0  # 0: the refund was committed once; else the failing run's code
    failure: str | None = None


# --------------------------------------------------------------------------- the job


def run_demo(settings: Settings, report: Report, *, headed: bool = False) -> DemoOutcome:
    """Start the sandbox, then through the facade: open the customer's case, look the order
    up and prepare a refund as the lead (it stops at the gate), approve it as the approvers
    policy needs (the reviewer first), resume it (commit once) and read the ledger.

    The sandbox is stopped on return. SandboxError when it cannot start; AgentError from
    the facade as raised (policy, gates, evidence)."""
    from agent import Aijia

    with demo_sandbox(settings) as server:
        report(
            SandboxStarted(
                tuple((settings.sites[f].title or f, url) for f, url in server.base_urls.items())
            )
        )
        pick = pick_demo_order(server)
        report(OrderPicked(pick))
        # created from the settings the sandbox just pointed at itself
        with Aijia(settings) as aijia:
            outcome = _main_job(aijia, server, pick, report, headed=headed)
        if outcome.failure is None:
            lookup_run, refund_run = outcome.run_ids
            report(EvidenceReady(settings.data_dir / "evidence", lookup_run, refund_run))
    return outcome


def _main_job(
    aijia: Aijia, server: SandboxServer, pick: DemoOrder, report: Report, *, headed: bool
) -> DemoOutcome:
    order = pick.order
    case = f"DEMO-{order.order_id}"
    aijia.open_case(case, channel=CHANNEL, ask=pick.customer_ask)
    report(CaseOpened(case, CHANNEL, pick.customer_ask))
    options: dict[str, Any] = {
        "as_user": INITIATOR,
        "site": pick.flavor,
        "case": case,
        "headed": headed,
    }

    report(LookupStarted(order.order_id))
    found = aijia.run("lookup_order", {"order_id": order.order_id}, **options)
    if found.error:
        return _failed(report, [found], "lookup_order failed", found.error, found.exit_code)
    report(LookedUp(found))

    report(RefundStarted(pick))
    inputs = {"order_id": order.order_id, "amount": pick.refund_amount, "reason": pick.reason}
    prepared = aijia.run("prepare_refund", inputs, **options)
    runs = [found, prepared]
    if prepared.gate is None or prepared.gate.gate_id is None:
        what = "prepare_refund did not reach its gate"
        return _failed(report, runs, what, prepared.error, prepared.exit_code or 1)
    report(RefundPrepared(prepared, len(server.ledger(pick.flavor)["refunds"])))

    view = aijia.gate(prepared.gate.gate_id)
    report(GateWaiting(view))
    approvers = sorted(view.approvers, key=lambda user: user != REVIEWER)
    for approver in approvers[: view.needs.approvals]:
        decision = aijia.approve(view.gate.gate_id, as_user=approver, note="aijia demo")
        report(Approved(approver, decision))
    done = aijia.resume(prepared.run_id or "", as_user=approvers[0])
    report(Committed(done))
    if done.error:
        return _failed(report, runs, "resume failed", done.error, done.exit_code or 1)
    for refund in server.ledger(pick.flavor)["refunds"]:
        report(LedgerRefund(refund))
    return DemoOutcome([found.run_id or "", prepared.run_id or ""])


def _failed(
    report: Report, runs: list[RunResult], what: str, error: str | None, exit_code: int
) -> DemoOutcome:
    report(Failed(what, error))
    return DemoOutcome([r.run_id for r in runs if r.run_id], exit_code, f"{what}: {error}")


# --------------------------------------------------------------------------- the sandbox


@contextmanager
def demo_sandbox(settings: Settings, flavors: str = "all") -> Iterator[SandboxServer]:
    """Start the sandbox, point `settings.sites` at it and export its demo passwords."""
    from sandbox.testing import SandboxServer

    workdir = settings.data_dir / "demo-sandbox"
    db = workdir / "sandbox.db"
    if db.exists():
        db.unlink()  # the demo always starts from the seeded state
    server = SandboxServer(workdir, seed=settings.sandbox.seed, flavors=flavors)
    server.start()
    saved = {name: os.environ.get(name) for name in server.env()}
    try:
        os.environ.update(server.env())
        for name, url in server.base_urls.items():
            site = settings.sites.get(name)
            if site is None:
                raise SandboxError(
                    f"config.yaml has no site {name!r} for the sandbox's {name} seller center",
                    hint="keep the shoplane/markethub/storefront entries of the shipped config",
                )
            site.base_url = url.rstrip("/")
            site.allowed_origins = []
        yield server
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()


def pick_demo_order(server: SandboxServer, flavor: str = "shoplane") -> DemoOrder:
    """A completed, partially refunded order: there is something left to refund."""
    orders = server.find_orders(flavor, "partially_refunded", limit=20)
    candidates = [o for o in orders if float(o.refundable) >= 2]
    if not candidates:
        raise SandboxError(f"the {flavor} seed has no partially refunded order to demo with")
    order = candidates[0]
    amount = f"{round(float(order.refundable) / 2, 2):.2f}"
    ask = (
        f"Order {order.order_id}: the item arrived damaged. Can I get "
        f"{order.currency} {amount} back?"
    )
    return DemoOrder(
        flavor=flavor, order=order, refund_amount=amount, reason="damaged", customer_ask=ask
    )
