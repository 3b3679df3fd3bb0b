"""Replies to buyers: `draft_reply` (agent/replies holds the channels, knowledge and checker).

A draft is only words in the run's values and its evidence: nothing is sent to the back
office by drafting (effect read). A recipe that sends it does so after a `gate` that binds
the draft's text, so a person approves the exact words. A reply that promises a refund or
compensation (by its intent, or in its words) must have such a gate: the recipe check refuses
one without it at load time, and the step fails at run time should the words promise more
than the intent said. With an `llm:` configured the model may reword the template's draft;
a rewrite that breaks a channel rule or promises what the intent does not is never used
(agent/replies/rewrite.py), and the evidence says who wrote the words and why.

Example::

    - draft_reply:
        channel: "{{ inputs.channel }}"
        intent: apology_delay
        facts: {order_id: "{{ order_id }}", buyer: "{{ buyer }}", courier_status: "{{ status }}"}
        knowledge: [shipping_delays]
        into: reply
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator

from agent.core.errors import StepError
from agent.recipes.templating import is_template, referenced_names
from agent.replies.channels import CHANNELS, channel
from agent.replies.check import check_reply, detect_promises
from agent.replies.draft import INTENTS, LANGUAGES, compose
from agent.replies.knowledge import knowledge_root, load_knowledge
from agent.replies.rewrite import Rewritten, rewrite
from agent.steps.base import Params, Step

if TYPE_CHECKING:
    from agent.engine.context import RunContext

PROMISING_INTENTS = frozenset(name for name, i in INTENTS.items() if i.promises)


class DraftReplyParams(Params):
    channel: str = Field(
        description=f"Where the reply goes: {', '.join(CHANNELS)} (or a template giving one)."
    )
    intent: str = Field(
        description=f"What the reply does: {', '.join(INTENTS)}. "
        f"{', '.join(sorted(PROMISING_INTENTS))} promise money: a gate must bind the text."
    )
    facts: dict[str, Any] = Field(
        default_factory=dict,
        description="Values the wording quotes (templates): order_id (always), buyer, amount, "
        "compensation, courier_status, status, reason, as the intent needs.",
    )
    knowledge: list[str] = Field(
        default_factory=list,
        description="Knowledge files (knowledge_dir/<id>.md) whose facts the reply quotes; "
        "their ids, versions and hashes are recorded as knowledge_used.",
    )
    language: str = Field("en", description=f"Template language: {', '.join(LANGUAGES)}.")
    signature: str = Field(
        "Customer Care", description="The team's name in the sign-off (a template)."
    )
    into: str = Field(
        "reply",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="The value name the draft is set into: {channel, text, subject (email), "
        "knowledge_used, agent_suggested, promises}.",
    )
    rewrite: Literal["auto", "off"] = Field(
        "auto",
        description="auto: when an `llm:` is configured, the model rewrites the template's "
        "draft within the channel's rules; a rewrite that breaks one, promises what the intent "
        "does not, or fails keeps the template's draft (the evidence says why). off: always "
        "the template.",
    )

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, value: str) -> str:
        if not is_template(value) and value not in CHANNELS:
            raise ValueError(f"unknown channel {value!r}; channels: {', '.join(CHANNELS)}")
        return value

    @field_validator("intent")
    @classmethod
    def _known_intent(cls, value: str) -> str:
        if not is_template(value) and value not in INTENTS:
            raise ValueError(f"unknown intent {value!r}; intents: {', '.join(INTENTS)}")
        return value

    def may_promise(self) -> bool:
        """True when the intent promises money, or is chosen at run time (it might)."""
        return is_template(self.intent) or self.intent in PROMISING_INTENTS


class DraftReply(Step):
    """Draft a reply for a channel from facts and knowledge files; sends nothing.

    The channel's template writes the draft; with an `llm:` configured (and `rewrite: auto`)
    the model rewords it, and the rewrite is kept only when it passes the same checks
    (agent/replies/rewrite.py).

    Example::

        - draft_reply:
            channel: email
            intent: refund_offer
            facts: {order_id: "{{ order_id }}", buyer: "{{ buyer }}", amount: "{{ amount }}"}
            knowledge: [refund_policy]
            into: reply
        - gate:
            action: refund_reply
            summary: "Send the refund reply for {{ order_id }}"
            binds: {text: "{{ reply.text }}"}
    """

    key: ClassVar[str] = "draft_reply"
    effect: ClassVar = "read"
    draft_reply: DraftReplyParams = Field(description="The reply to draft.")

    def defines(self) -> list[str]:
        return [self.draft_reply.into]

    async def run(self, ctx: RunContext) -> None:
        p = self.draft_reply
        chan = channel(str(ctx.render(p.channel)))
        intent = str(ctx.render(p.intent))
        facts = ctx.render(p.facts)
        ids = [str(ctx.render(k)) for k in p.knowledge]
        knowledge = load_knowledge(knowledge_root(ctx.settings), ids)
        draft = compose(
            chan,
            intent,
            facts,
            knowledge,
            language=str(ctx.render(p.language)),
            signature=str(ctx.render(p.signature)),
        )
        order_id = str(facts.get("order_id") or "")
        check_reply(draft.text, chan, draft.subject, known_ids=(order_id,), where=self.where())
        written = Rewritten(draft, "template")
        if p.rewrite == "auto":
            written = await rewrite(
                ctx,
                draft,
                chan,
                facts,
                knowledge,
                purpose=f"draft_reply (step {self.number or '?'})",
                known_ids=(order_id,),
            )
        draft = written.draft
        output = draft.as_output()
        output["promises"] = sorted(set(draft.promises) | set(detect_promises(draft.text)))
        if output["promises"] and not gate_binds(ctx.recipe, self, p.into):
            raise StepError(
                f"the {chan.title} reply promises {' and '.join(output['promises'])}, and no "
                f"gate after this step binds `{p.into}`",
                hint=f"add a `gate` after it whose binds include "
                f'text: "{{{{ {p.into}.text }}}}", so a person approves the words',
            )
        warnings = [
            f"knowledge {k.id} (version {k.front.version}) was due for review on "
            f"{k.front.review_by.isoformat()}"
            for k in knowledge
            if k.overdue()
        ]
        ctx.event(
            "reply_drafted",
            {
                "step": self.number,
                **output,
                "writer": written.writer,
                "model": written.model,
                "fallback": written.fallback,
                "warnings": warnings,
            },
        )
        ctx.set_value(p.into, output)


def gate_binds(recipe: Any, step: Step, name: str) -> bool:
    """True when the recipe's gate comes after `step` and one of its binds uses `name`."""
    gate = recipe.gate_index()
    if gate is None:
        return False
    first = step.number.split(".")[0]
    if first.isdigit() and int(first) - 1 >= gate:
        return False
    texts = [v for v in recipe.steps[gate].params.binds.values() if isinstance(v, str)]
    return any(name in _names(t) for t in texts)


def _names(text: str) -> set[str]:
    try:
        return set(referenced_names(text)) if is_template(text) else set()
    except Exception:  # a syntax error is reported by the template check
        return set()


def unreviewed_promises(recipe: Any, walked: list[tuple[Any, Step, int]]) -> list[Any]:
    """(path, message, hint) for each draft_reply that may promise money and no gate after it
    binds its text: the load-time check (agent/recipes/checks.py)."""
    out = []
    for path, step, _depth in walked:
        if not isinstance(step, DraftReply) or not step.draft_reply.may_promise():
            continue
        p = step.draft_reply
        if gate_binds(recipe, step, p.into):
            continue
        why = (
            f"intent `{p.intent}` promises money"
            if p.intent in PROMISING_INTENTS
            else "its intent is chosen at run time and may promise a refund or compensation"
        )
        out.append(
            (
                path,
                f"this draft_reply needs a gate after it that binds `{p.into}`: {why}",
                f'add a `gate` step after it with binds like text: "{{{{ {p.into}.text }}}}" '
                "(a person approves the exact words before they are sent)",
            )
        )
    return out
