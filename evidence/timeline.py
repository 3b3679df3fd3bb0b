"""A run's events as a readable timeline, and the six questions answered from it.

Shared by `aijia evidence show` (terminal), the HTML report and the bundle's summary pages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evidence.api import ArtifactRef, EventRecord, RunRecord
from evidence.events import QUESTIONS, TYPED_EVENTS

if TYPE_CHECKING:
    from evidence.gates import ApprovalRecord, GateRecord
    from evidence.store import EvidenceStore


@dataclass(frozen=True)
class Entry:
    event: EventRecord
    title: str
    url: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    screenshot: ArtifactRef | None = None  # the annotated one when there is one
    thumbnail: ArtifactRef | None = None
    others: tuple[ArtifactRef, ...] = ()  # DOM, MHTML, trace, …
    compact: bool = False  # the runner's bookkeeping (step started …): values on one line


@dataclass(frozen=True)
class RunTimeline:
    run: RunRecord
    entries: list[Entry]
    gates: list[GateRecord]
    approvals: list[ApprovalRecord]
    root_hash: str | None
    answers: dict[str, list[Entry]]


def _proven(data: Mapping[str, Any]) -> str:
    """How the person was proven ("token t-…", "password", "oidc …"), when recorded."""
    return f" (proven by {data['proof']})" if data.get("proof") else ""


def _title(kind: str, data: Mapping[str, Any]) -> str:
    d = data
    titles = {
        "run_created": lambda: f"Run created: {d.get('recipe')} on {d.get('site')}",
        "customer_asked": lambda: f"Customer asked ({d.get('channel')}): {d.get('ask')}",
        "knowledge_used": lambda: (
            f"Knowledge used: {d.get('document_id')} v{d.get('version')}"
            + (f" ({d['title']})" if d.get("title") else "")
        ),
        "agent_suggested": lambda: f"Agent suggested ({d.get('by')}): {d.get('suggestion')}",
        "page_reviewed": lambda: f"Page reviewed: {d.get('title') or d.get('url')}",
        "page_captured": lambda: (
            f"Page captured ({d.get('label')}): {d.get('title') or d.get('url')}"
        ),
        "failure_captured": lambda: f"Page at the failure: {d.get('title') or d.get('url')}",
        "gate_opened": lambda: f"Gate opened for {d.get('action')}: {d.get('summary')}",
        "approved": lambda: f"Approved by {d.get('approver')}{_proven(d)}",
        "rejected": lambda: f"Rejected by {d.get('approver')}{_proven(d)}",
        "run_initiated": lambda: f"Started by {d.get('user')}{_proven(d)}",
        "action_done": lambda: (
            f"Done: {d.get('action')}" + (f": {d['summary']}" if d.get("summary") else "")
        ),
        "reply_sent": lambda: f"Reply sent ({d.get('channel')}): {d.get('text')}",
        "state_changed": lambda: (
            f"State {d.get('from_state')} → {d.get('to_state')}"
            + (f" ({d['reason']})" if d.get("reason") else "")
        ),
        "gate_state_changed": lambda: f"Gate {d.get('from_state')} → {d.get('to_state')}",
        "run_finished": lambda: (
            "Run finished" + (f" with error: {d['error']}" if d.get("error") else "")
        ),
        "pruned": lambda: "Pruned",
    }
    make = titles.get(kind)
    return make() if make else kind.replace("_", " ").capitalize()


def _values(kind: str, data: Mapping[str, Any]) -> Mapping[str, Any]:
    if kind == "page_reviewed":
        return dict(data.get("extracted") or {})
    if kind == "gate_opened":
        return dict(data.get("binds") or {})
    if kind == "action_done":
        return dict(data.get("result") or {})
    if kind == "run_finished":
        return dict(data.get("outputs") or {})
    if kind == "run_created":
        return dict(data.get("inputs") or {})
    if kind in TYPED_SIMPLE:
        return {}
    return {k: v for k, v in data.items() if k not in ("url", "title", "label") and v is not None}


TYPED_SIMPLE = frozenset(
    {
        "customer_asked",
        "knowledge_used",
        "agent_suggested",
        "approved",
        "rejected",
        "reply_sent",
        "state_changed",
        "gate_state_changed",
    }
)


def build_timeline(store: EvidenceStore, run_id: str) -> RunTimeline:
    run = store.get_run(run_id)
    entries = []
    for event in store.events(run_id):
        refs = [store.artifact(sha) for sha in event.artifacts]
        by_kind = {r.kind: r for r in refs}
        shot = by_kind.get("screenshot_annotated") or by_kind.get("screenshot")
        others = tuple(
            r for r in refs if r.kind not in ("screenshot", "screenshot_annotated", "thumbnail")
        )
        entries.append(
            Entry(
                event=event,
                title=_title(event.kind, event.data),
                url=event.data.get("url") if isinstance(event.data.get("url"), str) else None,
                values=_values(event.kind, event.data),
                screenshot=shot,
                thumbnail=by_kind.get("thumbnail"),
                others=others,
                compact=event.kind not in TYPED_EVENTS,
            )
        )
    gates = store.list_gates(run_id=run_id)
    approvals = [a for g in gates for a in store.approvals(g.gate_id)]
    manifest = store.manifest(run_id)
    answers = {
        question: [e for e in entries if e.event.kind in kinds]
        for question, kinds in QUESTIONS.items()
    }
    return RunTimeline(
        run=run,
        entries=entries,
        gates=gates,
        approvals=approvals,
        root_hash=manifest["root_hash"] if manifest else None,
        answers=answers,
    )
