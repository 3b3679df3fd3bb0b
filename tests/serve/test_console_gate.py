"""The gate page as a reviewer uses it: the evidence, approve by typing the key value, the
commit's progress to done, reject with a reason, hostile seller strings shown as text.

Real Chromium browses `aijia serve` (console + commit worker, in-process) over the sandbox.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from agent.core.states import RunState
from tests.gates.conftest import FLAVOR
from tests.recipes.conftest import recipe
from tests.serve.conftest import Console

COMMIT_S = 60  # the worker re-runs the prepare phase in a fresh context, then commits


def open_gate(console: Console, page: Page, gate_id: str, user: str = "reviewer") -> None:
    console.sign_in(page, user)
    page.goto(f"{console.url}/gates/{gate_id}")
    expect(page.get_by_role("heading", name="What is asked")).to_be_visible()


def approvals(console: Console, gate_id: str) -> list[Any]:
    return console.gates.store.approvals(gate_id)


def test_reviewer_sees_the_evidence_approves_by_typing_the_order_id_and_watches_it_commit(
    console: Console, page: Page
) -> None:
    prepared = console.gates.refund(amount="1.50")
    open_gate(console, page, prepared.gate_id)

    # what is asked: the exact binds, who asked, the policy
    binds = page.locator("table.binds")
    expect(binds).to_contain_text(prepared.order_id)
    expect(binds.get_by_role("row", name=re.compile(r"^amount 1\.50"))).to_be_visible()
    expect(page.locator("table.facts")).to_contain_text("lead")
    expect(page.get_by_text("one approver with", exact=False)).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("evidence timeline"))).to_have_attribute(
        "href", f"/runs/{prepared.run_id}"
    )

    # the labelled screenshots: the order page, the form with the commit button outlined
    order_page = page.get_by_role("img", name=re.compile(r"order page$"))
    form = page.get_by_role("img", name=re.compile(r"refund form.*highlighted element outlined"))
    for image in (order_page, form):
        expect(image).to_be_visible()
        image.scroll_into_view_if_needed()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
        )
        src = image.get_attribute("src")
        assert src is not None and src.startswith(f"/gates/{prepared.gate_id}/shots/")
        shot = page.request.get(console.url + src)
        assert shot.status == 200
        assert shot.headers["content-type"] == "image/png"
        assert shot.body()[:8] == b"\x89PNG\r\n\x1a\n"

    page.get_by_label("Type the order_id").fill(prepared.order_id)
    page.get_by_label("Note (optional)").fill("checked the photos")
    page.get_by_role("button", name="Approve").click()

    # the page follows the worker's commit (gate.js) to done and shows the refund id
    expect(page.locator("#run-state")).to_have_text("done", timeout=COMMIT_S * 1000)
    expect(page.locator("#outputs")).to_contain_text("refund_id")
    [refund] = console.gates.refunds(prepared.order_id)
    expect(page.locator("#outputs")).to_contain_text(str(refund["refund_id"]))
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    [approval] = approvals(console, prepared.gate_id)
    assert (approval.approver, approval.note) == ("reviewer", "checked the photos")
    assert approval.proof and approval.proof.startswith("token ")

    # the run's timeline lists the decision and the commit, and links the full report
    page.get_by_role("link", name=re.compile("evidence timeline")).click()
    timeline = page.locator("table.timeline")
    expect(timeline.locator("tr[data-kind=approved]")).to_contain_text("Approved by reviewer")
    expect(timeline).to_contain_text("committing → done")
    report = page.request.get(f"{console.url}/runs/{prepared.run_id}/report")
    assert report.status == 200 and prepared.order_id in report.text()
    assert "script-src" not in report.headers["content-security-policy"]
    assert "default-src 'none'" in report.headers["content-security-policy"]


def test_a_wrong_order_id_refuses_and_records_nothing(console: Console, page: Page) -> None:
    prepared = console.gates.refund()
    open_gate(console, page, prepared.gate_id)
    page.get_by_label("Type the order_id").fill(prepared.order_id[:-1] + "X")
    with page.expect_response(f"**/gates/{prepared.gate_id}/approve") as posted:
        page.get_by_role("button", name="Approve").click()
    assert posted.value.status == 400
    expect(page.get_by_role("alert")).to_contain_text("not this gate's order_id")
    expect(page.get_by_role("alert")).to_contain_text("nothing was recorded")
    assert approvals(console, prepared.gate_id) == []
    assert console.gates.store.get_run(prepared.run_id).state is RunState.PAUSED
    # the form is still there, to try again
    expect(page.get_by_role("button", name="Approve")).to_be_visible()


def test_reject_needs_a_reason_then_closes_the_run_with_nothing_committed(
    console: Console, page: Page
) -> None:
    prepared = console.gates.refund()
    open_gate(console, page, prepared.gate_id)
    page.get_by_label("Reason for rejecting").fill("   ")  # passes `required`, not the server
    with page.expect_response(f"**/gates/{prepared.gate_id}/reject") as posted:
        page.get_by_role("button", name="Reject").click()
    assert posted.value.status == 400
    expect(page.get_by_role("alert")).to_contain_text("a reason is required")
    assert approvals(console, prepared.gate_id) == []

    page.get_by_label("Reason for rejecting").fill("wrong order: the customer meant another")
    page.get_by_role("button", name="Reject").click()
    expect(page.locator("#run-state")).to_have_text("rejected")
    expect(page.locator("table.decisions")).to_contain_text("the customer meant another")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    assert console.gates.store.get_run(prepared.run_id).state is RunState.REJECTED
    assert console.gates.refunds(prepared.order_id) == []


HOSTILE = "<script>alert('ask')</script><img src=x onerror=\"alert('img')\"> & \"quotes\""


def test_seller_and_customer_strings_show_as_text(console: Console, page: Page) -> None:
    gates = console.gates
    order = gates.sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    gates._run(gates.aijia.open_case("CASE-XSS", channel="email", ask=HOSTILE))
    result = gates._run(
        gates.aijia.run(
            recipe(FLAVOR, "prepare_refund"),
            {"order_id": order.order_id, "amount": "1.50", "reason": "damaged"},
            as_user="lead",
            case="CASE-XSS",
        )
    )
    assert result.gate is not None, result.error
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_gate(console, page, result.gate.gate_id)
    expect(page.locator("blockquote.ask")).to_have_text(HOSTILE)
    assert page.locator("main script, main img[src=x]").count() == 0
    page.goto(f"{console.url}/runs/{result.run_id}")
    expect(page.locator("tr[data-kind=customer_asked]")).to_contain_text(HOSTILE)
    assert page.locator("main script, main img[src=x]").count() == 0
    page.wait_for_timeout(300)
    assert dialogs == []


def test_drift_after_approval_shows_the_newer_gate_with_approved_and_found_values(
    console: Console, page: Page
) -> None:
    prepared = console.gates.refund(amount="1.50")
    before = prepared.result.gate.binds["refundable_before"] if prepared.result.gate else None
    # someone refunds this order in the back office between prepare and the commit
    console.gates.sandbox.mutate_order(FLAVOR, prepared.order_id, refund_amount="5.00")
    open_gate(console, page, prepared.gate_id)
    page.get_by_label("Type the order_id").fill(prepared.order_id)
    page.get_by_role("button", name="Approve").click()

    # the worker finds what would be sent changed: the run pauses at a newer gate
    expect(page.locator("#newer-gate")).to_be_visible(timeout=COMMIT_S * 1000)
    expect(page.locator("#progress-text")).to_contain_text("paused again")
    page.locator("#newer-gate-link").click()
    drift = page.locator("section.drift")
    row = drift.get_by_role("row", name=re.compile("refundable_before"))
    expect(row.locator("td.was")).to_have_text(str(before))
    expect(row.locator("td.now")).not_to_have_text(str(before))
    expect(row.locator("td.now")).to_have_text(re.compile(r"\d"))
    expect(page.get_by_role("button", name="Approve")).to_be_visible()  # asked again
    assert [r["amount"] for r in console.gates.refunds(prepared.order_id)] == ["5.00"]
