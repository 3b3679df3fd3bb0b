"""The commit phase after approval: re-verify binds, commit once, drift, in_doubt, reconcile.
Through the facade: `tester` prepares, `reviewer` approves and resumes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent import AsyncAijia, RunResult
from agent.core.errors import GateError
from agent.core.states import RunState
from agent.recipes.model import load_recipe
from tests.engine import site
from tests.engine.conftest import RECIPES, RUNNER

REFUND = RECIPES / "local" / "prepare_refund.yaml"
ORDER = "A100000000001"


def prepare_and_approve(run: Any, aijia: AsyncAijia, recipe: Path = REFUND) -> RunResult:
    result: RunResult = run(
        aijia.run(load_recipe(recipe), {"order_id": ORDER, "amount": 12.5}, as_user=RUNNER)
    )
    assert result.state is RunState.PAUSED and result.gate is not None, result.error
    assert result.gate.gate_id is not None
    decision = run(aijia.approve(result.gate.gate_id, as_user="reviewer"))
    assert decision.complete
    return result


@pytest.fixture
def paused(run, aijia, local_site) -> RunResult:
    """A prepared refund, approved by `reviewer` (the run is `approved`, nothing committed)."""
    return prepare_and_approve(run, aijia)


def resume(run: Any, aijia: AsyncAijia, run_id: str | None) -> RunResult:
    assert run_id is not None
    return run(aijia.resume(run_id, as_user="reviewer"))


def test_commit_runs_once_after_approval(run, aijia, store, local_site, paused):
    assert store.get_run(paused.run_id).state is RunState.APPROVED
    result = resume(run, aijia, paused.run_id)
    assert result.state is RunState.DONE, result.error
    assert local_site.state.refunds == [{"amount": "12.5", "reason": "damaged"}]
    kinds = [e.kind for e in store.events(paused.run_id)]
    assert kinds.index("resume_started") < kinds.index("action_done")
    assert store.get_run(paused.run_id).state is RunState.DONE
    with pytest.raises(GateError, match="not approved"):
        resume(run, aijia, paused.run_id)
    assert len(local_site.state.refunds) == 1


def test_drift_pauses_again_with_the_difference(run, aijia, store, local_site, paused, monkeypatch):
    assert paused.gate is not None
    monkeypatch.setitem(site.ORDERS[ORDER], "status", "Shipped")  # changed since approval
    result = resume(run, aijia, paused.run_id)
    assert result.state is RunState.PAUSED and result.pause_reason == "drift"
    assert "status: 'Paid' -> 'Shipped'" in (result.error or "")
    assert result.gate is not None and result.gate.gate_id != paused.gate.gate_id
    assert local_site.state.refunds == []
    assert store.get_run(paused.run_id).state is RunState.PAUSED


def test_failure_after_the_submit_leaves_the_run_in_doubt(run, aijia, store, local_site, paused):
    local_site.state.refund_fails = True
    result = resume(run, aijia, paused.run_id)
    assert result.state is RunState.IN_DOUBT
    assert "HTTP 500" in (result.error or "")
    posts = [r for r in local_site.state.requests if r.endswith("/refund")]
    assert len(posts) == 1  # never retried
    assert store.get_run(paused.run_id).state is RunState.IN_DOUBT
    with pytest.raises(GateError, match="never retry blindly"):
        resume(run, aijia, paused.run_id)
    assert len([r for r in local_site.state.requests if r.endswith("/refund")]) == 1


@pytest.fixture
def reconciling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The local recipes, prepare_refund with read-only `reconcile` steps that decide whether
    the refund happened (the local back office shows it as the order's status)."""
    folder = tmp_path / "recipes" / "local"
    folder.mkdir(parents=True)
    for name in ("login.yaml", "prepare_refund.yaml"):
        (folder / name).write_text((RECIPES / "local" / name).read_text())
    recipe_file = folder / "prepare_refund.yaml"
    recipe_file.write_text(
        recipe_file.read_text()
        + (
            "reconcile:\n"
            "  - goto: /orders/{{ inputs.order_id }}\n"
            "  - extract: {status: {label: Status}}\n"
            "  - set: {committed: \"{{ status == 'Refunded' }}\"}\n"
        )
    )
    monkeypatch.setenv("AIJIA_RECIPES", str(folder.parent))  # where resume finds the recipe
    return recipe_file


def test_reconcile_reads_without_changing_the_back_office_and_the_approval_holds(
    run, aijia, store, local_site, reconciling
):
    paused = prepare_and_approve(run, aijia, reconciling)
    local_site.state.refund_fails = True
    assert resume(run, aijia, paused.run_id).state is RunState.IN_DOUBT
    local_site.state.refund_fails = False
    assert paused.run_id is not None
    outcome = run(aijia.reconcile(paused.run_id, as_user="supervisor"))
    assert outcome.values == {"status": "Paid", "committed": False}
    assert (outcome.state, outcome.committed) == (RunState.APPROVED, False)
    assert store.get_run(paused.run_id).state is RunState.APPROVED
    assert local_site.state.refunds == []
    assert "reconcile_finished" in [e.kind for e in store.events(paused.run_id)]
    # it did not happen: the approval still holds and a resume commits it once
    done = resume(run, aijia, paused.run_id)
    assert done.state is RunState.DONE, done.error
    assert len(local_site.state.refunds) == 1


def test_reconcile_that_finds_the_action_closes_the_run_done(
    run, aijia, store, local_site, reconciling, monkeypatch
):
    paused = prepare_and_approve(run, aijia, reconciling)
    local_site.state.refund_fails = True
    assert resume(run, aijia, paused.run_id).state is RunState.IN_DOUBT
    monkeypatch.setitem(site.ORDERS[ORDER], "status", "Refunded")  # it went through after all
    assert paused.run_id is not None and paused.gate is not None
    outcome = run(aijia.reconcile(paused.run_id, as_user="supervisor"))
    assert (outcome.state, outcome.committed) == (RunState.DONE, True)
    assert store.get_run(paused.run_id).state is RunState.DONE
    assert store.get_gate(str(paused.gate.gate_id)).state == "used"
    with pytest.raises(GateError, match="is done, not approved"):
        resume(run, aijia, paused.run_id)
    assert len([r for r in local_site.state.requests if r.endswith("/refund")]) == 1
