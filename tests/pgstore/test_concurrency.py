"""Several processes on one store, on both engines: approvals decide once, a commit lease has
one holder, and a writer that cannot get the write lock says so in time.

Workers are forked like tests/evidence/test_transaction.py's; each opens its own connection
after the fork (a SQLite file or a PostgreSQL session), as separate `aijia` processes do.
"""

from __future__ import annotations

import multiprocessing
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from agent import Aijia
from agent.core.errors import EvidenceError, GateError, PolicyError
from agent.core.settings import EvidenceSettings, Settings
from agent.core.states import RunState
from evidence.leases import LeaseHeld
from evidence.pg.database import STORE_LOCK
from evidence.store import EvidenceStore
from tests.evidence.conftest import new_run
from tests.evidence.test_transaction import POLICY, REVIEWERS, paused_at_gate

WORKERS = 8
forked = multiprocessing.get_context("fork")


def _open(root: Path, database: str | None) -> EvidenceStore:
    return EvidenceStore(root, EvidenceSettings(database=database))


def approver(root: Path, database: str | None, gate_id: str, user: str, barrier: Any) -> None:
    """Exit 0: approved, 1: refused as already approved, 2: anything else."""
    code = 2
    try:
        store = _open(root, database)
        barrier.wait(timeout=60)  # everyone at the same moment
        try:
            with Aijia(Settings(policy=POLICY), store=store) as facade:
                facade.approve(gate_id, as_user=user)
            code = 0
        except (GateError, PolicyError) as exc:
            code = 1 if "already approved" in str(exc) else 2
        store.close()
    except BaseException:
        code = 2
    os._exit(code)


def lease_claimer(root: Path, database: str | None, run_id: str, n: int, barrier: Any) -> None:
    """Exit 0: got the commit lease, 1: refused (held), 2: anything else."""
    code = 2
    try:
        store = _open(root, database)
        barrier.wait(timeout=60)
        got = store.acquire_commit_lease(
            run_id, holder=f"worker{n}", lease_s=60, now=datetime.now(UTC)
        )
        code = 1 if isinstance(got, LeaseHeld) else 0
        store.close()
    except BaseException:
        code = 2
    os._exit(code)


def race(target: Any, args: Any) -> list[int | None]:
    """Start WORKERS processes of `target(*args(n), barrier)`; their exit codes."""
    barrier = forked.Barrier(WORKERS)
    workers = [forked.Process(target=target, args=(*args(n), barrier)) for n in range(WORKERS)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
    return [p.exitcode for p in workers]


def test_two_approvers_from_processes_decide_once(store_dir: Path, store_url: str | None) -> None:
    with _open(store_dir, store_url) as store:
        gate = paused_at_gate(store, amount="250")  # two distinct approvers needed
    codes = race(approver, lambda n: (store_dir, store_url, gate.gate_id, REVIEWERS[n]))
    assert codes.count(0) == 2 and codes.count(1) == WORKERS - 2, codes

    with _open(store_dir, store_url) as store:
        approvals = store.approvals(gate.gate_id)
        assert len({a.approver for a in approvals}) == len(approvals) == 2
        events = store.events(gate.run_id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert sum(e.kind == "approved" for e in events) == 2
        assert store.get_gate(gate.gate_id).state == "approved"
        assert store.get_run(gate.run_id).state is RunState.APPROVED
        assert store.verify().ok


def test_a_commit_lease_has_one_holder(store_dir: Path, store_url: str | None) -> None:
    with _open(store_dir, store_url) as store:
        run = new_run(store)
    codes = race(lease_claimer, lambda n: (store_dir, store_url, run.run_id, n))
    assert codes.count(0) == 1 and codes.count(1) == WORKERS - 1, codes
    with _open(store_dir, store_url) as store:
        lease = store.commit_lease(run.run_id)
        assert lease is not None and lease.holder.startswith("worker")
        assert store.verify().ok


def test_a_writer_waits_for_the_lock_then_names_the_problem(store_dir: Path, pg_url: str) -> None:
    settings = EvidenceSettings(database=pg_url, busy_timeout_s=0.5)
    with EvidenceStore(store_dir, settings) as store:
        run = new_run(store)
        with psycopg.connect(pg_url) as other:  # another writer, inside its transaction
            other.execute("SELECT pg_advisory_xact_lock(%s)", [STORE_LOCK])
            with pytest.raises(EvidenceError, match="could not get the write lock"):
                store.append_event(run.run_id, "step_started", {"step": 1})
        # the other transaction ended: writes go through again, nothing half-written
        store.append_event(run.run_id, "step_started", {"step": 2})
        assert [e.kind for e in store.events(run.run_id)] == ["run_created", "step_started"]
        assert store.verify().ok
