"""When a run's workflow fails outright (a phase failed past its retries, a non-retryable
error, the workflow was terminated or timed out): the run's store state says so.

    close_after_workflow_failure(store, run_id, "SecretError: …")

A run that had not reached its gate (pending, running) or waits at one (paused) is closed as
failed with the workflow's error: nothing will execute or wake it any more. A run whose
commit is approved, under way or in doubt keeps its state (never closed blindly: a person
resumes or reconciles it); its trail records the failure either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.core.states import TERMINAL, RunState

if TYPE_CHECKING:
    from evidence.store import EvidenceStore

WORKFLOW_FAILED = "workflow_failed"  # event: the run's workflow ended with an error
CLOSABLE = (RunState.PENDING, RunState.RUNNING, RunState.PAUSED)


def close_after_workflow_failure(store: EvidenceStore, run_id: str, error: str) -> RunState:
    """Record the workflow's `error` in the run's trail and close the run as failed when
    nothing else will act on it; returns the run's state afterwards."""
    from agent.engine.prepare import close_failed

    state = store.get_run(run_id).state
    if state in TERMINAL:
        return state  # it ended before its workflow did (e.g. a refused prepare closed it)
    message = f"its workflow failed: {error}"
    store.append_event(run_id, WORKFLOW_FAILED, {"error": error, "state": state.value})
    if state in CLOSABLE:
        close_failed(store, run_id, state, message)
    return store.get_run(run_id).state
