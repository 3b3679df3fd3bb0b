"""The commit worker (`aijia serve`'s CommitWorker) against the real sandbox and Chromium.

An approved run is committed once, however many workers look at it at the same time (one
facade or two over the same store); a site outage during the commit leaves the run approved
with a retry time that the worker waits for, then it commits once; a run a committer left
`committing` (its lease lapsed) is settled through reconcile, with the notice a commit sends;
`kick()` makes a serving worker act at once instead of at its next poll.

Refunds are counted by the run's own reference (`aijia <run id>`), as reconcile finds them.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agent import AsyncAijia, RunResult
from agent.core.errors import GateError
from agent.core.settings import Settings
from agent.core.states import RunState
from agent.engine import lifecycle
from agent.gates.decide import parse_time
from agent.gates.recorder import OWNER
from agent.gates.webhook_verify import verify
from agent.schedule.worker import CommitWorker
from evidence.leases import LeaseHeld
from evidence.store import EvidenceStore
from tests.gates.conftest import FLAVOR, Gates
from tests.gates.test_notify import SECRET, Receiver, receiver, signed  # noqa: F401 - fixtures


@pytest.fixture
def gates(run: Any, chromium: Any, product: Settings, store: Any, sandbox: Any) -> Gates:
    """The facade over the shipped policy (tests/gates/conftest.py): lead prepares refunds."""
    return Gates(run, chromium, product, store, sandbox)


class Log:
    """What a worker logged: (event, fields) in order."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))

    def events(self, name: str) -> list[dict[str, Any]]:
        return [fields for event, fields in self.lines if event == name]


def refunds_of(gates: Gates, run_id: str) -> list[dict[str, Any]]:
    """The sandbox's refunds that carry this run's reference."""
    return [r for r in gates.refunds() if r["reference"] == f"aijia {run_id}"]


def approved(gates: Gates) -> tuple[str, str]:
    """A refund prepared by lead and approved by reviewer (nobody resumed it): (gate, run)."""
    prepared = gates.refund()
    decision = gates.approve(prepared.gate_id, "reviewer")
    assert decision.complete and gates.store.get_run(prepared.run_id).state is RunState.APPROVED
    return prepared.gate_id, prepared.run_id


def retries(gates: Gates, run_id: str) -> list[dict[str, Any]]:
    return [dict(e.data) for e in gates.store.events(run_id) if e.kind == "commit_retry"]


def test_an_approved_run_is_committed_once_by_a_sweep(gates: Gates):
    gate_id, run_id = approved(gates)
    log = Log()
    worker = CommitWorker(gates.aijia, log=log)
    gates._run(worker.sweep())
    assert gates.store.get_run(run_id).state is RunState.DONE
    assert gates.store.get_gate(gate_id).state == "used"
    owners = [e.data["user"] for e in gates.store.events(run_id) if e.kind == OWNER]
    assert owners == ["worker"], "the worker commits as worker.user, through the facade"
    assert log.events("approved_resumed") == [{"run_id": run_id, "state": "done"}]

    gates._run(worker.sweep())  # nothing approved is left
    assert len(refunds_of(gates, run_id)) == 1
    assert len(log.events("approved_resumed")) == 1 and worker.passes == 2
    assert gates.store.verify([run_id]).ok


@pytest.mark.parametrize("facades", ["one facade", "two facades"])
def test_two_workers_sweeping_at_once_give_one_refund(
    gates: Gates,
    chromium: Any,
    facades: str,
):
    """Two workers in one process share a facade; two facades over one store are how two
    `aijia serve` processes meet (each its own store connection and login sessions)."""
    gate_id, run_id = approved(gates)
    logs = Log(), Log()
    other = gates.aijia
    second_store = None
    if facades == "two facades":
        second_store = EvidenceStore.open(gates.settings)
        other = AsyncAijia(gates.settings, store=second_store, browser=chromium)
    first, second = CommitWorker(gates.aijia, log=logs[0]), CommitWorker(other, log=logs[1])

    async def both() -> None:
        await asyncio.gather(first.sweep(), second.sweep())

    try:
        gates._run(both())
    finally:
        if second_store is not None:
            second_store.close()

    assert gates.store.get_run(run_id).state is RunState.DONE
    assert len(refunds_of(gates, run_id)) == 1
    done = [f for log in logs for f in log.events("approved_resumed")]
    refused = [f for log in logs for f in log.events("approved_not_resumed")]
    assert done == [{"run_id": run_id, "state": "done"}], (logs[0].lines, logs[1].lines)
    assert len(refused) == 1 and refused[0]["run_id"] == run_id
    assert "being committed by" in refused[0]["error"] or " is done" in refused[0]["error"]
    owners = [e for e in gates.store.events(run_id) if e.kind == OWNER]
    assert len(owners) == 1, "one committer took the run"
    assert gates.store.get_gate(gate_id).state == "used"


