"""One real run of the shipped `draft_dispute_reply` (draft_reply + gate) in real Chromium
against the sandbox: the draft is channel-correct, its evidence event records the knowledge
used and that the agent suggested it, the gate binds its words, and the trail verifies."""

from __future__ import annotations

from typing import Any

from agent.core.settings import PROJECT_ROOT
from agent.core.states import RunState
from agent.replies.knowledge import load_knowledge
from tests.recipes.conftest import Runner, product, store  # noqa: F401 - fixtures

FLAVOR = "shoplane"


def test_a_refund_reply_is_drafted_gated_sent_and_its_trail_verifies(
    run: Any,
    chromium: Any,
    product: Any,  # noqa: F811
    store: Any,  # noqa: F811
    sandbox: Any,
):
    runner = Runner(FLAVOR, run, chromium, product, store)
    order = sandbox.find_orders(FLAVOR, "return_requested", limit=1)[0]
    result = runner(
        "draft_dispute_reply",
        order_id=order.order_id,
        decision="accept",
        channel="amazon_buyer_message",
    )
    assert result.state is RunState.PAUSED, result.error
    assert result.gate is not None and result.run_id is not None
    [drafted] = [e for e in store.events(result.run_id) if e.kind == "reply_drafted"]
    data = drafted.data
    assert data["channel"] == "amazon_buyer_message" and data["intent"] == "refund_offer"
    assert data["agent_suggested"] is True and data["writer"] == "template"
    assert data["promises"] == ["refund"]
    assert order.order_id in data["text"] and "http" not in data["text"]
    assert "within 3 working days" in data["text"]  # refund_policy's refund_days
    shipped = load_knowledge(PROJECT_ROOT / "recipes" / "knowledge", ["refund_policy"])[0]
    used = {k["id"]: k for k in data["knowledge_used"]}
    assert set(used) == {"refund_policy", "shipping_delays"}
    assert used["refund_policy"]["version"] == str(shipped.front.version)
    assert used["refund_policy"]["sha256"] == shipped.sha256
    # the reviewer approves the exact words: the gate binds the draft's text
    assert result.gate.binds["reply"] == data["text"]
    assert result.gate.binds["reply"].startswith("Dear ")

    runner.approve(result)
    done = runner.resume(result, as_user="supervisor")
    assert done.state is RunState.DONE, done.error
    notes = [n["body"] for n in sandbox.ledger(FLAVOR)["notes"]]
    assert any(n.replace("\r\n", "\n") == f"Reply to buyer: {data['text']}" for n in notes)
    report = store.verify([result.run_id])
    assert report.ok, report
