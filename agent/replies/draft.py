"""A reply drafted from a per-channel Jinja template, an intent, facts and knowledge: no LLM.

    compose(channel, intent, facts, knowledge, language="en", signature=...) -> Draft

The intent says what the reply does (INTENTS below: its wording, in a long form for messages
and a one-line form for public comments, and what it promises). The channel's template
(agent/replies/templates/<channel>.j2, package data) lays it out with the channel's greeting
and sign-off; knowledge facts (`refund_days` …) fill the wording. Facts come from the back
office and are hostile: they are passed to the templates as values, never rendered as
templates themselves, and control characters are dropped from them.

The checker (agent/replies/check.py) is separate: it checks this draft, and will check an
LLM's rewrite of it the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from agent.core.errors import StepError
from agent.replies.channels import Channel
from agent.replies.knowledge import Knowledge

TEMPLATES = Path(__file__).resolve().parent / "templates"
LANGUAGES = ("en",)  # one template set per language: templates/<language>/<channel>.j2


@dataclass(frozen=True)
class Intent:
    """What a reply does: its wording (Jinja over `facts` and `kb`) and what it promises."""

    name: str
    subject: str  # email subject
    long: str  # messages
    short: str  # public comments (a line)
    needs: tuple[str, ...] = ("order_id",)  # facts it cannot do without
    promises: tuple[str, ...] = ()  # refund | compensation: a gate must approve the text


INTENTS: dict[str, Intent] = {
    i.name: i
    for i in (
        Intent(
            name="refund_offer",
            subject="Your refund for order {{ facts.order_id }}",
            long="We will refund {{ facts.amount }} for order {{ facts.order_id }} to your "
            "original payment method{% if kb.refund_days %} within {{ kb.refund_days }} "
            "working days{% endif %}.",
            short="We're arranging a refund for you, please check your messages.",
            needs=("order_id", "amount"),
            promises=("refund",),
        ),
        Intent(
            name="compensation_offer",
            subject="About your order {{ facts.order_id }}",
            long="We are sorry for the trouble with order {{ facts.order_id }}. As an apology "
            "we will give you {{ facts.compensation }}.",
            short="Sorry for the trouble! We've messaged you about making it right.",
            needs=("order_id", "compensation"),
            promises=("compensation",),
        ),
        Intent(
            name="apology_delay",
            subject="The delivery of order {{ facts.order_id }}",
            long="We are sorry that order {{ facts.order_id }} is taking longer than expected."
            "{% if facts.courier_status %} The courier's latest status is: "
            "{{ facts.courier_status }}.{% endif %}"
            "{% if kb.delay_note %} {{ kb.delay_note }}{% endif %}",
            short="Sorry your parcel is late! We've sent you the latest status by message.",
        ),
        Intent(
            name="status_update",
            subject="An update on order {{ facts.order_id }}",
            long="Here is an update on order {{ facts.order_id }}: "
            "{{ facts.status or 'we are looking into it' }}.",
            short="We've sent you an update on your order by message.",
        ),
        Intent(
            name="investigating",
            subject="Your request about order {{ facts.order_id }}",
            long="We are checking your request about order {{ facts.order_id }} with our "
            "warehouse and the carrier and will reply within "
            "{{ kb.reply_days or 2 }} working days.",
            short="Thanks, we're looking into it and will message you soon.",
        ),
        Intent(
            name="ask_photos",
            subject="Photos for order {{ facts.order_id }}",
            long="To help us resolve your request about order {{ facts.order_id }}, could you "
            "send us a photo of the item and of its packaging?",
            short="Sorry to hear that! Could you message us a photo of the item?",
        ),
        Intent(
            name="decline",
            subject="Your request about order {{ facts.order_id }}",
            long="After checking order {{ facts.order_id }} we cannot accept this request."
            "{% if facts.reason %} {{ facts.reason }}{% endif %} If you disagree, you may "
            "escalate it to the marketplace.",
            short="We've replied to your request by message.",
        ),
    )
}


class _Facts(dict[str, Any]):
    """Facts and knowledge values for the wording: a fact not given is None, so wording can
    say `{% if facts.courier_status %}`; a misspelt variable still fails (StrictUndefined)."""

    def __missing__(self, key: str) -> None:
        return None


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class Draft:
    """A reply ready for checking and review: nothing is sent by drafting it."""

    channel: str
    intent: str
    language: str
    text: str
    subject: str | None = None
    promises: tuple[str, ...] = ()
    knowledge_used: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def as_output(self) -> dict[str, Any]:
        """The value a recipe sees under `into` (and the evidence records)."""
        out: dict[str, Any] = {"channel": self.channel, "intent": self.intent}
        if self.subject is not None:
            out["subject"] = self.subject
        out.update(
            text=self.text,
            language=self.language,
            knowledge_used=list(self.knowledge_used),
            agent_suggested=True,
            promises=list(self.promises),
        )
        return out


def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=FileSystemLoader(str(TEMPLATES)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,  # plain text for chat apps and mail bodies, never HTML
    )


def _inert(value: Any) -> Any:
    """A fact as a value a template may print: strings without control characters."""
    if isinstance(value, str):
        return _CONTROL.sub("", value).strip()
    if isinstance(value, dict):
        return {str(k): _inert(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_inert(v) for v in value]
    return value


def compose(
    chan: Channel,
    intent_name: str,
    facts: dict[str, Any],
    knowledge: list[Knowledge],
    *,
    language: str = "en",
    signature: str = "Customer Care",
) -> Draft:
    """The templated draft; StepError when the intent, language or a needed fact is missing."""
    intent = INTENTS.get(intent_name)
    if intent is None:
        raise StepError(
            f"unknown reply intent {intent_name!r}", hint=f"intents: {', '.join(INTENTS)}"
        )
    if language not in LANGUAGES:
        raise StepError(
            f"no reply templates in language {language!r}",
            hint=f"languages: {', '.join(LANGUAGES)}",
        )
    facts = _inert(facts)
    missing = [n for n in intent.needs if facts.get(n) in (None, "")]
    if missing:
        raise StepError(
            f"intent {intent_name} needs the fact(s) {', '.join(missing)}, "
            f"got: {', '.join(sorted(facts)) or 'none'}",
            hint=f"add them under draft_reply's facts, e.g. {missing[0]}: "
            f'"{{{{ {missing[0]} }}}}"',
        )
    kb = _Facts()
    for item in knowledge:
        kb.update(item.front.facts)
    env = _environment()
    values = {
        "facts": _Facts(facts),
        "kb": kb,
        "name": facts.get("buyer") or "",
        "signature": signature,
    }
    try:
        wording = intent.short if chan.short else intent.long
        message = env.from_string(wording).render(values)
        greeting = env.from_string(chan.greeting).render(values)
        sign_off = env.from_string(chan.sign_off).render(values)
        template = env.get_template(f"{language}/{chan.name}.j2")
        text = template.render(
            values, message=message, greeting=greeting, sign_off=sign_off, channel=chan
        )
        subject = env.from_string(intent.subject).render(values) if chan.shape == "email" else None
    except TemplateError as exc:
        raise StepError(
            f"reply template for {chan.name}/{intent_name} failed: {exc}",
            hint="a fact the wording uses is missing: add it under draft_reply's facts",
        ) from None
    return Draft(
        channel=chan.name,
        intent=intent_name,
        language=language,
        text=_tidy(text),
        subject=subject,
        promises=intent.promises,
        knowledge_used=tuple(k.used() for k in knowledge),
    )


def _tidy(text: str) -> str:
    """Trailing spaces off, at most one blank line in a row, no blank start or end."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


__all__ = ["INTENTS", "LANGUAGES", "Draft", "Intent", "compose"]
