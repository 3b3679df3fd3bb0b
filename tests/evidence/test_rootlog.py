"""The root log: one signed, chained line per seal (and per prune), appended after COMMIT,
caught up after a crash, and compared with the store by verify."""

from __future__ import annotations

import json
import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from agent.core.errors import EvidenceError
from agent.core.settings import EvidenceSettings, SigningSettings
from agent.core.states import RunState
from evidence.ledger import LEDGER
from evidence.rootlog import read_log
from evidence.store import EvidenceStore
from tests.evidence import tampering
from tests.evidence.conftest import full_run, new_run


def lines(store: EvidenceStore) -> list[dict[str, object]]:
    read = read_log(store.root_log)
    assert read.problems == []
    return [line.body for line in read.lines]


def test_each_seal_is_one_signed_chained_line_outside_the_store(store: EvidenceStore) -> None:
    run = full_run(store)
    assert not store.root_log.resolve().is_relative_to(store.root.resolve())
    assert stat.S_IMODE(os.stat(store.root_log).st_mode) == 0o600
    logged = lines(store)
    manifests = store.query("SELECT n, root_hash FROM manifests WHERE run_id = ?", [run.run_id])
    seals = {(b["n"], b["root_hash"]) for b in logged if b["run_id"] == run.run_id}
    assert seals == {(m["n"], m["root_hash"]) for m in manifests}
    assert any(b["run_id"] == LEDGER for b in logged)  # the case, the run's creation
    entries = [b["entry"] for b in logged]
    assert entries == sorted(entries) and len(set(entries)) == len(entries)
    assert store.verify().ok


def test_open_puts_the_log_in_the_data_dir(tmp_path: Path) -> None:
    from agent.core.settings import Settings

    settings = Settings(data_dir=tmp_path / "var")
    with EvidenceStore.open(settings) as store:
        new_run(store)
        assert store.root_log == tmp_path / "var" / "roots.log" and store.root_log.exists()
    elsewhere = tmp_path / "worm" / "roots.log"
    settings.evidence.signing.root_log = elsewhere
    with pytest.raises(EvidenceError, match="inside the evidence store"):
        EvidenceStore(
            tmp_path / "s",
            EvidenceSettings(signing=SigningSettings(root_log=tmp_path / "s" / "roots.log")),
        )


def test_a_crash_between_commit_and_append_is_caught_up_on_open(tmp_path: Path) -> None:
    log = tmp_path / "not-yet" / "roots.log"  # its folder is missing: every append fails
    settings = EvidenceSettings(signing=SigningSettings(root_log=log))
    root = tmp_path / "evidence"
    with EvidenceStore(root, settings) as store:
        run = full_run(store)  # commits succeed; the lines wait in the outbox
        assert not log.exists()
        waiting = store.query("SELECT entry FROM root_log_outbox")
        assert waiting and store.verify().ok  # not yet in the log is not a break
    log.parent.mkdir()
    with EvidenceStore(root, settings) as store:  # the next open appends them, in order
        assert [b["entry"] for b in lines(store)] == [w["entry"] for w in waiting]
        store.append_event(run.run_id, "note", {"text": "later"})  # drops what was appended
        left = [r["entry"] for r in store.query("SELECT entry FROM root_log_outbox")]
        assert all(entry > waiting[-1]["entry"] for entry in left)  # only its own new seal
        assert store.verify().ok


def test_two_stores_on_one_file_append_without_duplicates(store_dir: Path) -> None:
    with EvidenceStore(store_dir) as a, EvidenceStore(store_dir) as b:
        for _ in range(3):
            new_run(a)
            new_run(b)
        entries = [line["entry"] for line in lines(a)]
        assert entries == sorted(set(entries))
        assert a.verify().ok


def test_a_pruned_run_is_logged_and_verifies(store: EvidenceStore) -> None:
    run = new_run(store)
    store.transition(run.run_id, RunState.PENDING, RunState.FAILED)
    assert store.prune(timedelta(0), reason="retention test").pruned == [run.run_id]
    [body] = [b for b in lines(store) if b["kind"] == "pruned"]
    assert body["run_id"] == run.run_id and body["reason"] == "retention test"
    assert store.verify().ok  # its seals are in the log, and a signed prune says why
    with tampering.connect(store.root) as conn:  # without the prune record it is a deletion
        conn.execute("DELETE FROM prunes")
    whats = {(b.run_id, b.what) for b in store.verify().breaks}
    assert (run.run_id, "run removed") in whats


def test_log_edits_and_removed_runs_are_named(store: EvidenceStore) -> None:
    full_run(store)
    gone = full_run(store, case_id=None)
    with tampering.connect(store.root) as conn:
        for table in ("approvals", "gates", "event_artifacts", "events", "manifests", "runs"):
            conn.execute(f"DELETE FROM {table} WHERE run_id = ?", [gone.run_id])
    report = store.verify()
    assert [(b.run_id, b.what) for b in report.breaks] == [(gone.run_id, "run removed")]
    text = store.root_log.read_text().splitlines()
    body = json.loads(text[3])
    body["at"] = "2000-01-01T00:00:00.000000Z"
    text[3] = json.dumps(body, sort_keys=True, separators=(",", ":"))
    store.root_log.write_text("\n".join(text) + "\n")
    found = {(b.where, b.what) for b in store.verify().breaks}
    assert ("root log line 4", "log edited") in found
