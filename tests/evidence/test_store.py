"""The store's write API: runs, the chain, transitions, artifacts, cases, gates."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.core.errors import EvidenceError
from agent.core.settings import EvidenceSettings, Settings
from agent.core.states import IllegalTransition, RunState
from evidence.api import EvidenceSink
from evidence.events import PageReviewed
from evidence.hashing import GENESIS, event_hash, event_payload
from evidence.store import EvidenceStore
from tests.evidence.conftest import full_run, make_png, new_run


def test_store_implements_the_sink_protocol(store: EvidenceStore) -> None:
    sink: EvidenceSink = store  # mypy checks the signatures; this checks it at run time too
    for name in (
        "register_secret",
        "create_run",
        "transition",
        "append_event",
        "put_artifact",
        "put_screenshot",
        "put_dom",
        "finish_run",
        "get_run",
    ):
        assert callable(getattr(sink, name))


def test_open_from_settings_uses_data_dir_or_location(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    with EvidenceStore.open(settings) as store:
        assert store.root == tmp_path / "var" / "evidence"
    settings.evidence.location = tmp_path / "elsewhere"
    with EvidenceStore.open(settings) as store:
        assert (tmp_path / "elsewhere" / "evidence.db").is_file()
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_create_run_starts_pending_with_a_run_created_event(store: EvidenceStore) -> None:
    run = new_run(store, account="lead@shoplane.test")
    assert run.state is RunState.PENDING
    assert store.get_run(run.run_id) == run
    [created] = store.events(run.run_id)
    assert created.kind == "run_created" and created.seq == 1 and created.prev_hash == GENESIS
    assert created.data["inputs"] == {"order_id": "2611ABCDEFGHIJ"}


def test_events_form_a_hash_chain(store: EvidenceStore) -> None:
    run = new_run(store)
    store.append_event(run.run_id, "step_started", {"step": 1, "type": "goto"})
    store.record(run.run_id, PageReviewed(url="http://x/1"))
    events = store.events(run.run_id)
    assert [e.seq for e in events] == [1, 2, 3]
    prev = GENESIS
    for e in events:
        assert e.prev_hash == prev
        payload = event_payload(e.run_id, e.seq, e.kind, e.data, e.artifacts, e.at)
        assert e.hash == event_hash(prev, payload)
        prev = e.hash


def test_transition_is_compare_and_set_with_an_event(store: EvidenceStore) -> None:
    run = new_run(store)
    assert store.transition(run.run_id, RunState.PENDING, RunState.RUNNING, reason="start")
    assert not store.transition(run.run_id, RunState.PENDING, RunState.RUNNING)
    assert store.get_run(run.run_id).state is RunState.RUNNING
    changes = [e for e in store.events(run.run_id) if e.kind == "state_changed"]
    assert len(changes) == 1
    assert changes[0].data == {"from_state": "pending", "to_state": "running", "reason": "start"}


def test_illegal_transition_raises_and_records_nothing(store: EvidenceStore) -> None:
    run = new_run(store)
    with pytest.raises(IllegalTransition, match="pending to done"):
        store.transition(run.run_id, RunState.PENDING, RunState.DONE)
    assert len(store.events(run.run_id)) == 1


def test_unknown_run_is_an_evidence_error(store: EvidenceStore) -> None:
    with pytest.raises(EvidenceError, match="no run"):
        store.get_run("nope")
    with pytest.raises(EvidenceError, match="no run"):
        store.append_event("nope", "step_started", {})
    with pytest.raises(EvidenceError, match="no run"):
        store.transition("nope", RunState.PENDING, RunState.RUNNING)


def test_typed_events_are_validated(store: EvidenceStore) -> None:
    run = new_run(store)
    with pytest.raises(EvidenceError, match="missing field 'url'"):
        store.append_event(run.run_id, "page_reviewed", {"title": "x"})
    with pytest.raises(EvidenceError, match="unknown field"):
        store.append_event(
            run.run_id, "knowledge_used", {"document_id": "d", "version": "1", "colour": "red"}
        )
    with pytest.raises(EvidenceError, match="'version' should be"):
        store.append_event(run.run_id, "knowledge_used", {"document_id": "d", "version": 3})
    with pytest.raises(EvidenceError, match="snake_case"):
        store.append_event(run.run_id, "Bad Kind", {})
    with pytest.raises(EvidenceError, match="not storable as JSON"):
        store.append_event(run.run_id, "step_finished", {"x": object()})
    assert len(store.events(run.run_id)) == 1

    call = {"purpose": "ai_extract (step 3)", "model": "m", "endpoint": "http://127.0.0.1/v1",
            "outcome": "ok", "messages": [{"role": "user", "content": "…"}], "tokens_in": 12,
            "tokens_out": 3, "cost": "0.0001", "duration_ms": 41.5}  # fmt: skip
    with pytest.raises(EvidenceError, match="missing field 'messages'"):
        store.append_event(
            run.run_id, "llm_call", {k: v for k, v in call.items() if k != "messages"}
        )
    with pytest.raises(EvidenceError, match="unknown field"):
        store.append_event(run.run_id, "llm_call", {**call, "api_key": "sk-…"})
    with pytest.raises(EvidenceError, match="'tokens_in' should be"):
        store.append_event(run.run_id, "llm_call", {**call, "tokens_in": "12"})
    store.append_event(run.run_id, "llm_call", call)
    assert [e.kind for e in store.events(run.run_id)][-1] == "llm_call"


def test_events_cannot_be_updated_or_deleted(store: EvidenceStore) -> None:
    run = new_run(store)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("UPDATE events SET kind = 'x' WHERE run_id = ?", [run.run_id])
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("DELETE FROM events WHERE run_id = ?", [run.run_id])


def test_artifacts_are_content_addressed_and_deduplicated(store: EvidenceStore) -> None:
    a = store.put_artifact(b"hello", kind="log", media_type="text/plain")
    b = store.put_artifact(b"hello", kind="log", media_type="text/plain")
    assert a == b
    path = store.root / a.path
    assert path.read_bytes() == b"hello"
    assert not os.access(path, os.W_OK) or os.geteuid() == 0
    assert list((store.root / "tmp").iterdir()) == []
    assert store.db.execute("SELECT COUNT(*) FROM artifacts").fetchone()[0] == 1


def test_event_needs_its_artifacts_stored_first(store: EvidenceStore) -> None:
    from evidence.api import ArtifactRef

    run = new_run(store)
    ghost = ArtifactRef("f" * 64, "screenshot", "image/png", 1, "objects/ff/" + "f" * 64)
    with pytest.raises(EvidenceError, match="unknown artifact"):
        store.append_event(run.run_id, "step_finished", {}, [ghost])


def test_screenshots_store_original_annotated_and_thumbnail(store: EvidenceStore) -> None:
    png = make_png()
    plain = store.put_screenshot(png)
    assert [r.kind for r in plain] == ["screenshot", "thumbnail"]
    assert store.read_artifact(plain[0].sha256) == png  # PNG kept byte for byte
    marked = store.put_screenshot(png, highlight=(20, 100, 120, 30))
    assert [r.kind for r in marked] == ["screenshot", "screenshot_annotated", "thumbnail"]


def test_webp_screenshots(tmp_path: Path) -> None:
    import io

    from PIL import Image

    settings = EvidenceSettings(screenshot_format="webp", thumbnail_size=100)
    with EvidenceStore(tmp_path / "ev", settings) as store:
        refs = store.put_screenshot(make_png(), highlight=(20, 100, 120, 30))
        assert {r.media_type for r in refs} == {"image/webp"}
        thumb = Image.open(io.BytesIO(store.read_artifact(refs[-1].sha256)))
        assert thumb.format == "WEBP" and max(thumb.size) == 100


def test_not_an_image_is_an_evidence_error(store: EvidenceStore) -> None:
    with pytest.raises(EvidenceError, match="not a readable image"):
        store.put_screenshot(b"not a png")


def test_finish_run_writes_a_manifest_with_a_root_hash(store: EvidenceStore) -> None:
    run = full_run(store)
    manifest = store.manifest(run.run_id)
    assert manifest is not None
    events = store.events(run.run_id)
    assert manifest["event_count"] == len(events)
    assert manifest["head_hash"] == events[-1].hash
    assert len(manifest["root_hash"]) == 64
    assert run.outputs == {"refund_id": "R-1"}
    assert store.verify([run.run_id]).ok


def test_the_six_questions_are_in_the_trail(store: EvidenceStore) -> None:
    run = full_run(store)
    kinds = [e.kind for e in store.events(run.run_id)]
    for kind in (
        "customer_asked",
        "knowledge_used",
        "agent_suggested",
        "page_reviewed",
        "gate_opened",
        "approved",
        "action_done",
        "reply_sent",
    ):
        assert kind in kinds
    asked = next(e for e in store.events(run.run_id) if e.kind == "customer_asked")
    assert asked.data == {"channel": "whatsapp", "ask": "Where is my refund for 2611?"}


def test_gates_and_approvals(store: EvidenceStore) -> None:
    run = full_run(store)
    [gate] = store.list_gates(run_id=run.run_id)
    assert gate.state == "used" and gate.binds == {"order_id": "2611", "amount": "12.50"}
    other = store.record_gate(run.run_id, action="note", summary="s", binds={})
    assert store.gate_transition(other.gate_id, "pending", "approved")
    assert not store.gate_transition(other.gate_id, "pending", "approved")
    with pytest.raises(EvidenceError, match="cannot go from used"):
        store.gate_transition(gate.gate_id, "used", "pending")
    [approval] = store.approvals(gate.gate_id)
    assert approval.approver == "sam" and approval.bind_hash == gate.bind_hash


def test_cases(store: EvidenceStore) -> None:
    store.open_case("T-9", channel="email", ask="cancel my order")
    case = store.open_case("T-9", channel="tiktok", ask="something else")
    assert (case.channel, case.ask, case.status) == ("email", "cancel my order", "open")
    assert store.close_case("T-9").status == "closed"
    run = new_run(store, case_id="T-NEW")  # a run may name a case nobody opened yet
    assert store.get_case("T-NEW").status == "open"
    assert store.list_runs(case_id="T-NEW")[0].run_id == run.run_id


def test_reopening_a_store_keeps_everything(store_dir: Path) -> None:
    with EvidenceStore(store_dir) as first:
        run = full_run(first)
    with EvidenceStore(store_dir) as second:
        assert second.get_run(run.run_id).state is RunState.DONE
        assert second.verify().ok


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_any_json_data_round_trips_and_verifies(store: EvidenceStore, data: dict) -> None:
    run = new_run(store)
    written = store.append_event(run.run_id, "step_finished", data)
    [read] = [e for e in store.events(run.run_id) if e.seq == written.seq]
    assert read == written
    assert store.verify([run.run_id]).ok


def test_lone_surrogates_are_replaced_not_fatal(store: EvidenceStore) -> None:
    run = new_run(store)
    event = store.append_event(run.run_id, "step_finished", {"text\ud800": "a\udc00b"})
    assert event.data == {"text\ufffd": "a\ufffdb"}
    assert store.verify([run.run_id]).ok


def test_a_store_from_a_newer_version_is_refused(store_dir: Path) -> None:
    with EvidenceStore(store_dir) as store:
        store.db.execute("PRAGMA user_version = 999")
    with pytest.raises(EvidenceError, match="newer Aijia"):
        EvidenceStore(store_dir)


def test_migrations_run_once(store_dir: Path) -> None:
    from evidence.migrations import MIGRATIONS

    for _ in range(2):
        with EvidenceStore(store_dir) as store:
            assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
            assert {
                "runs",
                "events",
                "artifacts",
                "cases",
                "gates",
                "approvals",
                "manifests",
                "prunes",
                "event_artifacts",
            } <= set(store.db.table_names())
