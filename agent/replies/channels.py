"""Per-channel rules for a reply to a buyer: limits, links, emoji, tone, shape.

Each channel is data (a frozen `Channel`), with a comment per rule saying where it comes from.
Limits are the platform's own hard limit when it publishes one; where a platform's policy is
stricter than its input box (Amazon), the policy wins. The checker (agent/replies/check.py)
refuses a draft that breaks any of these rules, whoever wrote it: a template or, later, an LLM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from agent.core.errors import StepError

Shape = Literal["text", "email"]


@dataclass(frozen=True)
class Channel:
    """What a reply on one channel may look like."""

    name: str
    title: str  # for messages and reports
    max_chars: int  # the whole text (for email: the body)
    links: bool  # may the text carry a URL or a bare domain?
    emoji: bool  # may the text carry emoji?
    greeting: str  # a template: `name` is the buyer's name (may be empty)
    sign_off: str  # a template: `signature` is the team's signature (may be empty)
    tone: str  # a word for reviewers and, later, an LLM's instructions
    shape: Shape = "text"
    max_subject_chars: int = 0  # email only
    contact_details: bool = True  # may the text carry an email address or a phone number?
    # words that make a message marketing (a coupon, a promotion): refused where banned
    banned_words: tuple[str, ...] = field(default_factory=tuple)
    short: bool = False  # use the intents' one-line wording (public comments)


# Marketing words Amazon's communication guidelines name as not permitted in buyer-seller
# messages ("marketing or promotional messaging, including coupons"), plus review begging
# ("language encouraging positive reviews") — matched as whole words, case-insensitively.
AMAZON_BANNED = (
    "coupon",
    "discount code",
    "promo",
    "promotion",
    "sale",
    "deal",
    "offer ends",
    "new arrivals",
    "follow us",
    "subscribe",
    "newsletter",
    "5-star",
    "five-star",
    "5 star",
    "positive review",
    "positive feedback",
)

CHANNELS: dict[str, Channel] = {
    c.name: c
    for c in (
        Channel(
            name="whatsapp",
            title="WhatsApp",
            # WhatsApp Business Platform: a text message body is at most 4096 characters
            # (Cloud API reference, "text.body").
            max_chars=4096,
            # links are allowed in a reply inside the 24-hour customer service window
            links=True,
            emoji=True,
            greeting="Hi {{ name or 'there' }},",
            sign_off="{{ signature }}",
            tone="friendly, short paragraphs",
        ),
        Channel(
            name="line",
            title="LINE",
            # LINE Messaging API: a text message is at most 5000 characters.
            max_chars=5000,
            links=True,
            emoji=True,
            greeting="Hello {{ name or 'there' }},",
            sign_off="{{ signature }}",
            tone="polite, short paragraphs",
        ),
        Channel(
            name="tiktok_comment",
            title="TikTok comment",
            # TikTok: a comment is at most 150 characters; it is public, so no order details
            # beyond the order number and no contact details.
            max_chars=150,
            # TikTok removes or hides comments with links (Community Guidelines, spam).
            links=False,
            emoji=True,
            greeting="{{ ('@' ~ name | replace(' ', '')) if name else '' }}",
            sign_off="",
            tone="brief, public, invite to DM",
            contact_details=False,
            short=True,
        ),
        Channel(
            name="instagram_dm",
            title="Instagram DM",
            # Instagram Messaging API: a text message is at most 1000 characters.
            max_chars=1000,
            links=True,
            emoji=True,
            greeting="Hi {{ name or 'there' }},",
            sign_off="{{ signature }}",
            tone="friendly, brief",
        ),
        Channel(
            name="amazon_buyer_message",
            title="Amazon buyer-seller message",
            # Amazon Buyer-Seller Messaging: no hard limit is published for the body; messages
            # are order-specific and short. 4000 keeps well inside what Seller Central accepts.
            max_chars=4000,
            # Amazon communication guidelines: no external links unless required for order
            # completion; no email addresses or phone numbers (buyers are reached only through
            # Buyer-Seller Messaging); no emoji or animated GIFs (November 2020 update);
            # no marketing or promotional messaging, including coupons.
            links=False,
            emoji=False,
            contact_details=False,
            banned_words=AMAZON_BANNED,
            greeting="Dear {{ name or 'customer' }},",
            sign_off="Kind regards,\n{{ signature }}",
            tone="formal, order-specific, no marketing",
        ),
        Channel(
            name="email",
            title="Email",
            shape="email",
            # No protocol limit on a body; 10000 keeps a support reply readable.
            max_chars=10_000,
            # RFC 5322 2.1.1: lines SHOULD be at most 78 characters; a subject that fits one
            # line is shown whole by mail clients.
            max_subject_chars=78,
            links=True,
            emoji=False,  # many support mail clients render emoji as boxes; keep it plain
            greeting="Dear {{ name or 'customer' }},",
            sign_off="Kind regards,\n{{ signature }}",
            tone="formal",
        ),
    )
}


def channel(name: str) -> Channel:
    """The rules of a channel by name; StepError naming the known ones when unknown."""
    try:
        return CHANNELS[name]
    except KeyError:
        raise StepError(
            f"unknown reply channel {name!r}",
            hint=f"channels: {', '.join(CHANNELS)}",
        ) from None


__all__ = ["AMAZON_BANNED", "CHANNELS", "Channel", "Shape", "channel"]
