"""The runner end to end against the local back office: real Chromium, real HTTP, real store."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from agent.core.errors import SecretError
from agent.core.states import RunState
from agent.engine.prepare import run_batch, run_recipe
from agent.recipes.model import load_recipe
from tests.engine.conftest import RECIPES
from tests.engine.site import PASSWORD

LOCAL = RECIPES / "local"


def kinds(store: Any, run_id: str) -> list[str]:
    return [e.kind for e in store.events(run_id)]


def test_lookup_order_logs_in_extracts_and_finishes(run, chromium, settings, store, local_site):
    recipe = load_recipe(LOCAL / "lookup_order.yaml")
    result = run(
        run_recipe(
            recipe, {"order_id": "A100000000001"}, settings=settings, store=store, browser=chromium
        )
    )
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


def test_saved_session_is_reused_then_expiry_triggers_one_relogin(
    run, chromium, settings, store, local_site
):
    recipe = load_recipe(LOCAL / "lookup_order.yaml")
    first = run(
        run_recipe(
            recipe, {"order_id": "A100000000001"}, settings=settings, store=store, browser=chromium
        )
    )
    assert first.state is RunState.DONE
    logins = local_site.state.requests.count("POST /login")
    second = run(
        run_recipe(
            recipe, {"order_id": "A100000000002"}, settings=settings, store=store, browser=chromium
        )
    )
    assert second.state is RunState.DONE, second.error
    assert local_site.state.requests.count("POST /login") == logins  # reused
    assert "session_reused" in kinds(store, second.run_id)
    local_site.expire_sessions()
    third = run(
        run_recipe(
            recipe, {"order_id": "A100000000001"}, settings=settings, store=store, browser=chromium
        )
    )
    assert third.state is RunState.DONE, third.error
    assert local_site.state.requests.count("POST /login") == logins + 1
    assert "session_expired" in kinds(store, third.run_id)


def test_prepare_refund_pauses_at_the_gate_without_submitting(
    run, chromium, settings, store, local_site
):
    recipe = load_recipe(LOCAL / "prepare_refund.yaml")
    result = run(
        run_recipe(
            recipe,
            {"order_id": "A100000000001", "amount": "12.5"},
            settings=settings,
            store=store,
            browser=chromium,
        )
    )
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


def test_dry_run_stops_before_the_gate_and_finishes(run, chromium, settings, store, local_site):
    recipe = load_recipe(LOCAL / "prepare_refund.yaml")
    result = run(
        run_recipe(
            recipe,
            {"order_id": "A100000000001", "amount": 3},
            settings=settings,
            store=store,
            browser=chromium,
            dry_run=True,
        )
    )
    assert result.state is RunState.DONE, result.error
    assert result.dry_run and result.gate is not None and result.gate.gate_id is None
    assert local_site.state.refunds == []


def test_failed_expectation_names_step_expected_and_seen(
    run, chromium, settings, store, local_site
):
    recipe = load_recipe(LOCAL / "prepare_refund.yaml")
    result = run(
        run_recipe(
            recipe,
            {"order_id": "A100000000002", "amount": 1},
            settings=settings,
            store=store,
            browser=chromium,
        )
    )
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


def test_missing_secret_refuses_before_any_run_or_browser(settings, store, monkeypatch):
    monkeypatch.delenv("AIJIA_TEST_PASSWORD")
    recipe = load_recipe(LOCAL / "lookup_order.yaml")
    import asyncio

    with pytest.raises(SecretError) as info:
        asyncio.run(
            run_recipe(
                recipe, {"order_id": "A100000000001"}, settings=settings, store=store, browser=None
            )
        )
    assert "{$env: AIJIA_TEST_PASSWORD}" in str(info.value)
    assert "site local" in str(info.value)
    assert store.list_runs() == []


def test_batch_keeps_going_when_rows_fail(run, chromium, settings, store, local_site):
    recipe = load_recipe(LOCAL / "lookup_order.yaml")
    rows = [
        {"order_id": "A100000000001"},
        {"order_id": "bad"},
        {"order_id": "A100000000003"},
        {"order_id": "A100000000002"},
    ]
    seen: list[Any] = []
    results = run(
        run_batch(
            recipe,
            rows,
            settings=settings,
            store=store,
            concurrency=2,
            progress_callback=seen.append,
            browser=chromium,
        )
    )
    assert [r.row for r in results] == [1, 2, 3, 4]
    assert [r.state for r in results] == [
        RunState.DONE,
        RunState.FAILED,
        RunState.FAILED,
        RunState.DONE,
    ]
    assert results[1].run_id is None and results[1].exit_code == 2  # refused input
    assert "row 2" in results[1].error
    assert results[2].run_id is not None and "matched nothing" in results[2].error
    assert len(seen) == 4
    assert local_site.state.requests.count("POST /login") == 1  # the batch logs in once


def test_session_file_mode(settings: Any) -> None:
    from agent.browser.sessions import SessionStore

    path = SessionStore(settings.data_dir).save("local", "a@b", {"cookies": []})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(Path(path).parent).st_mode) == 0o700


def test_capture_policy_on_action_captures_after_clicks(run, chromium, settings, store, local_site):
    settings.evidence.capture = "on_action"
    recipe = load_recipe(LOCAL / "lookup_order.yaml")
    result = run(
        run_recipe(
            recipe, {"order_id": "A100000000001"}, settings=settings, store=store, browser=chromium
        )
    )
    assert result.state is RunState.DONE, result.error
    captured = [e for e in store.events(result.run_id) if e.kind == "page_captured"]
    labels = [e.data["label"] for e in captured]
    assert "after step 2" in labels  # the click on the order link
    assert all(e.artifacts for e in captured)


def test_stale_saved_session_is_checked_and_replaced(run, chromium, settings, store, local_site):
    recipe = load_recipe(LOCAL / "lookup_order.yaml")
    first = run(
        run_recipe(
            recipe, {"order_id": "A100000000001"}, settings=settings, store=store, browser=chromium
        )
    )
    assert first.state is RunState.DONE, first.error
    session = next((settings.data_dir / "sessions").glob("*.json"))
    old = session.stat().st_mtime - 120
    os.utime(session, (old, old))  # saved two minutes ago: checked before use
    local_site.expire_sessions()
    second = run(
        run_recipe(
            recipe, {"order_id": "A100000000001"}, settings=settings, store=store, browser=chromium
        )
    )
    assert second.state is RunState.DONE, second.error
    expired = [e.data for e in store.events(second.run_id) if e.kind == "session_expired"]
    assert expired and "mid_run" not in expired[0]
    assert session.stat().st_mtime > old + 60  # saved again
