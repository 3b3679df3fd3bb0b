"""The runner end to end against the local back office: real Chromium, real HTTP, real store.
Runs start through the facade (`AsyncAijia.run`, as the test policy's `tester`)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from agent import AsyncAijia, RunResult
from agent.core.errors import InputError, SecretError
from agent.core.states import RunState
from agent.recipes.model import load_recipe
from tests.conftest import TEST_USERS, aijia_for
from tests.engine.conftest import RECIPES, RUNNER
from tests.engine.site import PASSWORD

LOCAL = RECIPES / "local"


def kinds(store: Any, run_id: str | None) -> list[str]:
    return [e.kind for e in store.events(run_id)]


def lookup(run: Any, aijia: AsyncAijia, order_id: str) -> RunResult:
    recipe = load_recipe(LOCAL / "lookup_order.yaml")
    return run(aijia.run(recipe, {"order_id": order_id}, as_user=RUNNER))


def test_lookup_order_logs_in_extracts_and_finishes(run, aijia, settings, store, local_site):
    result = lookup(run, aijia, "A100000000001")
    assert result.state is RunState.DONE, result.error
    out = result.outputs
    assert out["status"] == "Paid"
    assert out["refundable"] == {"amount": 25.0, "currency": "USD"}
    assert out["placed"] == "2026-11-20"
    assert out["tags"] == ["gift", "express"]
    assert out["note"] == "none"
    assert out["items"][0] == {
        "sku": "SKU-1",
        "qty": 2,
        "price": {"amount": 10.0, "currency": "USD"},
    }
    assert out["item_count"] == 2
    assert store.get_run(result.run_id).state is RunState.DONE
    events = kinds(store, result.run_id)
    assert "session_login" in events and "session_saved" in events
    # step_started only before steps that may act (the clicks here); every step finishes
    assert events.count("step_started") == 2 and events.count("step_finished") == 10
    finished = [e.data for e in store.events(result.run_id) if e.kind == "step_finished"]
    assert all({"started_at", "duration_ms", "url", "outcome"} <= set(d) for d in finished)
    assert "page_captured" in events
    reviewed = [e.data for e in store.events(result.run_id) if e.kind == "page_reviewed"]
    assert reviewed[0]["extracted"]["status"] == "Paid" and reviewed[0]["step"] == 3
    # the session file is private and the password never reached the store
    session = next((settings.data_dir / "sessions").glob("*.json"))
    assert stat.S_IMODE(session.stat().st_mode) == 0o600
    db = (settings.data_dir / "evidence" / "evidence.db").read_bytes()
    assert PASSWORD.encode() not in db


def test_saved_session_is_reused_then_expiry_triggers_one_relogin(run, aijia, store, local_site):
    first = lookup(run, aijia, "A100000000001")
    assert first.state is RunState.DONE
    logins = local_site.state.requests.count("POST /login")
    second = lookup(run, aijia, "A100000000002")
    assert second.state is RunState.DONE, second.error
    assert local_site.state.requests.count("POST /login") == logins  # reused
    assert "session_reused" in kinds(store, second.run_id)
    local_site.expire_sessions()
    third = lookup(run, aijia, "A100000000001")
    assert third.state is RunState.DONE, third.error
    assert local_site.state.requests.count("POST /login") == logins + 1
    assert "session_expired" in kinds(store, third.run_id)


def test_prepare_refund_pauses_at_the_gate_without_submitting(run, aijia, store, local_site):
    recipe = load_recipe(LOCAL / "prepare_refund.yaml")
    result = run(aijia.run(recipe, {"order_id": "A100000000001", "amount": "12.5"}, as_user=RUNNER))
    assert result.state is RunState.PAUSED, result.error
    assert result.exit_code == 3
    assert result.gate is not None
    assert result.gate.step_index == 8
    assert result.gate.summary == "Refund 12.5 USD on A100000000001"
    assert result.gate.binds == {"order_id": "A100000000001", "amount": 12.5, "status": "Paid"}
    assert result.gate.gate_id and result.gate.bind_hash
    assert store.get_run(result.run_id).state is RunState.PAUSED
    assert local_site.state.refunds == []  # nothing was submitted
    assert not any(r.startswith("POST /orders") for r in local_site.state.requests)
    assert "gate_opened" in kinds(store, result.run_id)
    initiated = [e.data for e in store.events(result.run_id) if e.kind == "run_initiated"]
    assert [i["user"] for i in initiated] == [RUNNER]


def test_dry_run_stops_before_the_gate_and_finishes(run, aijia, local_site):
    recipe = load_recipe(LOCAL / "prepare_refund.yaml")
    result = run(
        aijia.run(recipe, {"order_id": "A100000000001", "amount": 3}, as_user=RUNNER, dry_run=True)
    )
    assert result.state is RunState.DONE, result.error
    assert result.dry_run and result.gate is not None and result.gate.gate_id is None
    assert local_site.state.refunds == []


def test_failed_expectation_names_step_expected_and_seen(run, aijia, store, local_site):
    recipe = load_recipe(LOCAL / "prepare_refund.yaml")
    result = run(aijia.run(recipe, {"order_id": "A100000000002", "amount": 1}, as_user=RUNNER))
    assert result.state is RunState.FAILED
    assert result.exit_code == 1
    assert result.error_step == "3"
    assert "prepare_refund.yaml:14:5" in result.error
    assert "the order is already refunded" in result.error
    assert "status = 'Refunded'" in result.error
    events = store.events(result.run_id)
    failure = [e for e in events if e.kind == "failure_captured"]
    assert failure and len(failure[0].artifacts) >= 2  # screenshot (+thumbnail) and DOM
    assert store.get_run(result.run_id).state is RunState.FAILED


def test_missing_secret_refuses_before_any_run_or_browser(run, settings, store, monkeypatch):
    monkeypatch.delenv("AIJIA_TEST_PASSWORD")
    # a Chromium that cannot start: a launch would be a BrowserError, not the SecretError
    monkeypatch.setenv("AIJIA_BROWSER", "/nonexistent/chromium")
    aijia = aijia_for(settings, store, None, users=TEST_USERS)
    recipe = load_recipe(LOCAL / "lookup_order.yaml")
    with pytest.raises(SecretError) as info:
        run(aijia.run(recipe, {"order_id": "A100000000001"}, as_user=RUNNER))
    run(aijia.close())
    assert "{$env: AIJIA_TEST_PASSWORD}" in str(info.value)
    assert "site local" in str(info.value)
    assert store.list_runs() == []


def test_batch_keeps_going_when_rows_fail(run, aijia, store, local_site):
    recipe = load_recipe(LOCAL / "lookup_order.yaml")
    rows = [
        {"order_id": "A100000000001"},
        {"order_id": "A100000000003"},  # valid, but the back office has no such order
        {"order_id": "A100000000002"},
    ]
    seen: list[Any] = []
    results = run(
        aijia.run_batch(recipe, rows, as_user=RUNNER, concurrency=2, on_result=seen.append)
    )
    assert [r.row for r in results] == [1, 2, 3]
    assert [r.state for r in results] == [RunState.DONE, RunState.FAILED, RunState.DONE]
    assert results[1].run_id is not None and "matched nothing" in results[1].error
    assert results[1].exit_code == 1
    assert len(seen) == 3
    assert local_site.state.requests.count("POST /login") == 1  # the batch logs in once
    initiators = {
        e.data["user"] for r in results for e in store.events(r.run_id) if e.kind == "run_initiated"
    }
    assert initiators == {RUNNER}


def test_an_invalid_row_refuses_the_whole_batch_before_any_run(run, aijia, store, local_site):
    recipe = load_recipe(LOCAL / "lookup_order.yaml")
    rows = [{"order_id": "A100000000001"}, {"order_id": "bad"}, {"order_id": "A100000000002"}]
    with pytest.raises(InputError, match="1 of 3 rows are invalid; nothing was run") as info:
        run(aijia.run_batch(recipe, rows, as_user=RUNNER, concurrency=2))
    assert "row 2" in str(info.value)
    assert store.list_runs() == []
    assert local_site.state.requests == []


def test_session_file_mode(settings: Any) -> None:
    from agent.browser.sessions import SessionStore

    path = SessionStore(settings.data_dir).save("local", "a@b", {"cookies": []})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(Path(path).parent).st_mode) == 0o700


def test_capture_policy_on_action_captures_after_clicks(run, aijia, settings, store, local_site):
    settings.evidence.capture = "on_action"
    result = lookup(run, aijia, "A100000000001")
    assert result.state is RunState.DONE, result.error
    captured = [e for e in store.events(result.run_id) if e.kind == "page_captured"]
    labels = [e.data["label"] for e in captured]
    assert "after step 2" in labels  # the click on the order link
    assert all(e.artifacts for e in captured)


def test_stale_saved_session_is_caught_on_landing_and_replaced(
    run, aijia, chromium, settings, store, local_site
):
    """No check before use (it would cost a page load per run): the first page shows the
    login form, the runner logs in again and repeats the steps."""
    first = lookup(run, aijia, "A100000000001")
    assert first.state is RunState.DONE, first.error
    session = next((settings.data_dir / "sessions").glob("*.json"))
    old = session.stat().st_mtime - 120
    os.utime(session, (old, old))  # saved two minutes ago
    local_site.expire_sessions()
    # a new process: only the file says when the session was saved
    later = aijia_for(settings, store, chromium)
    second = lookup(run, later, "A100000000001")
    run(later.close())
    assert second.state is RunState.DONE, second.error
    kinds = [e.kind for e in store.events(second.run_id)]
    assert kinds.index("session_reused") < kinds.index("session_expired")
    expired = [e.data for e in store.events(second.run_id) if e.kind == "session_expired"]
    assert expired[0]["mid_run"] is True
    assert session.stat().st_mtime > old + 60  # saved again
