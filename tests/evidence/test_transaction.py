"""`store.transaction()`: composed writes commit together or not at all; compare-and-set inside
one sees the current state; gate decisions built on it stay exactly-once across processes.

The concurrency test forks its workers like `test_concurrency.py`: each opens its own SQLite
connection after the fork, so they are as separate as as many `aijia approve` processes.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent import Aijia
from agent.core.errors import EvidenceError, GateError, PolicyError
from agent.core.settings import ActionPolicy, PolicySettings, RolePolicy, Settings
from agent.core.states import RunState
from agent.gates import decide
from agent.gates.decide import INITIATED, record_auto_approval
from agent.gates.policy import Policy
from evidence.gates import GateRecord
from evidence.store import EvidenceStore
from evidence.transaction import Transaction
from tests.evidence.conftest import new_run

REVIEWERS = [f"reviewer{n}" for n in range(12)]
POLICY = PolicySettings(
    users={"lead": ["runner"], **{name: ["reviewer"] for name in REVIEWERS}},
    roles={
        "runner": RolePolicy(run=["*"]),
        "reviewer": RolePolicy(approve=["*"]),
        "supervisor": RolePolicy(approve=["*"]),
    },
    actions={"refund": ActionPolicy(two_approvers_above={"EUR": Decimal("100")})},
)
TABLES = ("runs", "events", "manifests", "gates", "approvals", "cases", "artifacts")


def counts(store: EvidenceStore) -> dict[str, int]:
    return {t: store.query(f"SELECT COUNT(*) AS n FROM {t}")[0]["n"] for t in TABLES}


def paused_at_gate(store: EvidenceStore, amount: str = "12.50") -> GateRecord:
    """A run started by `lead`, paused at a refund gate over `amount` EUR."""
    run = new_run(store)
    store.append_event(run.run_id, INITIATED, {"user": "lead", "roles": ["runner"]})
    store.transition(run.run_id, RunState.PENDING, RunState.RUNNING)
    gate = store.record_gate(
        run.run_id,
        action="refund",
        summary=f"Refund {amount} EUR",
        binds={"order_id": "2611ABCDEFGHIJ", "amount": amount, "currency": "EUR"},
        required_approvals=2 if Decimal(amount) > 100 else 1,
    )
    store.transition(run.run_id, RunState.RUNNING, RunState.PAUSED, reason="gate refund")
    return gate


@pytest.fixture
def policy() -> Policy:
    return Policy(POLICY)


@pytest.fixture
def aijia(store: EvidenceStore) -> Iterator[Aijia]:
    """Decisions go through the public API, as every front end's do."""
    with Aijia(Settings(policy=POLICY), store=store) as facade:
        yield facade


class Boom(Exception):
    pass


# ---------------------------------------------------------------------- all or nothing


def test_a_composed_transaction_commits_every_write_together(store: EvidenceStore) -> None:
    with store.transaction() as tx:
        run = tx.create_run(
            recipe="prepare_refund",
            recipe_version="1",
            site="shoplane",
            inputs={"order_id": "2611ABCDEFGHIJ"},
        )
        assert tx.transition(run.run_id, RunState.PENDING, RunState.RUNNING)
        assert tx.run(run.run_id).state is RunState.RUNNING, "reads inside see the writes"
        gate = tx.record_gate(run.run_id, action="refund", summary="Refund", binds={"a": "1"})
        assert tx.transition(run.run_id, RunState.RUNNING, RunState.PAUSED)
        tx.record_approval(
            gate.gate_id, approver="sam", decision="approved", bind_hash=gate.bind_hash
        )
        assert tx.approvers(gate.gate_id, gate.bind_hash) == {"sam"}
        assert tx.approvers(gate.gate_id, "another hash") == set()
        assert tx.gate_transition(gate.gate_id, "pending", "approved")
        assert tx.transition(run.run_id, RunState.PAUSED, RunState.APPROVED)
    kinds = [e.kind for e in store.events(run.run_id)]
    assert kinds == [
        "run_created",
        "state_changed",
        "gate_opened",
        "state_changed",
        "approved",
        "gate_state_changed",
        "state_changed",
    ]
    assert store.get_run(run.run_id).state is RunState.APPROVED
    assert store.get_gate(gate.gate_id).state == "approved"
    assert store.verify().ok


