"""Retention removes whole finished runs nobody needs, keeps the rest, and logs what it did."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agent.core.errors import InputError
from agent.core.states import RunState
from evidence.prune import parse_age
from evidence.store import EvidenceStore
from tests.evidence.conftest import full_run, new_run

NOW = timedelta(0)  # "older than nothing": every run created before now is old enough


def test_parse_age() -> None:
    assert parse_age("180d") == timedelta(days=180)
    assert parse_age(" 12h") == timedelta(hours=12)
    assert parse_age("2w") == timedelta(weeks=2)
    with pytest.raises(InputError, match="180d"):
        parse_age("six months")


def test_prune_removes_whole_finished_runs_and_logs_them(store: EvidenceStore) -> None:
    done = full_run(store, case_id=None)
    store.open_case("T-OPEN", channel="email", ask="?")
    in_open_case = full_run(store, case_id="T-OPEN")
    running = new_run(store)
    store.transition(running.run_id, RunState.PENDING, RunState.RUNNING)
    paused = new_run(store)
    store.transition(paused.run_id, RunState.PENDING, RunState.RUNNING)
    gate = store.record_gate(paused.run_id, action="refund", summary="s", binds={"a": 1})
    store.transition(paused.run_id, RunState.RUNNING, RunState.PAUSED)
    root_hash = store.manifest(done.run_id)["root_hash"]  # type: ignore[index]

    dry = store.prune(NOW, dry_run=True)
    assert dry.pruned == [done.run_id] and store.get_run(done.run_id)

    result = store.prune(NOW, reason="test retention")
    assert result.pruned == [done.run_id]
    assert result.kept == {
        in_open_case.run_id: "case T-OPEN is open",
        running.run_id: "not finished (running)",
        paused.run_id: "not finished (paused)",
    }
    assert store.list_runs(state="done") == [store.get_run(in_open_case.run_id)]
    assert store.events(done.run_id) == []
    [logged] = store.prune_log()
    assert logged["run_id"] == done.run_id and logged["root_hash"] == root_hash
    assert logged["reason"] == "test retention"
    assert store.verify().ok
    assert store.get_gate(gate.gate_id).state == "pending"


def test_files_shared_with_a_kept_run_stay(store: EvidenceStore) -> None:
    old = full_run(store, case_id=None)  # both runs share the same screenshot bytes
    store.open_case("T-KEEP", channel="email", ask="?")
    kept = full_run(store, case_id="T-KEEP")
    old_only = {s for e in store.events(old.run_id) for s in e.artifacts}
    result = store.prune(NOW)
    assert result.pruned == [old.run_id]
    for sha in {s for e in store.events(kept.run_id) for s in e.artifacts}:
        assert store.files.path_of(sha).is_file()
    assert old_only <= {s for e in store.events(kept.run_id) for s in e.artifacts}
    store.close_case("T-KEEP")
    result = store.prune(NOW)
    assert result.pruned == [kept.run_id] and result.files_removed == len(old_only)
    assert list(p for p in (store.root / "objects").rglob("*") if p.is_file()) == []


def test_recent_runs_are_kept(store: EvidenceStore) -> None:
    full_run(store, case_id=None)
    assert store.prune(timedelta(days=180)).pruned == []


def test_abandoned_temp_files_are_removed(store: EvidenceStore) -> None:
    import os

    store.files.tmp.mkdir(parents=True, exist_ok=True)
    old, fresh = store.files.tmp / "dead.123.abcd", store.files.tmp / "live.456.ef01"
    old.write_bytes(b"x" * 10)
    fresh.write_bytes(b"y")
    os.utime(old, (0, 0))
    result = store.prune(timedelta(days=1))
    assert not old.exists() and fresh.exists() and result.bytes_freed == 10
