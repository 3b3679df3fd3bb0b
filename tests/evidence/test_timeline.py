"""The timeline the CLI and the report show, from events as the runner writes them."""

from __future__ import annotations

from agent.core.states import RunState
from evidence.report import standalone_report
from evidence.store import EvidenceStore
from evidence.timeline import build_timeline
from tests.evidence.conftest import full_run, make_png, new_run


def test_runner_style_captures_answer_which_pages_were_reviewed(store: EvidenceStore) -> None:
    run = new_run(store)
    store.transition(run.run_id, RunState.PENDING, RunState.RUNNING)
    refs = store.put_screenshot(make_png(), highlight=(20, 100, 120, 30))
    refs.append(store.put_dom("<p>Order</p>", site="shoplane"))
    store.append_event(
        run.run_id,
        "page_captured",
        {"label": "order_page", "url": "http://127.0.0.1:8700/o/1", "title": "Order 1"},
        refs,
    )
    timeline = build_timeline(store, run.run_id)
    [captured] = timeline.answers["Which back-office pages were reviewed?"]
    assert captured.title == "Page captured (order_page): Order 1"
    assert captured.url == "http://127.0.0.1:8700/o/1"
    assert captured.screenshot is not None and captured.screenshot.kind == "screenshot_annotated"
    assert captured.thumbnail is not None
    assert [o.kind for o in captured.others] == ["dom"]
    assert captured.values == {}


def test_every_question_is_answered_by_a_full_trail(store: EvidenceStore) -> None:
    run = full_run(store)
    timeline = build_timeline(store, run.run_id)
    assert all(timeline.answers.values())
    assert timeline.root_hash == store.manifest(run.run_id)["root_hash"]  # type: ignore[index]
    [gate] = timeline.gates
    assert [a.approver for a in timeline.approvals] == ["sam"] and gate.state == "used"


def test_report_escapes_what_pages_and_customers_wrote(store: EvidenceStore) -> None:
    store.open_case("T-X", channel="email", ask="<script>alert(1)</script>")
    run = new_run(store, case_id="T-X")
    html = standalone_report(store, [run.run_id])
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
