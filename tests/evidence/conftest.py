"""Fixtures for the evidence store tests: a real store on disk, real PNG screenshots."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from agent.core.settings import EvidenceSettings
from agent.core.states import RunState
from evidence.api import RunRecord
from evidence.store import EvidenceStore


def make_png(width: int = 640, height: int = 400, text: str = "Order 2611") -> bytes:
    """A small page-like picture: a header bar, some text, a button."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, 40), fill=(30, 60, 120))
    draw.text((20, 60), text, fill="black")
    draw.rectangle((20, 100, 140, 130), outline="gray", fill=(230, 230, 230))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "evidence"


@pytest.fixture
def store(store_dir: Path) -> Iterator[EvidenceStore]:
    with EvidenceStore(store_dir, EvidenceSettings()) as opened:
        yield opened


def new_run(store: EvidenceStore, **overrides: object) -> RunRecord:
    fields: dict[str, object] = {
        "recipe": "lookup_order",
        "recipe_version": "1",
        "site": "shoplane",
        "inputs": {"order_id": "2611ABCDEFGHIJ"},
    }
    fields.update(overrides)
    return store.create_run(**fields)  # type: ignore[arg-type]


def full_run(store: EvidenceStore, case_id: str | None = "TICKET-1") -> RunRecord:
    """A run with a trail for all six questions, a gate, an approval, screenshots and DOM."""
    from evidence import events as ev

    if case_id:
        store.open_case(case_id, channel="whatsapp", ask="Where is my refund for 2611?")
    run = new_run(store, case_id=case_id)
    store.transition(run.run_id, RunState.PENDING, RunState.RUNNING)
    store.record(run.run_id, ev.KnowledgeUsed(document_id="refund-policy", version="7"))
    shots = store.put_screenshot(make_png(), highlight=(20, 100, 120, 30))
    dom = store.put_dom("<html><body><p>Order 2611</p><p data-field=status>shipped</p></body>")
    store.record(
        run.run_id,
        ev.PageReviewed(
            url="http://127.0.0.1:8700/order/2611",
            title="Order",
            step=2,
            extracted={"status": "shipped"},
        ),
        artifacts=[*shots, dom],
    )
    store.record(run.run_id, ev.AgentSuggested(suggestion="refund 12.50", by="recipe"))
    gate = store.record_gate(
        run.run_id,
        action="refund",
        summary="Refund 12.50 EUR",
        binds={"order_id": "2611", "amount": "12.50"},
    )
    store.transition(run.run_id, RunState.RUNNING, RunState.PAUSED, reason="gate refund")
    store.record_approval(
        gate.gate_id, approver="sam", decision="approved", bind_hash=gate.bind_hash, note="ok"
    )
    store.gate_transition(gate.gate_id, "pending", "approved")
    store.transition(run.run_id, RunState.PAUSED, RunState.APPROVED)
    store.transition(run.run_id, RunState.APPROVED, RunState.COMMITTING)
    store.record(
        run.run_id,
        ev.ActionDone(
            action="refund",
            summary="refund R-1 issued",
            gate_id=gate.gate_id,
            result={"refund_id": "R-1"},
        ),
    )
    store.record(run.run_id, ev.ReplySent(channel="whatsapp", text="Your refund is on its way"))
    store.gate_transition(gate.gate_id, "approved", "used")
    store.transition(run.run_id, RunState.COMMITTING, RunState.DONE)
    store.finish_run(run.run_id, outputs={"refund_id": "R-1"})
    return store.get_run(run.run_id)
