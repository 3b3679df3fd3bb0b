"""verify passes on an untouched store and names the first broken link of a tampered one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.core.states import RunState
from evidence.hashing import event_hash, event_payload
from evidence.store import EvidenceStore
from tests.evidence import tampering
from tests.evidence.conftest import full_run, make_png, new_run


@pytest.fixture
def sealed(store: EvidenceStore) -> tuple[EvidenceStore, str]:
    run = full_run(store)
    assert store.verify().ok
    return store, run.run_id


def only_break(store: EvidenceStore, run_id: str) -> tuple[str, str]:
    report = store.verify([run_id])
    assert not report.ok
    [found] = report.breaks
    return found.where, found.what


def screenshot_event(store: EvidenceStore, run_id: str) -> tuple[int, str]:
    event = next(e for e in store.events(run_id) if e.artifacts)
    return event.seq, event.artifacts[0]


def test_untouched_store_verifies(sealed: tuple[EvidenceStore, str]) -> None:
    store, _ = sealed
    report = store.verify()
    assert report.ok and report.runs_checked == 1
    assert report.events_checked == len(store.events(_)) and report.artifacts_checked == 4


def test_one_byte_of_a_screenshot_changed(sealed: tuple[EvidenceStore, str]) -> None:
    store, run_id = sealed
    seq, sha = screenshot_event(store, run_id)
    tampering.flip_byte(store.files.path_of(sha), 100)
    assert only_break(store, run_id) == (
        f"event {seq}, artifact objects/{sha[:2]}/{sha}",
        "file changed",
    )


def test_screenshot_removed(sealed: tuple[EvidenceStore, str]) -> None:
    store, run_id = sealed
    _, sha = screenshot_event(store, run_id)
    store.files.path_of(sha).unlink()
    assert only_break(store, run_id)[1] == "file missing"


def test_event_edited(sealed: tuple[EvidenceStore, str]) -> None:
    store, run_id = sealed
    tampering.edit_event(store.root, run_id, 4, "data", json.dumps({"document_id": "other"}))
    assert only_break(store, run_id) == ("event 4", "row changed")


def test_event_rewritten_with_a_fresh_hash(sealed: tuple[EvidenceStore, str]) -> None:
    store, run_id = sealed
    e = store.events(run_id)[3]
    data = {**e.data, "version": "8"}
    fresh = event_hash(e.prev_hash, event_payload(run_id, e.seq, e.kind, data, e.artifacts, e.at))
    tampering.edit_event(store.root, run_id, 4, "data", json.dumps(data))
    tampering.edit_event(store.root, run_id, 4, "hash", fresh)
    assert only_break(store, run_id) == ("event 4", "row changed")


def test_event_deleted(sealed: tuple[EvidenceStore, str]) -> None:
    store, run_id = sealed
    tampering.delete_event(store.root, run_id, 5)
    assert only_break(store, run_id) == ("event 5", "row removed")


def test_last_event_deleted(sealed: tuple[EvidenceStore, str]) -> None:
    store, run_id = sealed
    last = len(store.events(run_id))
    tampering.delete_event(store.root, run_id, last)
    assert only_break(store, run_id) == (f"event {last}", "row removed")


def test_events_reordered(sealed: tuple[EvidenceStore, str]) -> None:
    store, run_id = sealed
    tampering.swap_events(store.root, run_id, 4, 5)
    assert only_break(store, run_id) == ("event 4", "rows reordered")


def test_manifest_edited(sealed: tuple[EvidenceStore, str]) -> None:
    store, run_id = sealed
    tampering.edit_manifest(store.root, run_id, "event_count", 3)
    assert only_break(store, run_id) == ("manifest 1", "manifest edited")


def test_run_state_edited(sealed: tuple[EvidenceStore, str]) -> None:
    store, run_id = sealed
    with tampering.connect(store.root) as conn:
        conn.execute("UPDATE runs SET state = 'failed' WHERE run_id = ?", [run_id])
    assert only_break(store, run_id) == ("run row", "row changed")


def test_one_broken_run_does_not_hide_the_others(store: EvidenceStore) -> None:
    good, bad = full_run(store), full_run(store, case_id=None)
    tampering.delete_event(store.root, bad.run_id, 2)
    report = store.verify()
    assert [b.run_id for b in report.breaks] == [bad.run_id]
    assert report.runs_checked == 2 and good.run_id not in report.unsealed


def test_events_after_the_manifest_are_unsealed_not_broken(store: EvidenceStore) -> None:
    run = new_run(store)
    store.transition(run.run_id, RunState.PENDING, RunState.RUNNING)
    store.finish_run(run.run_id, outputs={})
    store.append_event(run.run_id, "step_started", {"step": 9})
    report = store.verify()
    assert report.ok and report.unsealed == [run.run_id]


@pytest.mark.parametrize("finish_first", [True, False])
def test_a_final_state_seals_the_chain_whatever_the_order(
    store: EvidenceStore, finish_first: bool
) -> None:
    run = new_run(store)
    store.transition(run.run_id, RunState.PENDING, RunState.RUNNING)
    if finish_first:
        store.finish_run(run.run_id, outputs={"a": 1})
    store.transition(run.run_id, RunState.RUNNING, RunState.DONE)
    if not finish_first:
        store.finish_run(run.run_id, outputs={"a": 1})
    manifest = store.manifest(run.run_id)
    assert manifest is not None
    assert manifest["event_count"] == len(store.events(run.run_id))
    report = store.verify()
    assert report.ok and report.unsealed == []


# ---------------------------------------------------------------- property-based

MUTATIONS = [
    "flip_byte",
    "delete_file",
    "edit",
    "delete",
    "swap",
    "manifest",
    "root_hash",
    "run_row",
    "artifact_row",
]
COLUMNS = ["kind", "data", "artifacts", "at", "prev_hash", "hash"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, int, list[str]]:
    """A sealed victim run, and a bystander run that shares no file with it."""
    root = tmp_path_factory.mktemp("pristine") / "evidence"
    with EvidenceStore(root) as store:
        run_id = full_run(store).run_id
        bystander = new_run(store, case_id="OTHER")
        store.transition(bystander.run_id, RunState.PENDING, RunState.RUNNING)
        store.append_event(
            bystander.run_id,
            "page_captured",
            {"url": "http://x/b"},
            store.put_screenshot(make_png(text="someone else")),
        )
        store.transition(bystander.run_id, RunState.RUNNING, RunState.DONE)
        count = len(store.events(run_id))
        shas = sorted({s for e in store.events(run_id) for s in e.artifacts})
        assert not set(shas) & {s for e in store.events(bystander.run_id) for s in e.artifacts}
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return root, run_id, count, shas


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    mutation=st.sampled_from(MUTATIONS),
    a=st.integers(0, 10_000),
    b=st.integers(0, 10_000),
    column=st.sampled_from(COLUMNS),
)
def test_any_mutation_is_detected(
    pristine: tuple[Path, str, int, list[str]],
    tmp_path_factory: pytest.TempPathFactory,
    mutation: str,
    a: int,
    b: int,
    column: str,
) -> None:
    source, run_id, count, shas = pristine
    root = tmp_path_factory.mktemp("mutant") / "evidence"
    tampering.copy_store(source, root)
    seq = a % count + 1
    if mutation == "flip_byte":
        sha = shas[a % len(shas)]
        tampering.flip_byte(root / "objects" / sha[:2] / sha, b)
    elif mutation == "delete_file":
        sha = shas[a % len(shas)]
        (root / "objects" / sha[:2] / sha).unlink()
    elif mutation == "edit":
        value = {
            "kind": "x_edited",
            "data": '{"x":1}',
            "artifacts": '["' + "0" * 64 + '"]',
            "at": "2000-01-01T00:00:00.000000Z",
        }.get(column, "f" * 64)
        tampering.edit_event(root, run_id, seq, column, value)
    elif mutation == "delete":
        tampering.delete_event(root, run_id, seq)
    elif mutation == "swap":
        other = b % count + 1
        if other == seq:
            other = seq % count + 1
        tampering.swap_events(root, run_id, seq, other)
    elif mutation == "manifest":
        tampering.edit_manifest(root, run_id, ["event_count", "head_hash", "recipe"][a % 3], "x")
    elif mutation == "root_hash":
        with tampering.connect(root) as conn:
            conn.execute("UPDATE manifests SET root_hash = ? WHERE run_id = ?", ["0" * 64, run_id])
    elif mutation == "run_row":
        changes: list[tuple[str, object]] = [
            ("state", "failed"),
            ("inputs", '{"order_id":"X"}'),
            ("site", "evil"),
            ("last_seq", count - 1),
            ("head_hash", "0" * 64),
        ]
        column, new_value = changes[a % 5]
        with tampering.connect(root) as conn:
            conn.execute(f"UPDATE runs SET {column} = ? WHERE run_id = ?", [new_value, run_id])
    else:
        with tampering.connect(root) as conn:
            conn.execute("DELETE FROM artifacts WHERE sha256 = ?", [shas[a % len(shas)]])
    with EvidenceStore(root) as store:
        report = store.verify()
    assert not report.ok, mutation
    assert {b.run_id for b in report.breaks} == {run_id}, report.breaks
    assert report.breaks[0].what in {
        "row changed",
        "row removed",
        "rows reordered",
        "file changed",
        "file missing",
        "manifest edited",
    }
