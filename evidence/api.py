"""The narrow interface the runner and the gates use to write evidence.

`evidence.store.EvidenceStore` implements it on SQLite + content-addressed files. The runner
depends on this Protocol only, so the store can change behind it. Open one from the settings
with `EvidenceStore.open(settings)` (`<data_dir>/evidence`, or `evidence.location`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from agent.core.states import RunState

if TYPE_CHECKING:
    from evidence.gates import GateRecord


@dataclass(frozen=True)
class ArtifactRef:
    """A stored file: content-addressed by the sha256 of its bytes."""

    sha256: str
    kind: str  # "screenshot", "thumbnail", "dom", "mhtml", "trace", ...
    media_type: str  # "image/png", "text/html", ...
    size: int
    path: str  # relative to the store root


@dataclass(frozen=True)
class EventRecord:
    run_id: str
    seq: int  # 1, 2, 3 … within the run
    kind: str  # "step_started", "step_finished", "state_changed", "page_reviewed", ...
    data: Mapping[str, Any]
    artifacts: tuple[str, ...]  # sha256 of attached artifacts
    at: str  # ISO 8601 UTC
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class PendingEvent:
    """An event kept in memory for a moment, to be appended with others in one commit."""

    kind: str
    data: Mapping[str, Any]
    artifacts: tuple[ArtifactRef, ...]
    at: str  # when it happened, ISO 8601 UTC


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    recipe: str
    recipe_version: str
    site: str
    state: RunState
    inputs: Mapping[str, Any]  # secrets already masked
    account: str | None = None
    case_id: str | None = None
    created_at: str = ""
    updated_at: str = ""
    outputs: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


class EvidenceSink(Protocol):
    def register_secret(self, value: str) -> None:
        """Never store this value: mask it in every event and text artifact from now on."""

    def create_run(
        self,
        *,
        recipe: str,
        recipe_version: str,
        site: str,
        inputs: Mapping[str, Any],
        account: str | None = None,
        case_id: str | None = None,
    ) -> RunRecord:
        """Persist a new run in state `pending` and return it."""

    def transition(
        self, run_id: str, expected: RunState, target: RunState, *, reason: str | None = None
    ) -> bool:
        """Compare-and-set the run's state; False when it was not `expected` any more.

        Illegal transitions raise `agent.core.states.IllegalTransition`. Records a `state_changed`
        event in the same transaction.
        """

    def append_event(
        self,
        run_id: str,
        kind: str,
        data: Mapping[str, Any],
        artifacts: Sequence[ArtifactRef] = (),
    ) -> EventRecord:
        """Append one event to the run's hash chain (append-only, never updated)."""

    def append_events(self, run_id: str, events: Sequence[PendingEvent]) -> None:
        """Append several events (each with its own time) in one transaction."""

    def put_artifact(self, content: bytes, *, kind: str, media_type: str) -> ArtifactRef:
        """Store bytes content-addressed (atomic write, deduplicated)."""

    def put_screenshot(
        self, png: bytes, *, highlight: tuple[float, float, float, float] | None = None
    ) -> list[ArtifactRef]:
        """Store a screenshot (+ thumbnail; `highlight` = x, y, w, h box outlined)."""

    def put_dom(
        self, html: str, *, site: str | None = None, selectors: Sequence[str] = ()
    ) -> ArtifactRef:
        """Store a DOM snapshot with password values and configured selectors blanked.

        `site` adds `evidence.redaction.selectors[site]` to the '*' ones; `selectors` adds the
        recipe's own. Both optional (added after the first version of this interface).
        """

    def finish_run(
        self, run_id: str, *, outputs: Mapping[str, Any], error: str | None = None
    ) -> str:
        """Record outputs/error and the run's manifest root hash; returns the root hash."""

    def get_run(self, run_id: str) -> RunRecord:
        """The run, or EvidenceError when there is no such run."""

    def record_gate(
        self, run_id: str, *, action: str, summary: str, binds: Mapping[str, Any]
    ) -> GateRecord:
        """Record a gate (state `pending`) over these binds and its `gate_opened` event."""