def test_an_outage_is_retried_at_its_time_and_commits_once(gates: Gates):
    gates.settings.policy.commit_retry_s = [3.0]
    gate_id, run_id = approved(gates)
    log = Log()
    worker = CommitWorker(gates.aijia, log=log)

    gates.sandbox.set_faults(FLAVOR, maintenance=True)
    gates._run(worker.sweep())
    assert gates.store.get_run(run_id).state is RunState.APPROVED
    [retry] = retries(gates, run_id)
    assert retry["attempt"] == 1 and retry["delay_s"] == 3.0
    assert [f["run_id"] for f in log.events("commit_will_retry")] == [run_id]
    assert "503" in log.events("commit_will_retry")[0]["error"]
    assert gates.store.commit_lease(run_id) is None
    assert gates.store.get_gate(gate_id).state == "approved", "the approval holds"

    gates.sandbox.set_faults(FLAVOR, maintenance=False)  # the site is back, the time is not
    due = parse_time(str(retry["next_at"]))
    gates._run(worker.sweep(due - timedelta(seconds=0.5)))
    assert len(retries(gates, run_id)) == 1 and gates.refunds() == []
    assert gates.store.get_run(run_id).state is RunState.APPROVED
    assert len(log.events("approved_resumed")) == 0, "not resumed before its retry time"

    while datetime.now(UTC) < due:
        time.sleep(0.1)
    gates._run(worker.sweep())
    assert gates.store.get_run(run_id).state is RunState.DONE
    assert len(refunds_of(gates, run_id)) == 1
    gates._run(worker.sweep())
    assert len(refunds_of(gates, run_id)) == 1
    assert gates.store.get_gate(gate_id).state == "used"
    assert [a.approver for a in gates.store.approvals(gate_id)] == ["reviewer"]
    assert gates.store.verify([run_id]).ok


def test_a_run_left_committing_under_a_lapsed_lease_is_reconciled_then_committed(
    gates: Gates,
):
    """A committer claimed the run and stopped before its request reached the site; its
    lease ran out. The worker reconciles it (no refund with its reference: the approval
    holds) and commits it once."""
    gate_id, run_id = approved(gates)
    dead = gates.store.acquire_commit_lease(
        run_id, holder="4242@gone-host (resume by reviewer)", lease_s=0.3
    )
    assert not isinstance(dead, LeaseHeld)
    assert gates.store.transition(run_id, RunState.APPROVED, RunState.COMMITTING)
    log = Log()
    worker = CommitWorker(gates.aijia, log=log)
    gates._run(worker.sweep(datetime.now(UTC)))  # its lease is live: left alone
    assert gates.store.get_run(run_id).state is RunState.COMMITTING and log.lines == []

    time.sleep(0.4)
    gates._run(worker.sweep())
    assert gates.store.get_run(run_id).state is RunState.DONE
    assert log.events("commit_reconciled") == [{"run_id": run_id, "state": "approved"}]
    assert log.events("approved_resumed") == [{"run_id": run_id, "state": "done"}]
    kinds = [e.kind for e in gates.store.events(run_id)]
    assert kinds.index("reconcile_finished") < kinds.index("action_done")
    assert len(refunds_of(gates, run_id)) == 1
    assert gates.store.get_gate(gate_id).state == "used"
    assert gates.store.verify([run_id]).ok