def test_an_exception_rolls_back_every_write(store: EvidenceStore) -> None:
    store.open_case("TICKET-7", channel="email", ask="where is my refund?")
    run = new_run(store, case_id="TICKET-7")
    before, events_before = counts(store), store.events(run.run_id)
    with pytest.raises(Boom), store.transaction() as tx:
        tx.append_event(run.run_id, "step_started", {"step": 1})
        gate = tx.record_gate(run.run_id, action="refund", summary="Refund", binds={"a": "1"})
        tx.record_approval(
            gate.gate_id, approver="sam", decision="rejected", bind_hash=gate.bind_hash
        )
        tx.gate_transition(gate.gate_id, "pending", "rejected")
        tx.close_case("TICKET-7")
        other = tx.create_run(recipe="r", recipe_version="1", site="s", inputs={})
        assert tx.transition(run.run_id, RunState.PENDING, RunState.FAILED)  # seals: a manifest
        tx.finish_run(other.run_id, outputs={"x": 1})
        assert counts(store)["manifests"] == before["manifests"] + 2  # same connection sees it
        raise Boom
    assert counts(store) == before
    assert store.events(run.run_id) == events_before
    assert store.get_run(run.run_id).state is RunState.PENDING
    assert store.list_gates(run_id=run.run_id) == []
    assert store.get_case("TICKET-7").status == "open"
    with pytest.raises(EvidenceError, match="no run"):
        store.get_run(other.run_id)
    assert store.verify().ok
    # The chain continues from where it was: nothing of the rolled-back appends remains.
    store.append_event(run.run_id, "step_started", {"step": 1})
    assert store.verify().ok


def test_a_refusal_inside_a_decision_rolls_back(
    store: EvidenceStore, policy: Policy, aijia: Aijia, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reviewer whose view is stale (read before someone else decided) passes the checks
    made on that view; the checks repeated inside the transaction refuse, and nothing of
    the decision is written."""
    gate = paused_at_gate(store, amount="250")  # two approvers
    stale = decide.gate_view(store, policy, gate.gate_id)
    aijia.approve(gate.gate_id, as_user="reviewer1")
    monkeypatch.setattr(decide, "gate_view", lambda *args, **kwargs: stale)

    before = counts(store)
    with pytest.raises(PolicyError, match="already approved gate"):
        aijia.approve(gate.gate_id, as_user="reviewer1")
    assert counts(store) == before

    monkeypatch.undo()
    assert aijia.approve(gate.gate_id, as_user="reviewer2").complete
    monkeypatch.setattr(decide, "gate_view", lambda *args, **kwargs: stale)

    before = counts(store)
    with pytest.raises(GateError, match="already approved"):
        aijia.approve(gate.gate_id, as_user="reviewer3")
    with pytest.raises(GateError, match="already approved"):
        aijia.reject(gate.gate_id, as_user="reviewer3", reason="no")
    assert counts(store) == before
    assert [a.approver for a in store.approvals(gate.gate_id)] == ["reviewer1", "reviewer2"]
    assert store.get_run(gate.run_id).state is RunState.APPROVED
    assert store.verify().ok


def test_a_failure_midway_through_a_rejection_leaves_the_gate_pending(
    store: EvidenceStore, aijia: Aijia, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gate is rejected and the decision recorded before the run moves: a failure there
    (the disk, the process) must leave neither a rejected gate nor a rejection behind."""
    gate = paused_at_gate(store)
    before = counts(store)

    def disk_full(*args: Any, **kwargs: Any) -> bool:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Transaction, "transition", disk_full)
    with pytest.raises(sqlite3.OperationalError):
        aijia.reject(gate.gate_id, as_user="reviewer1", reason="wrong order")
    monkeypatch.undo()
    assert counts(store)["approvals"] == before["approvals"]
    assert store.get_gate(gate.gate_id).state == "pending"
    assert store.get_run(gate.run_id).state is RunState.PAUSED
    decision = aijia.reject(gate.gate_id, as_user="reviewer1", reason="wrong order")
    assert decision.decision == "rejected"
    kinds = [e.kind for e in store.events(gate.run_id)][-3:]
    assert kinds == ["gate_state_changed", "rejected", "state_changed"]
    assert store.get_run(gate.run_id).state is RunState.REJECTED
    assert store.manifest(gate.run_id) is not None, "a rejected run is sealed"
    assert store.verify().ok


