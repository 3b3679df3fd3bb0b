"""The evidence sink a run writes through, with the gate policy around it.

`GateRecorder` is the store as the engine sees it (`evidence.api.EvidenceSink`), plus two
things policy adds: it records who started the run (the `run_initiated` event, in the run's
chain, so separation of duties can be checked later), and it records each gate with what
policy requires (approvals, expiry) and sends the `gate_opened` notice
(agent/gates/notify.py). The facade builds one per run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent.core.errors import GateError
from agent.core.states import RunState
from agent.gates.decide import INITIATED, iso
from agent.gates.notify import gate_changed
from agent.gates.policy import Policy

if TYPE_CHECKING:
    from agent.core.settings import Settings
    from agent.recipes.model import Recipe
    from evidence.api import ArtifactRef, EventRecord, PendingEvent, RunRecord
    from evidence.gates import GateRecord
    from evidence.store import EvidenceStore

OWNER = "commit_owner"  # event kind: the process that took the commit lease (evidence only)
RETRY = "commit_retry"  # event kind: nothing was sent; the approval holds; retry at `next_at`

OnCreated = Callable[["RunRecord"], None]


class GateRecorder:
    """An `EvidenceSink` for runs started by `user`: the store's own writes, plus the
    initiator on `create_run` and policy's requirements on `record_gate`."""

    def __init__(
        self,
        store: EvidenceStore,
        settings: Settings,
        user: str,
        *,
        policy: Policy | None = None,
        on_created: OnCreated | None = None,
        proof: str | None = None,
    ) -> None:
        """`proof`: how `user` was proven (agent/gates/identity.py), recorded with them."""
        self.store, self.settings, self.user, self.proof = store, settings, user, proof
        self.policy = policy or Policy(settings.policy)
        self._on_created = on_created

    # ------------------------------------------------------------------ policy's additions

    def create_run(self, **fields: Any) -> RunRecord:
        record = self.store.create_run(**fields)
        roles = self.policy.roles_of(self.user)
        started: dict[str, Any] = {"user": self.user, "roles": roles}
        if self.proof is not None:
            started["proof"] = self.proof
        self.store.append_event(record.run_id, INITIATED, started)
        if self._on_created is not None:
            self._on_created(record)
        return record

    def record_gate(
        self, run_id: str, *, action: str, summary: str, binds: Mapping[str, Any]
    ) -> GateRecord:
        needs = self.policy.requirements(action, binds)
        ttl = timedelta(hours=self.settings.policy.approval_ttl_hours)
        gate = self.store.record_gate(
            run_id,
            action=action,
            summary=summary,
            binds=binds,
            required_approvals=needs.approvals,
            expires_at=iso(datetime.now(UTC) + ttl),
        )
        if not needs.auto:  # nobody needs to act on a gate policy approves itself
            gate_changed(self.store, self.settings, self.policy, gate.gate_id, "gate_opened")
        return gate

    # ------------------------------------------------------------------ the store's own

    def register_secret(self, value: str) -> None:
        self.store.register_secret(value)

    def transition(
        self, run_id: str, expected: RunState, target: RunState, *, reason: str | None = None
    ) -> bool:
        return self.store.transition(run_id, expected, target, reason=reason)

    def append_event(
        self,
        run_id: str,
        kind: str,
        data: Mapping[str, Any],
        artifacts: Sequence[ArtifactRef] = (),
    ) -> EventRecord:
        return self.store.append_event(run_id, kind, data, artifacts)

    def append_events(self, run_id: str, events: Sequence[PendingEvent]) -> None:
        self.store.append_events(run_id, events)

    def put_artifact(self, content: bytes, *, kind: str, media_type: str) -> ArtifactRef:
        return self.store.put_artifact(content, kind=kind, media_type=media_type)

    def put_screenshot(
        self, png: bytes, *, highlight: tuple[float, float, float, float] | None = None
    ) -> list[ArtifactRef]:
        return self.store.put_screenshot(png, highlight=highlight)

    def put_dom(
        self, html: str, *, site: str | None = None, selectors: Sequence[str] = ()
    ) -> ArtifactRef:
        return self.store.put_dom(html, site=site, selectors=selectors)

    def finish_run(
        self, run_id: str, *, outputs: Mapping[str, Any], error: str | None = None
    ) -> str:
        return self.store.finish_run(run_id, outputs=outputs, error=error)

    def get_run(self, run_id: str) -> RunRecord:
        return self.store.get_run(run_id)


def recipe_of(run: RunRecord, settings: Settings) -> Recipe:
    """The recipe a recorded run was made from (its site's recipe folder)."""
    from agent.recipes.model import find_recipe, load_recipe

    site = settings.sites.get(run.site)
    flavor = (site.flavor if site else "") or run.site
    return load_recipe(find_recipe(run.recipe, flavor, settings=settings))


def retries_since_approval(store: EvidenceStore, run_id: str) -> list[dict[str, Any]]:
    """The run's `commit_retry` events since its latest approval, oldest first: the last
    one says when the next attempt is due and why the previous one did not send anything."""
    found: list[dict[str, Any]] = []
    for event in store.events(run_id):
        if event.kind in ("approved", "gate_opened"):
            found = []
        elif event.kind == RETRY:
            found.append(dict(event.data))
    return found


def retry_line(retry: Mapping[str, Any]) -> str:
    """'retry at T (attempt n): reason', for `runs show` and `gates show`."""
    attempt, reason = retry.get("attempt"), retry.get("reason")
    return f"retry at {retry.get('next_at')} (attempt {attempt}): {reason}"


def latest_gate(store: EvidenceStore, run_id: str, state: str | None = None) -> GateRecord:
    gates = store.list_gates(run_id=run_id, state=state)
    if not gates:
        what = f"{state} gate" if state else "gate"
        raise GateError(f"run {run_id} has no {what}", hint=f"`aijia runs show {run_id}`")
    return gates[-1]


if TYPE_CHECKING:  # mypy checks that the recorder keeps the engine's interface
    from evidence.api import EvidenceSink

    def _implements_sink(recorder: GateRecorder) -> EvidenceSink:
        return recorder
