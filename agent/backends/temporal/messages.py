"""What the client, the workflow and the activities pass each other: plain dataclasses that
Temporal's JSON converter carries, kept free of the engine so the workflow sandbox can import
them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WORKFLOW = "AijiaRun"  # the workflow type name
APPROVED = "approved"  # signal: a gate of the run was approved (the store decides if enough)
REJECTED = "rejected"  # signal: a gate of the run was rejected
OUTCOME = "outcome"  # query: the run's latest outcome (None until the prepare phase ends)

PREPARE = "aijia_prepare"  # activity: the prepare phase of a run the client created
SETTLE = "aijia_settle"  # activity: re-read the store; expire, commit or reconcile
FAIL = "aijia_fail"  # activity: the workflow is failing; say so in the store

FIRE_WORKFLOW = "AijiaFire"  # the workflow type a Temporal schedule starts: one fire
FIRE = "aijia_fire"  # activity: claim the fire's slot, start a run workflow per row


@dataclass
class RunRequest:
    """A run the client created (pending, initiator recorded) for a worker to execute."""

    run_id: str
    recipe: str  # a recipe name (the site's folder) or a path the workers can read
    inputs: dict[str, Any]
    user: str  # the initiator, already proven and recorded by the client
    site: str | None = None
    case: str | None = None
    row: int | None = None  # 1-based row of a batch


@dataclass
class Outcome:
    """Where the run stands after an activity: its state, the RunResult (as JSON) when a
    phase ran, and what the workflow waits for next."""

    run_id: str
    state: str  # a RunState value
    result: dict[str, Any] | None = None  # `RunResult` as JSON (client.result_of reads it)
    gate_id: str | None = None  # the pending gate the run waits at
    expires_at: str | None = None  # ISO time the pending gate expires
    retry_in_s: float | None = None  # approved but the site was down: settle again after this
    notes: list[str] = field(default_factory=list)

    @property
    def waiting(self) -> bool:
        """The run waits for a person (paused at a gate) or for the site (approved, retry)."""
        return self.state in ("paused", "approved")


@dataclass
class FireRequest:
    """One fire of a schedule of config.yaml. `slot`: the fire's slot key; None for a fire a
    Temporal schedule started (the workflow takes its scheduled time). `definition`: the
    schedule's settings as synced (JSON), so a worker started before the sync runs the
    schedule as synced; without it the worker's config.yaml says."""

    schedule: str
    slot: str | None = None
    max_run_time_s: float | None = None  # the schedule's, bounding the fire activity
    definition: dict[str, Any] | None = None