def test_auto_approval_is_one_transaction(store: EvidenceStore) -> None:
    gate = paused_at_gate(store)
    store.transition(gate.run_id, RunState.PAUSED, RunState.FAILED, reason="site down")
    before = counts(store)
    assert record_auto_approval(store, gate, why="internal note") is False
    assert counts(store) == before, "a run that is not paused gets nothing written"
    assert store.get_gate(gate.gate_id).state == "pending"

    gate = paused_at_gate(store)
    assert record_auto_approval(store, gate, why="internal note") is True
    assert [a.approver for a in store.approvals(gate.gate_id)] == ["policy:auto"]
    assert store.get_run(gate.run_id).state is RunState.APPROVED
    assert record_auto_approval(store, gate, why="again") is False
    assert len(store.approvals(gate.gate_id)) == 1


# ---------------------------------------------------------------------- compare-and-set


def test_compare_and_set_inside_a_transaction_sees_the_state_moved(store_dir: Path) -> None:
    with EvidenceStore(store_dir) as store, EvidenceStore(store_dir) as other:
        gate = paused_at_gate(store)
        # Another connection (another process, as far as SQLite knows) moves both first.
        assert other.gate_transition(gate.gate_id, "pending", "expired", reason="too late")
        assert other.transition(gate.run_id, RunState.PAUSED, RunState.EXPIRED)
        before = counts(store)
        with store.transaction() as tx:
            assert tx.gate(gate.gate_id).state == "expired"
            assert tx.gate_transition(gate.gate_id, "pending", "approved") is False
            assert tx.transition(gate.run_id, RunState.PAUSED, RunState.APPROVED) is False
        assert counts(store) == before, "a lost compare-and-set writes no event"

        run = new_run(store)
        with store.transaction() as tx:
            assert tx.transition(run.run_id, RunState.PENDING, RunState.RUNNING) is True
            assert tx.transition(run.run_id, RunState.PENDING, RunState.RUNNING) is False
        changes = [e for e in store.events(run.run_id) if e.kind == "state_changed"]
        assert len(changes) == 1
        assert store.verify().ok


def test_no_nesting_and_no_use_after_the_block(store: EvidenceStore) -> None:
    run = new_run(store)
    with pytest.raises(EvidenceError, match="already open"), store.transaction() as tx:
        tx.append_event(run.run_id, "step_started", {"step": 1})
        store.append_event(run.run_id, "step_started", {"step": 2})  # not through tx
    assert [e.kind for e in store.events(run.run_id)] == ["run_created"]
    with pytest.raises(EvidenceError, match="has ended"):
        tx.append_event(run.run_id, "step_started", {"step": 3})
    with store.transaction() as tx:  # the store is usable again
        tx.append_event(run.run_id, "step_started", {"step": 4})
    assert len(store.events(run.run_id)) == 2


# ---------------------------------------------------------------------- across processes

WORKERS = 12


def approver(root: Path, gate_id: str, user: str, barrier: Any, report: Path) -> None:
    """Exit status 0: approved, 1: refused as already approved, 2: anything else (in `report`)."""
    code = 2
    try:
        store = EvidenceStore(root)
        barrier.wait(timeout=60)  # everyone tries at the same moment
        try:
            with Aijia(Settings(policy=POLICY), store=store) as facade:
                facade.approve(gate_id, as_user=user)
            code = 0
        except (GateError, PolicyError) as exc:
            report.write_text(f"{type(exc).__name__}: {exc}")
            code = 1 if "already approved" in str(exc) else 2
        store.close()
    except BaseException as exc:
        report.write_text(f"{type(exc).__name__}: {exc}")
    os._exit(code)


