"""What a run gives back: `RunResult` (and the `GateInfo` of the gate it stopped at).

These are part of the public API (`from agent import RunResult`): every front end renders them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from agent.core.states import RunState


@dataclass(frozen=True)
class GateInfo:
    step: str  # "8": the gate's step number
    step_index: int  # 0-based index in `steps`: the commit phase starts after it
    action: str
    summary: str
    binds: dict[str, Any]
    gate_id: str | None = None  # the store's gate row (None for a dry run's preview)
    bind_hash: str | None = None


@dataclass(frozen=True)
class RunResult:
    recipe: str
    site: str
    state: RunState  # done, paused, failed or in_doubt
    run_id: str | None = None  # None when the inputs were refused before a run existed
    row: int | None = None  # 1-based row of a batch
    inputs: dict[str, Any] = field(default_factory=dict)
    # rendered `outputs:` (partial if not done)
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # masked; names the step, expected vs seen, hint
    error_step: str | None = None
    error_kind: str | None = None  # "not_found": the page said the order (…) does not exist
    exit_code: int = 0  # as the CLI maps it: 0 done, 1 failed, 2 bad input, 3 paused
    pause_reason: str | None = None  # "gate", "handoff" or "drift"
    gate: GateInfo | None = None
    dry_run: bool = False
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.state in (RunState.DONE, RunState.PAUSED)


ProgressCallback = Callable[[RunResult], None]


def with_duration(result: RunResult, started: float) -> RunResult:
    return replace(result, duration_s=round(time.monotonic() - started, 3))
