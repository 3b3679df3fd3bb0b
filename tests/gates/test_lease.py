"""Committer liveness by lease: a committer frozen after its claim loses the run when its
lease runs out; reconcile and a second resume go ahead; when the frozen one wakes, its
commit request is aborted in the browser. One refund on the sandbox, whatever the timing.

The frozen committer is a real one: its own thread, event loop, evidence store connection and
Chromium (as another process would have), stopped where a paused process could stop: between
winning the claim and releasing the held request (`binding.BEFORE_RELEASE`), with its whole
event loop blocked, so its lease is not renewed either.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent import AsyncAijia, RunResult
from agent.core.errors import GateError
from agent.core.settings import Settings
from agent.core.states import RunState
from agent.engine import binding
from agent.engine.binding import CommitBinding
from evidence.leases import LeaseHeld
from evidence.store import EvidenceStore
from tests.gates.conftest import Gates

LEASE_S = 2.0


class FrozenCommitter:
    """`aijia resume RUN` in a thread of its own, frozen at its first commit request."""

    def __init__(self, settings: Settings, run_id: str, user: str) -> None:
        self.settings, self.run_id, self.user = settings, run_id, user
        self.frozen, self.wake = threading.Event(), threading.Event()
        self.result: RunResult | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name="frozen-committer", daemon=True)

    def freeze(self, held: CommitBinding) -> None:
        if held.run_id == self.run_id and not self.frozen.is_set():
            self.frozen.set()
            self.wake.wait(120)  # blocks this committer's event loop: nothing of it runs

    def _main(self) -> None:
        async def resume() -> RunResult:
            async with AsyncAijia(self.settings) as aijia:  # its own store and Chromium
                return await aijia.resume(self.run_id, as_user=self.user)

        try:
            self.result = asyncio.run(resume())
        except BaseException as exc:
            self.error = exc


@pytest.fixture
def short_lease(gates: Gates) -> Iterator[None]:
    saved = gates.settings.policy.commit_lease_s
    gates.settings.policy.commit_lease_s = LEASE_S
    yield
    gates.settings.policy.commit_lease_s = saved


def test_a_paused_committer_never_sends_after_reconcile_and_a_second_resume(
    gates: Gates, short_lease: None, monkeypatch: pytest.MonkeyPatch
):
    prepared = gates.refund()
    gates.approve(prepared.gate_id, "reviewer")
    paused = FrozenCommitter(gates.settings, prepared.run_id, "reviewer")
    monkeypatch.setattr(binding, "BEFORE_RELEASE", [paused.freeze])
    paused.thread.start()
    try:
        assert paused.frozen.wait(120), f"the committer never got to its request: {paused.error}"
        run = gates.store.get_run(prepared.run_id)
        assert run.state is RunState.COMMITTING, "it won the claim, then stopped"
        lease = gates.store.commit_lease(prepared.run_id)
        assert lease is not None and lease.holder.endswith("(resume by reviewer)")

        if lease.live(datetime.now(UTC) + timedelta(seconds=1)):  # (a slow machine may miss it)
            with pytest.raises(GateError, match="being committed by"):
                gates.reconcile(prepared.run_id)
        while lease.live():
            time.sleep(0.1)

        settled = gates.reconcile(prepared.run_id)
        assert (settled.state, settled.committed) == (RunState.APPROVED, False)
        assert gates.refunds() == []
        second = gates.resume(prepared.run_id, "supervisor")
        assert second.state is RunState.DONE, second.error
        assert len(gates.refunds(prepared.order_id)) == 1
    finally:
        paused.wake.set()
        paused.thread.join(120)

    assert isinstance(paused.error, GateError), (paused.result, paused.error)
    assert "not committed here" in paused.error.message
    assert "lease" in paused.error.message
    [refund] = gates.refunds(prepared.order_id)
    assert refund["reference"] == f"aijia {prepared.run_id}"
    events = gates.store.events(prepared.run_id)
    sent = [e for e in events if e.kind == "commit_request_sent"]
    refused = [e for e in events if e.kind == "commit_request_refused"]
    assert len(sent) == 1, "only the second resume's request left its browser"
    assert len(refused) == 1 and "lease" in refused[0].data["reason"]
    assert gates.store.get_run(prepared.run_id).state is RunState.DONE
    assert gates.store.get_gate(prepared.gate_id).state == "used"


def test_a_live_lease_refuses_a_second_resume_and_reconcile(gates: Gates):
    prepared = gates.refund()
    gates.approve(prepared.gate_id, "reviewer")
    held = gates.store.acquire_commit_lease(
        prepared.run_id, holder="777@other-host (resume by reviewer)", lease_s=600
    )
    assert not isinstance(held, LeaseHeld)
    with pytest.raises(GateError, match=r"being committed by 777@other-host .*lease until"):
        gates.resume(prepared.run_id, "supervisor")
    assert gates.refunds() == []
    assert gates.store.get_run(prepared.run_id).state is RunState.APPROVED
    gates.store.release_commit_lease(prepared.run_id, held.token)
    done = gates.resume(prepared.run_id, "supervisor")
    assert done.state is RunState.DONE, done.error
    assert len(gates.refunds()) == 1


def test_lease_rows_acquire_renew_take_over_release(tmp_path: Path):
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with EvidenceStore(tmp_path / "store") as store:
        first = store.acquire_commit_lease("r1", holder="a", lease_s=10, now=now)
        assert not isinstance(first, LeaseHeld)
        later = now + timedelta(seconds=5)
        refused = store.acquire_commit_lease("r1", holder="b", lease_s=10, now=later)
        assert isinstance(refused, LeaseHeld) and refused.current.holder == "a"
        assert "a; lease until 2026-01-01T00:00:10" in refused.describe()
        assert store.renew_commit_lease("r1", first.token, lease_s=10, now=later)
        assert not store.renew_commit_lease("r1", "other", lease_s=10, now=later)
        # renewed until 00:00:15: still held at 00:00:12, expired at 00:00:16
        still = store.acquire_commit_lease(
            "r1", holder="b", lease_s=10, now=now + timedelta(seconds=12)
        )
        assert isinstance(still, LeaseHeld) and still.current.token == first.token
        expired = now + timedelta(seconds=16)
        assert not store.renew_commit_lease("r1", first.token, lease_s=10, now=expired)
        taken = store.acquire_commit_lease("r1", holder="b", lease_s=10, now=expired)
        assert not isinstance(taken, LeaseHeld) and taken.token != first.token
        assert not store.renew_commit_lease("r1", first.token, lease_s=10, now=expired)
        store.release_commit_lease("r1", first.token)  # not the holder's: nothing happens
        assert store.commit_lease("r1") == taken
        store.release_commit_lease("r1", taken.token)
        assert store.commit_lease("r1") is None
