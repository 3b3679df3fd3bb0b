"""The life of a run, as a small state machine.

Transitions happen only through `check_transition`; the evidence store applies them with a
compare-and-set so that two processes never move the same run twice.
"""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    PENDING = "pending"  # created, inputs bound, no browser work yet
    RUNNING = "running"  # prepare phase in progress (must not change the back office)
    PAUSED = "paused"  # stopped at a gate or a handoff, browser released, waiting for a human
    APPROVED = "approved"  # a reviewer approved the bound action; waiting to be resumed
    COMMITTING = "committing"  # the held commit request was released: the site may be changing
    DONE = "done"  # finished; outputs recorded
    FAILED = "failed"  # a step failed; evidence of the failure page kept
    REJECTED = "rejected"  # a reviewer rejected the gate; nothing was committed
    EXPIRED = "expired"  # the gate or its approval expired before commit
    IN_DOUBT = "in_doubt"  # died during commit; needs `aijia runs reconcile`, never a blind retry


TERMINAL = frozenset({RunState.DONE, RunState.FAILED, RunState.REJECTED, RunState.EXPIRED})

_ALLOWED: dict[RunState, frozenset[RunState]] = {
    RunState.PENDING: frozenset({RunState.RUNNING, RunState.FAILED}),
    RunState.RUNNING: frozenset({RunState.PAUSED, RunState.DONE, RunState.FAILED}),
    RunState.PAUSED: frozenset(
        {RunState.RUNNING, RunState.APPROVED, RunState.REJECTED, RunState.EXPIRED, RunState.FAILED}
    ),
    # Resume re-runs the prepare phase while the run stays approved; only the one resumer
    # whose compare-and-set approved -> committing succeeds may commit. Drift pauses it again.
    RunState.APPROVED: frozenset(
        {RunState.COMMITTING, RunState.PAUSED, RunState.EXPIRED, RunState.FAILED}
    ),
    RunState.COMMITTING: frozenset({RunState.DONE, RunState.FAILED, RunState.IN_DOUBT}),
    RunState.IN_DOUBT: frozenset({RunState.DONE, RunState.APPROVED, RunState.FAILED}),
    RunState.DONE: frozenset(),
    RunState.FAILED: frozenset(),
    RunState.REJECTED: frozenset(),
    RunState.EXPIRED: frozenset(),
}


class IllegalTransition(ValueError):
    pass


def check_transition(current: RunState, target: RunState) -> None:
    """Raise IllegalTransition with a sentence when `current -> target` is not allowed."""
    if target not in _ALLOWED[current]:
        allowed = ", ".join(sorted(s.value for s in _ALLOWED[current])) or "nothing (terminal)"
        raise IllegalTransition(
            f"a run cannot go from {current.value} to {target.value}; "
            f"from {current.value} it may go to: {allowed}"
        )
