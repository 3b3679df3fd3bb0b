"""Every channel gets a correct draft from its template with no LLM, and the checker refuses
drafts that break a channel's rules (length, links, emoji, contact details, marketing,
email subject)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.core.settings import PROJECT_ROOT
from agent.replies.channels import CHANNELS, channel
from agent.replies.check import ReplyRefused, check_reply, detect_promises, violations
from agent.replies.draft import INTENTS, compose
from agent.replies.knowledge import all_knowledge

ORDER = "260101ABCDEFGH"
FACTS = {
    "order_id": ORDER,
    "buyer": "Ann Lee",
    "amount": "12.50 USD",
    "compensation": "a 5 USD voucher",
    "courier_status": "Held at the depot",
    "status": "your parcel left our warehouse today",
}
KNOWLEDGE = all_knowledge(PROJECT_ROOT / "recipes" / "knowledge")


@pytest.mark.parametrize("intent", sorted(INTENTS))
@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_every_channel_and_intent_gives_a_draft_its_channel_accepts(name: str, intent: str):
    chan = CHANNELS[name]
    draft = compose(chan, intent, FACTS, KNOWLEDGE)
    assert violations(draft.text, chan, draft.subject, known_ids=(ORDER,)) == []
    assert 0 < len(draft.text) <= chan.max_chars
    assert (draft.subject is not None) == (name == "email")
    if chan.short:  # a public comment: one line, no order details
        assert "\n" not in draft.text and ORDER not in draft.text
    else:
        assert ORDER in draft.text
    assert set(draft.promises) == set(INTENTS[intent].promises)


def test_channel_layouts_follow_their_rules():
    refund = {n: compose(c, "refund_offer", FACTS, KNOWLEDGE) for n, c in CHANNELS.items()}
    assert refund["email"].subject == f"Your refund for order {ORDER}"
    assert refund["email"].text.startswith("Dear Ann Lee,\n\n")
    assert refund["email"].text.endswith("Kind regards,\nCustomer Care")
    assert refund["whatsapp"].text.startswith("Hi Ann Lee,")
    assert refund["tiktok_comment"].text.startswith("@AnnLee ")
    assert len(refund["tiktok_comment"].text) <= 150
    # the refund policy's refund_days (3) is quoted from the knowledge file
    assert "within 3 working days" in refund["amazon_buyer_message"].text
    amazon = refund["amazon_buyer_message"].text
    assert "http" not in amazon and "www." not in amazon
    assert violations(amazon, CHANNELS["amazon_buyer_message"], known_ids=(ORDER,)) == []
    assert detect_promises(refund["email"].text) == ["refund"]


def test_hostile_facts_are_quoted_as_data_and_then_refused_where_forbidden():
    facts = {**FACTS, "buyer": "{{ site.credentials }} see https://evil.example.com"}
    draft = compose(CHANNELS["amazon_buyer_message"], "ask_photos", facts, [])
    assert "{{ site.credentials }}" in draft.text  # printed, never evaluated
    with pytest.raises(ReplyRefused, match=r"contains a link \('https://evil.example.com'\)"):
        check_reply(draft.text, CHANNELS["amazon_buyer_message"], known_ids=(ORDER,))
    ok = compose(CHANNELS["whatsapp"], "ask_photos", facts, [])
    assert violations(ok.text, CHANNELS["whatsapp"]) == []  # WhatsApp allows links


@pytest.mark.parametrize(
    ("name", "text", "subject", "refusal"),
    [
        ("tiktok_comment", "x" * 151, None, "151 characters long; TikTok comment allows 150"),
        ("instagram_dm", "y" * 1001, None, "Instagram DM allows 1000"),
        ("whatsapp", "z" * 4097, None, "WhatsApp allows 4096"),
        ("line", "w" * 5001, None, "LINE allows 5000"),
        ("tiktok_comment", "See shop.example.com/sale", None, "contains a link"),
        ("amazon_buyer_message", "Visit www.myshop.io now", None, "contains a link"),
        ("amazon_buyer_message", "Thanks for your order! \U0001f600", None, "an emoji"),
        ("amazon_buyer_message", "Use coupon SAVE10 next time", None, "marketing wording"),
        ("amazon_buyer_message", "Please leave a 5-star review", None, "marketing wording"),
        ("amazon_buyer_message", "Write to me at bob@shop.example", None, "an email address"),
        ("amazon_buyer_message", "Call us on +44 20 7946 0958", None, "a phone number"),
        ("email", "Dear Ann, hello", None, "needs a subject"),
        ("email", "Dear Ann, hello", "S" * 79, "subject is 79 characters long"),
        ("whatsapp", "Hi Ann", "a subject", "have no subject"),
        ("line", "   ", None, "the reply is empty"),
    ],
)
def test_the_checker_refuses_each_broken_rule(name, text, subject, refusal):
    with pytest.raises(ReplyRefused, match="breaks its channel's rules") as refused:
        check_reply(text, channel(name), subject, where="step 4")
    assert refusal in refused.value.message
    assert refused.value.message.startswith("step 4: ")
    assert refused.value.hint


def test_order_numbers_and_dates_are_not_phone_numbers():
    amazon = channel("amazon_buyer_message")
    text = "Your order 123-4567890-1234567 left on 2026-12-01."
    assert violations(text, amazon, known_ids=("123-4567890-1234567",)) == []
    assert violations(text, amazon) != []  # without knowing the order id, it looks like one


def test_promises_are_found_in_words():
    assert detect_promises("We will issue a full refund today.") == ["refund"]
    assert detect_promises("We'll send you a voucher for the trouble.") == ["compensation"]
    assert detect_promises("We are checking your refund request.") == []


def test_unknown_channel_names_the_known_ones(tmp_path: Path):
    with pytest.raises(Exception, match="unknown reply channel 'fax'") as err:
        channel("fax")
    assert "whatsapp" in str(err.value)
