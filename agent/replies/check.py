"""Check a reply draft against its channel's rules, whoever wrote it (a template, an LLM).

    violations(text, channel, subject=None) -> [str]   every broken rule, as a sentence
    check_reply(text, channel, subject=None)           ReplyRefused listing them, if any
    detect_promises(text) -> [str]                      refund / compensation promised in words

The rules are data in agent/replies/channels.py. Promises are found with a deliberately
broad heuristic (a verb of intent near "refund", "compensation", "voucher" …): a false alarm
costs a review, a miss could send money unreviewed.
"""

from __future__ import annotations

import re

from agent.core.errors import StepError
from agent.replies.channels import Channel

# A URL, a www. address, or a bare domain with a common top-level domain.
_LINK = re.compile(
    r"(?i)\b(?:https?://|www\.)\S*[^\s.,;:!?)\]'\"]"  # without the sentence's full stop
    r"|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|co|shop|store|info|biz|me|ly|gl|to)\b"
    r"(?:/\S*)?"
)
_EMAIL = re.compile(r"(?i)\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
# seven or more digits, allowing spaces, dots, dashes and a leading +, e.g. +44 20 7946 0958;
# order numbers are letters and digits without separators, so they are told apart by `_ORDER`
_PHONE = re.compile(r"(?<![\w])\+?\d[\d .()-]{6,}\d(?![\w])")
# Emoji and pictographs: the main emoji blocks, dingbats, regional indicators, VS-16.
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U0001f1e6-\U0001f1ff\ufe0f\u2b50\u2b55"
    "\u231a\u231b\u23e9-\u23f3\u23f8-\u23fa]"
)
_PROMISES = {
    "refund": re.compile(
        r"(?i)\b(?:will|'ll|shall|going to|are issuing|have issued|would like to)\s+"
        r"(?:\w+\s+){0,3}?(?:refund|reimburse|return your money)"
        r"|\b(?:full|partial)\s+refund\b"
    ),
    "compensation": re.compile(
        r"(?i)\bcompensat\w*|\b(?:voucher|gift card|store credit|free replacement)\b"
        r"|\b(?:will|'ll)\s+(?:\w+\s+){0,3}?(?:credit|give you)\b"
    ),
}


class ReplyRefused(StepError):
    """A reply draft breaks its channel's rules (the step fails; nothing is sent)."""


def detect_promises(text: str) -> list[str]:
    """The kinds of promise the text makes: refund, compensation."""
    return [kind for kind, pattern in _PROMISES.items() if pattern.search(text)]


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _phones(text: str, known_ids: tuple[str, ...]) -> list[str]:
    """Phone-like runs of digits that are not a date nor one of the order's own ids."""
    out = []
    for m in _PHONE.finditer(text):
        found = m.group(0).strip()
        if sum(c.isdigit() for c in found) < 7 or _DATE.match(found):
            continue
        if any(found in known for known in known_ids if known):
            continue
        out.append(found)
    return out


def violations(
    text: str, chan: Channel, subject: str | None = None, *, known_ids: tuple[str, ...] = ()
) -> list[str]:
    """Every rule of `chan` the reply breaks, each as a sentence that quotes the offender.
    `known_ids` (the order number …) are never taken for phone numbers."""
    out: list[str] = []
    if not text.strip():
        out.append("the reply is empty")
    if len(text) > chan.max_chars:
        out.append(f"it is {len(text)} characters long; {chan.title} allows {chan.max_chars}")
    if not chan.links:
        found = [m.group(0) for m in _LINK.finditer(text) if not _EMAIL.fullmatch(m.group(0))]
        found = [f for f in found if not any(f in e for e in _EMAIL.findall(text))]
        if found:
            out.append(f"it contains a link ({found[0]!r}); {chan.title} replies may not")
    if not chan.emoji and (emoji := _EMOJI.search(text)):
        out.append(f"it contains an emoji ({emoji.group(0)!r}); {chan.title} replies may not")
    if not chan.contact_details:
        if email := _EMAIL.search(text):
            out.append(
                f"it contains an email address ({email.group(0)!r}); "
                f"{chan.title} replies may not carry contact details"
            )
        if phones := _phones(text, known_ids):
            out.append(
                f"it contains a phone number ({phones[0]!r}); "
                f"{chan.title} replies may not carry contact details"
            )
    for word in chan.banned_words:
        if match := re.search(rf"(?i)(?<!\w){re.escape(word)}(?!\w)", text):
            out.append(
                f"it contains marketing wording ({match.group(0)!r}); "
                f"{chan.title} replies may not promote or ask for positive reviews"
            )
            break
    if chan.shape == "email":
        if not subject or not subject.strip():
            out.append("an email reply needs a subject")
        elif len(subject) > chan.max_subject_chars:
            out.append(
                f"its subject is {len(subject)} characters long; keep it to "
                f"{chan.max_subject_chars} (one line in a mail client)"
            )
        elif "\n" in subject or "\r" in subject:
            out.append("its subject spans several lines")
    elif subject is not None:
        out.append(f"{chan.title} replies have no subject")
    return out


def check_reply(
    text: str,
    chan: Channel,
    subject: str | None = None,
    *,
    known_ids: tuple[str, ...] = (),
    where: str = "",
) -> None:
    """Refuse (ReplyRefused) a reply that breaks any rule of its channel."""
    broken = violations(text, chan, subject, known_ids=known_ids)
    if broken:
        prefix = f"{where}: " if where else ""
        raise ReplyRefused(
            f"{prefix}the {chan.title} reply breaks its channel's rules: " + "; ".join(broken),
            hint="shorten it or remove what the channel forbids (agent/replies/channels.py "
            "lists each channel's rules); facts from the back office are quoted as they are",
        )


__all__ = ["ReplyRefused", "check_reply", "detect_promises", "violations"]
