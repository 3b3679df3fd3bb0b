"""The commit phase after approval: re-verify binds, commit once, drift, in_doubt."""

from __future__ import annotations

from typing import Any

import pytest

from agent.core.errors import GateError
from agent.core.states import RunState
from agent.engine.commit import resume_run
from agent.engine.prepare import RunResult, run_recipe
from agent.recipes.model import load_recipe
from tests.engine.conftest import RECIPES

REFUND = RECIPES / "local" / "prepare_refund.yaml"


@pytest.fixture
def paused(run, chromium, settings, store, local_site) -> RunResult:
    result = run(
        run_recipe(
            load_recipe(REFUND),
            {"order_id": "A100000000001", "amount": 12.5},
            settings=settings,
            store=store,
            browser=chromium,
        )
    )
    assert result.state is RunState.PAUSED, result.error
    # what the approval machinery (a later piece) does once the approvals are valid:
    assert store.transition(result.run_id, RunState.PAUSED, RunState.APPROVED)
    return result


def resume(
    run: Any, chromium: Any, settings: Any, store: Any, run_id: str, binds: dict[str, Any]
) -> RunResult:
    return run(
        resume_run(
            load_recipe(REFUND),
            run_id,
            approved_binds=binds,
            settings=settings,
            store=store,
            browser=chromium,
        )
    )


def test_commit_runs_once_after_approval(run, chromium, settings, store, local_site, paused):
    assert paused.gate is not None
    result = resume(run, chromium, settings, store, paused.run_id, paused.gate.binds)
    assert result.state is RunState.DONE, result.error
    assert local_site.state.refunds == [{"amount": "12.5", "reason": "damaged"}]
    kinds = [e.kind for e in store.events(paused.run_id)]
    assert kinds.index("resume_started") < kinds.index("action_done")
    assert store.get_run(paused.run_id).state is RunState.DONE
    with pytest.raises(GateError, match="not approved"):
        resume(run, chromium, settings, store, paused.run_id, paused.gate.binds)
    assert len(local_site.state.refunds) == 1


def test_drift_pauses_again_with_the_difference(run, chromium, settings, store, local_site, paused):
    assert paused.gate is not None
    approved = {**paused.gate.binds, "status": "Shipped"}  # the page says Paid now
    result = resume(run, chromium, settings, store, paused.run_id, approved)
    assert result.state is RunState.PAUSED and result.pause_reason == "drift"
    assert "status: 'Shipped' -> 'Paid'" in (result.error or "")
    assert result.gate is not None and result.gate.gate_id != paused.gate.gate_id
    assert local_site.state.refunds == []
    assert store.get_run(paused.run_id).state is RunState.PAUSED


def test_failure_after_the_submit_leaves_the_run_in_doubt(
    run, chromium, settings, store, local_site, paused
):
    assert paused.gate is not None
    local_site.state.refund_fails = True
    result = resume(run, chromium, settings, store, paused.run_id, paused.gate.binds)
    assert result.state is RunState.IN_DOUBT
    assert "HTTP 500" in (result.error or "")
    posts = [r for r in local_site.state.requests if r.endswith("/refund")]
    assert len(posts) == 1  # never retried
    assert store.get_run(paused.run_id).state is RunState.IN_DOUBT


def test_reconcile_reads_without_changing_state(
    run, chromium, settings, store, local_site, paused, tmp_path
):
    from agent.engine.commit import reconcile_run

    folder = tmp_path / "local"
    folder.mkdir()
    for name in ("login.yaml", "prepare_refund.yaml"):
        (folder / name).write_text((RECIPES / "local" / name).read_text())
    recipe_file = folder / "prepare_refund.yaml"
    recipe_file.write_text(
        recipe_file.read_text()
        + (
            "reconcile:\n"
            "  - goto: /orders/{{ inputs.order_id }}\n"
            "  - extract: {status: {label: Status}}\n"
        )
    )
    found = run(
        reconcile_run(
            load_recipe(recipe_file),
            paused.run_id,
            settings=settings,
            store=store,
            browser=chromium,
        )
    )
    assert found == {"status": "Paid"}
    assert store.get_run(paused.run_id).state is RunState.APPROVED
    assert local_site.state.refunds == []
