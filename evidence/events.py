"""Typed trail events: the six questions a dispute or an audit asks, as small frozen dataclasses.

    customer_asked   what did the customer ask (channel, text)
    knowledge_used   which knowledge or policy was used (document id + version)
    agent_suggested  what did the agent / the AI suggest
    page_reviewed    which back-office page was reviewed (URL, extracted values)
    llm_call         what was sent to the LLM and what came back (agent/ai)
    approved         who approved the bound action (gate, bind hash)
    rejected         who rejected it, and why
    action_done      what was finally done in the back office
    reply_sent       what was sent to the customer

The store also writes `run_created`, `state_changed`, `gate_opened`, `run_finished` itself.
Any other snake_case kind (e.g. the runner's `step_started`) is accepted with free-form data;
the kinds below are validated on append: unknown fields, missing fields and wrong types raise.

Example::

    store.record(run_id, PageReviewed(url="https://seller.example/order/1", title="Order 1"))
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from agent.core.errors import EvidenceError

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class TrailEvent:
    kind: ClassVar[str] = ""

    def to_data(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class CustomerAsked(TrailEvent):
    kind: ClassVar[str] = "customer_asked"
    channel: str  # whatsapp, tiktok, amazon_message, email, phone, chat, …
    ask: str
    customer: str | None = None
    message_id: str | None = None


@dataclass(frozen=True)
class KnowledgeUsed(TrailEvent):
    kind: ClassVar[str] = "knowledge_used"
    document_id: str
    version: str
    title: str = ""
    excerpt: str = ""


@dataclass(frozen=True)
class AgentSuggested(TrailEvent):
    kind: ClassVar[str] = "agent_suggested"
    suggestion: str
    by: str = "recipe"  # recipe | llm | rule
    model: str | None = None
    rationale: str = ""


@dataclass(frozen=True)
class PageReviewed(TrailEvent):
    kind: ClassVar[str] = "page_reviewed"
    url: str
    title: str = ""
    label: str = ""
    step: int | None = None
    extracted: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LlmCall(TrailEvent):
    """One call to the configured LLM (agent/ai/record.py): what was sent, what came back."""

    kind: ClassVar[str] = "llm_call"
    purpose: str  # e.g. "ai_extract (step 3)"
    model: str
    endpoint: str
    outcome: str  # ok | malformed | refused (budget, nothing sent) | over_budget | error
    messages: list[Any]  # as sent, already masked
    response: str | None = None
    error: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost: str = "0"  # a decimal string, in the currency of llm.price
    duration_ms: float | int = 0


@dataclass(frozen=True)
class Approved(TrailEvent):
    kind: ClassVar[str] = "approved"
    gate_id: str
    approver: str
    bind_hash: str
    note: str = ""
    approval_id: str | None = None  # the approvals row this event records
    at: str | None = None  # when the decision was made (approvals expire from it)
    proof: str | None = None  # how the approver's identity was proven ("token t-…", "api" …)


@dataclass(frozen=True)
class Rejected(TrailEvent):
    kind: ClassVar[str] = "rejected"
    gate_id: str
    approver: str
    bind_hash: str
    note: str = ""
    approval_id: str | None = None  # the approvals row this event records
    at: str | None = None  # when the decision was made (approvals expire from it)
    proof: str | None = None  # how the approver's identity was proven ("token t-…", "api" …)


@dataclass(frozen=True)
class ActionDone(TrailEvent):
    kind: ClassVar[str] = "action_done"
    action: str
    summary: str = ""
    gate_id: str | None = None
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReplySent(TrailEvent):
    kind: ClassVar[str] = "reply_sent"
    channel: str
    text: str
    to: str | None = None


@dataclass(frozen=True)
class RunCreated(TrailEvent):
    kind: ClassVar[str] = "run_created"
    recipe: str
    recipe_version: str
    site: str
    inputs: dict[str, Any]
    account: str | None = None
    case_id: str | None = None


@dataclass(frozen=True)
class StateChanged(TrailEvent):
    kind: ClassVar[str] = "state_changed"
    from_state: str
    to_state: str
    reason: str | None = None


@dataclass(frozen=True)
class GateOpened(TrailEvent):
    kind: ClassVar[str] = "gate_opened"
    gate_id: str
    action: str
    summary: str
    binds: dict[str, Any]
    bind_hash: str
    required_approvals: int = 1
    expires_at: str | None = None


@dataclass(frozen=True)
class RunFinished(TrailEvent):
    kind: ClassVar[str] = "run_finished"
    outputs: dict[str, Any]
    error: str | None = None


TYPED_EVENTS: dict[str, type[TrailEvent]] = {
    cls.kind: cls
    for cls in (
        CustomerAsked,
        KnowledgeUsed,
        AgentSuggested,
        PageReviewed,
        LlmCall,
        Approved,
        Rejected,
        ActionDone,
        ReplySent,
        RunCreated,
        StateChanged,
        GateOpened,
        RunFinished,
    )
}

# The six questions, in the order a report answers them.
QUESTIONS: dict[str, tuple[str, ...]] = {
    "What did the customer ask?": ("customer_asked",),
    "Which knowledge or policy was used?": ("knowledge_used",),
    "What did the agent suggest?": ("agent_suggested",),
    # page_captured: what the runner's screenshot/snapshot steps record (free-form)
    "Which back-office pages were reviewed?": ("page_reviewed", "page_captured"),
    "Who approved?": ("approved", "rejected"),
    "What was finally done or sent?": ("action_done", "reply_sent"),
}


def _accepts(annotation: Any, value: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(arg, value) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is Any:
        return True
    base = origin or annotation
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if base is dict:
        return isinstance(value, Mapping)
    return isinstance(value, base)


def validate(kind: str, data: Mapping[str, Any]) -> None:
    """Raise EvidenceError when `data` does not fit the event `kind`."""
    if not KIND_PATTERN.match(kind):
        raise EvidenceError(
            f"event kind {kind!r} is not a snake_case name",
            hint="use a short lower-case name like 'page_reviewed' or 'step_finished'",
        )
    if not isinstance(data, Mapping):
        raise EvidenceError(f"event {kind}: data must be a mapping, got {type(data).__name__}")
    cls = TYPED_EVENTS.get(kind)
    if cls is None:
        return
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise EvidenceError(
            f"event {kind}: unknown field(s) {', '.join(unknown)}",
            hint=f"{kind} takes: {', '.join(fields)}",
        )
    for name, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if name not in data:
            if required:
                raise EvidenceError(
                    f"event {kind}: missing field {name!r}",
                    hint=f"{kind} takes: {', '.join(fields)}",
                )
            continue
        if not _accepts(hints[name], data[name]):
            raise EvidenceError(
                f"event {kind}: field {name!r} should be {hints[name]}, "
                f"got {type(data[name]).__name__} {data[name]!r:.60}"
            )