@pytest.fixture
def forked() -> Iterator[Any]:
    yield multiprocessing.get_context("fork")


@pytest.mark.parametrize(
    ("amount", "same_user"),
    [("12.50", True), ("250", False)],
    ids=["one-approver-same-user", "two-approvers-distinct-users"],
)
def test_concurrent_approvals_from_processes_decide_once(
    store_dir: Path, tmp_path: Path, forked: Any, amount: str, same_user: bool
) -> None:
    with EvidenceStore(store_dir) as store:
        gate = paused_at_gate(store, amount=amount)
    needed = gate.required_approvals
    barrier = forked.Barrier(WORKERS)
    users = ["reviewer0"] * WORKERS if same_user else REVIEWERS[:WORKERS]
    reports = [tmp_path / f"worker{n}.txt" for n in range(WORKERS)]
    workers = [
        forked.Process(target=approver, args=(store_dir, gate.gate_id, user, barrier, report))
        for user, report in zip(users, reports, strict=True)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
    codes = [p.exitcode for p in workers]
    said = [
        r.read_text() for r, code in zip(reports, codes, strict=True) if r.exists() and code != 1
    ]
    assert codes.count(0) == needed and codes.count(1) == WORKERS - needed, (codes, said)

    with EvidenceStore(store_dir) as store:
        approvals = store.approvals(gate.gate_id)
        assert len(approvals) == needed and len({a.approver for a in approvals}) == needed
        events = store.events(gate.run_id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert sum(e.kind == "approved" for e in events) == needed
        moves = [e.data for e in events if e.kind == "gate_state_changed"]
        assert moves == [{"gate_id": gate.gate_id, "from_state": "pending", "to_state": "approved"}]
        runs = [e.data for e in events if e.kind == "state_changed"]
        assert [(d["from_state"], d["to_state"]) for d in runs][-1] == ("paused", "approved")
        assert sum(d["to_state"] == "approved" for d in runs) == 1
        assert store.get_gate(gate.gate_id).state == "approved"
        assert store.get_run(gate.run_id).state is RunState.APPROVED
        assert store.verify().ok


# ---------------------------------------------------------------------- a reviewer racing itself

READS = ("get_gate", "get_run", "approvals", "events")


@pytest.mark.parametrize("winner_after", range(1, 7))
def test_an_approval_racing_the_same_users_is_refused_as_already_approved(
    store: EvidenceStore, aijia: Aijia, monkeypatch: pytest.MonkeyPatch, winner_after: int
) -> None:
    """Twenty `aijia approve --yes` by one reviewer: each reads the gate in several queries
    while another may commit its approval in between. Whichever read the winner lands after,
    the others are refused as "already approved" (exit 5), never as a second approval by the
    same user (PolicyError, exit 6)."""
    from agent.gates.decide import approve_gate

    gate = paused_at_gate(store)
    seen = {"reads": 0, "won": False}

    def counted(name: str) -> Any:
        original = getattr(store, name)

        def read(*args: Any, **kwargs: Any) -> Any:
            value = original(*args, **kwargs)
            seen["reads"] += 1
            if seen["reads"] == winner_after and not seen["won"]:
                seen["won"] = True  # the other process commits its approval right here
                approve_gate(store, Policy(POLICY), gate.gate_id, user="reviewer0")
            return value

        return read

    for name in READS:
        monkeypatch.setattr(store, name, counted(name))
    with pytest.raises(GateError, match="already approved"):
        aijia.approve(gate.gate_id, as_user="reviewer0")
    assert seen["won"]
    monkeypatch.undo()
    assert [a.approver for a in store.approvals(gate.gate_id)] == ["reviewer0"]
    assert store.get_run(gate.run_id).state is RunState.APPROVED
