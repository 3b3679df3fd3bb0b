"""What a gate change tells people: one `Notice`, built from the store, for every channel.

    notice = build_notice(store, settings, policy, gate_id, "gate_rejected")
    notice.to_json()    # the webhook's JSON body (format: json)
    notice.text()       # plain lines for apprise channels (mail, chat)
    slack_message(notice)  # a Slack Block Kit message (format: slack)

Events (`NOTICE_EVENTS` in agent/core/settings.py): gate_opened, approval_recorded (n of m),
gate_approved, gate_rejected (with the reason, addressed to the requester: `initiator`),
gate_expired, run_committed, commit_failed, commit_retry. Each notice carries the gate, its
run, recipe, site, action, summary, bound values, amount, the case's customer ask, who asked,
who decided, policy's requirements, the approvals so far, expiry, the deep link to the gate's
page in the review console, the labelled screenshots and the time. Everything is read from
the store (gate, run, approvals, events), so the console shows the same facts.

Seller data (summaries, bound values, titles) is hostile: Slack's mrkdwn is escaped here;
the JSON is data; receivers must treat every string as text.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agent.gates.decide import gate_view
from agent.gates.screenshots import labelled_screenshots

if TYPE_CHECKING:
    from agent.core.settings import Settings
    from agent.gates.policy import Policy
    from evidence.store import EvidenceStore

HEADLINES = {
    "gate_opened": "Approval needed",
    "approval_recorded": "Approval {count} of {needed} recorded",
    "gate_approved": "Approved",
    "gate_rejected": "Rejected",
    "gate_expired": "Expired",
    "run_committed": "Done",
    "commit_failed": "Commit failed",
    "commit_retry": "Commit will be retried",
}


@dataclass(frozen=True)
class Notice:
    """One gate change, as every channel reports it."""

    event: str
    gate_id: str
    run_id: str
    recipe: str
    site: str
    action: str
    summary: str
    binds: dict[str, Any]
    amount: str | None
    currency: str | None
    customer_ask: str | None  # what the customer asked, when the run belongs to a case
    case_id: str | None
    initiator: str | None  # who asked (and to whom a rejection is addressed)
    decided_by: str | None  # the approver / rejecter of this change, when a person decided
    reason: str | None  # why: the rejection's reason, what expired, what failed
    requires: str  # policy's requirements, in words
    approvals: list[dict[str, str]]  # so far: approver, decision, at
    approvals_count: int
    approvals_needed: int
    approvers: list[str]  # who may still approve
    expires_at: str | None
    gate_state: str
    run_state: str
    link: str | None  # the gate's page in the review console (None: console.public_url unset)
    screenshots: list[dict[str, str]] = field(default_factory=list)  # label, name, path
    detail: dict[str, Any] = field(default_factory=dict)  # outputs, next retry, …
    at: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def headline(self) -> str:
        """'Approval needed: Refund 1.50 MYR on …' — the first line everywhere."""
        head = HEADLINES.get(self.event, self.event).format(
            count=self.approvals_count, needed=self.approvals_needed
        )
        return f"{head}: {self.summary}"

    def facts(self) -> list[tuple[str, str]]:
        """(what, value) pairs worth a line, in reading order; empty ones left out."""
        amount = " ".join(p for p in (self.amount, self.currency) if p)
        rows = [
            ("gate", self.gate_id),
            ("site", self.site),
            ("action", self.action),
            ("amount", amount),
            ("customer asked", self.customer_ask or ""),
            ("asked by", self.initiator or ""),
            ("decided by", self.decided_by or ""),
            ("reason", self.reason or ""),
            ("requires", self.requires),
            ("approvals", f"{self.approvals_count} of {self.approvals_needed}"),
            ("expires", (self.expires_at or "") if self.gate_state == "pending" else ""),
            ("run", f"{self.run_id} ({self.run_state})"),
        ]
        rows += [(k, str(v)) for k, v in self.detail.items() if k not in ("run_state", "delay_s")]
        return [(k, v) for k, v in rows if v]

    def text(self) -> str:
        """Plain text for chat and mail channels: headline, facts, screenshots, the link."""
        lines = [f"{k}: {v}" for k, v in self.facts()]
        lines += [f"screenshot: {s['label']}" for s in self.screenshots]
        lines.append(
            f"open: {self.link}" if self.link else "(no console link: set console.public_url)"
        )
        return "\n".join(lines)


def build_notice(
    store: EvidenceStore,
    settings: Settings,
    policy: Policy,
    gate_id: str,
    event: str,
    *,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> Notice:
    """The notice for `event` on `gate_id`, as the store has it now. `reason` overrides
    what the store says (e.g. why a commit failed); a rejection's reason and the deciding
    person are read from the recorded decision."""
    view = gate_view(store, policy, gate_id)
    gate, run = view.gate, view.run
    approvals = [
        {"approver": a.approver, "decision": a.decision, "at": a.at} for a in view.approvals
    ]
    decided_by, why = None, reason
    latest = view.approvals[-1] if view.approvals else None
    if event in ("approval_recorded", "gate_approved", "gate_rejected") and latest is not None:
        decided_by = latest.approver
        if event == "gate_rejected" and why is None:
            why = latest.note
    ask = None
    for record in store.events(gate.run_id):
        if record.kind == "customer_asked":
            ask = str(record.data.get("ask") or "") or None
    shots = [
        {"label": s.label, "name": s.name, "path": s.path}
        for s in labelled_screenshots(store, gate.run_id)
    ]
    return Notice(
        event=event,
        gate_id=gate.gate_id,
        run_id=gate.run_id,
        recipe=run.recipe,
        site=run.site,
        action=gate.action,
        summary=gate.summary,
        binds=dict(gate.binds),
        amount=str(view.needs.amount) if view.needs.amount is not None else None,
        currency=view.needs.currency,
        customer_ask=ask,
        case_id=run.case_id,
        initiator=view.initiator,
        decided_by=decided_by,
        reason=why,
        requires=view.needs.describe(),
        approvals=approvals,
        approvals_count=len(view.approved_by),
        approvals_needed=view.needs.approvals,
        approvers=[u for u in view.approvers if u not in view.approved_by],
        expires_at=gate.expires_at,
        gate_state=gate.state,
        run_state=run.state.value,
        link=settings.console.gate_link(gate.gate_id),
        screenshots=shots,
        detail=dict(detail or {}),
        at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    )


def _mrkdwn(value: object) -> str:
    """Seller text for Slack mrkdwn: &, <, > escaped (Slack's own rule), so a summary
    cannot become a link or a mention."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(notice: Notice) -> dict[str, Any]:
    """A Slack Block Kit message: the headline, the facts as fields, the screenshots' labels,
    and a button to the gate's page (when there is a link). `text` is the fallback shown in
    notifications."""
    fields = [
        {"type": "mrkdwn", "text": f"*{_mrkdwn(k)}*\n{_mrkdwn(v)[:1900]}"}
        for k, v in notice.facts()
    ][:10]  # Slack allows ten fields in a section
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": notice.headline[:150], "emoji": False},
        },
        {"type": "section", "fields": fields},
    ]
    if notice.screenshots:
        shots = "\n".join(f"• {_mrkdwn(s['label'])}" for s in notice.screenshots[:10])
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": shots[:2900]}]})
    if notice.link:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open the gate"},
                        "url": notice.link,
                        "action_id": "open_gate",
                        **({"style": "primary"} if notice.event == "gate_opened" else {}),
                    }
                ],
            }
        )
    return {"text": _mrkdwn(notice.headline)[:3000], "blocks": blocks}