class StoppedAfterSending:
    """`aijia resume RUN` in a thread of its own (its own store and Chromium, as another
    process), stopped right after the site confirmed the refund and before it recorded the
    run as done: its event loop blocks, so its lease is not renewed and runs out."""

    def __init__(self, settings: Settings, run_id: str) -> None:
        self.settings, self.run_id = settings, run_id
        self.stopped, self.wake = threading.Event(), threading.Event()
        self.result: RunResult | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name="stopped-committer", daemon=True)

    def finish_done(self, *args: Any, **kwargs: Any) -> None:
        if threading.current_thread() is self.thread:
            self.stopped.set()
            self.wake.wait(120)  # a paused process: nothing of it runs
        FINISH_DONE(*args, **kwargs)

    def _main(self) -> None:
        async def resume() -> RunResult:
            async with AsyncAijia(self.settings) as aijia:
                return await aijia.resume(self.run_id, as_user="reviewer")

        try:
            self.result = asyncio.run(resume())
        except BaseException as exc:
            self.error = exc


FINISH_DONE = lifecycle.finish_done


def test_a_committer_that_stopped_after_sending_is_settled_done_with_a_notice(
    signed: Gates,  # noqa: F811 - the fixture
    receiver: Receiver,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
):
    """The refund went out, then its committer stopped (still `committing`, lease lapsed):
    the worker's reconcile finds the refund by its reference, the run is done without a
    second refund, and the gate's `run_committed` notice goes out, signed, as a commit's."""
    gates = signed
    gates.settings.policy.commit_lease_s = 2.0
    gate_id, run_id = approved(gates)
    committer = StoppedAfterSending(gates.settings, run_id)
    monkeypatch.setattr(lifecycle, "finish_done", committer.finish_done)
    committer.thread.start()
    try:
        assert committer.stopped.wait(120), f"it never got to finish: {committer.error}"
        assert gates.store.get_run(run_id).state is RunState.COMMITTING
        assert len(refunds_of(gates, run_id)) == 1, "the refund went out"
        lease = gates.store.commit_lease(run_id)
        while lease is not None and lease.live():
            time.sleep(0.1)
        log = Log()
        gates._run(CommitWorker(gates.aijia, log=log).sweep())
        assert log.events("commit_reconciled") == [{"run_id": run_id, "state": "done"}]
        assert gates.store.get_run(run_id).state is RunState.DONE
        assert gates.store.get_gate(gate_id).state == "used"
        assert log.events("approved_resumed") == [], "nothing to commit again"
    finally:
        committer.wake.set()
        committer.thread.join(120)

    assert isinstance(committer.error, GateError), (committer.result, committer.error)
    assert len(refunds_of(gates, run_id)) == 1
    notices = [verify(SECRET, p.headers, p.body, seen=set()) for p in receiver.hook()]
    assert [n["event"] for n in notices] == ["gate_opened", "gate_approved", "run_committed"]
    committed = notices[-1]
    assert committed["run_state"] == "done" and committed["gate_state"] == "used"
    assert committed["detail"]["settled_by"] == "reconcile"
    assert committed["detail"]["committed"] is True
    assert "found in the back office" in committed["reason"]
    assert committed["link"].endswith(f"/gates/{gate_id}")
    assert gates.store.verify([run_id]).ok


def test_kick_makes_a_serving_worker_commit_before_its_poll(gates: Gates):
    gates.settings.worker.poll_s = 300.0
    prepared = gates.refund()
    log = Log()
    worker = CommitWorker(gates.aijia, log=log)
    store = gates.store

    async def scenario() -> tuple[float, int]:
        serving = asyncio.create_task(worker.serve())
        while worker.passes < 1:  # its first pass: nothing approved yet
            await asyncio.sleep(0.02)
        await gates.aijia.approve(prepared.gate_id, as_user="reviewer")
        await asyncio.sleep(0.5)
        idle = worker.passes  # it waits for its poll (300 s) or a kick
        kicked = time.monotonic()
        worker.kick()
        while store.get_run(prepared.run_id).state is not RunState.DONE:
            assert time.monotonic() - kicked < 60, log.lines
            await asyncio.sleep(0.05)
        took = time.monotonic() - kicked
        worker.stop.set()
        await asyncio.wait_for(serving, 30)
        return took, idle

    took, idle = gates._run(scenario())
    assert idle == 1, "no pass between the first one and the kick"
    assert took < 60 and len(refunds_of(gates, prepared.run_id)) == 1
    events = [e for e, _ in log.lines]
    assert events[0] == "worker_started" and events[-1] == "worker_stopped"
