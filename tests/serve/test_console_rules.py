"""The gate page keeps every approval rule: the initiator never approves, a user without the
role sees no control and a forged POST is refused by the facade, one person in two sessions
is one approver, and a POST without the session's CSRF token is refused before anything.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from agent.core.errors import PolicyError
from agent.core.states import RunState
from tests.gates.conftest import FLAVOR, Prepared
from tests.serve.conftest import Console
from tests.serve.test_console_gate import COMMIT_S, approvals, open_gate


def csrf_of(page: Page) -> str:
    """The signed-in session's CSRF token, as every form on the page carries it."""
    value = page.locator("input[name=csrf]").first.get_attribute("value")
    assert value
    return value


def forged_approve(console: Console, page: Page, prepared: Prepared) -> Any:
    """What a user could send by hand: their own session and CSRF token, the right key."""
    return page.request.post(
        f"{console.url}/gates/{prepared.gate_id}/approve",
        form={"csrf": csrf_of(page), "confirm": prepared.order_id, "note": "forged"},
        max_redirects=0,
    )


def refused_events(console: Console, run_id: str) -> list[dict[str, Any]]:
    events = console.gates.store.events(run_id)
    return [dict(e.data) for e in events if e.kind == "approval_refused"]


def assert_nothing_recorded(console: Console, prepared: Prepared) -> None:
    assert approvals(console, prepared.gate_id) == []
    assert console.gates.store.get_run(prepared.run_id).state is RunState.PAUSED
    assert console.gates.refunds(prepared.order_id) == []


def test_the_initiator_sees_no_approve_control_and_a_forged_approve_is_refused(
    console: Console, page: Page
) -> None:
    prepared = console.gates.refund()  # prepared by lead
    open_gate(console, page, prepared.gate_id, user="lead")
    expect(page.get_by_text("You started this run")).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    expect(page.get_by_role("button", name="Reject")).to_have_count(0)

    forged = forged_approve(console, page, prepared)
    assert forged.status == 403
    assert "started this run and may not approve it" in forged.text()
    assert "Traceback" not in forged.text()
    assert_nothing_recorded(console, prepared)
    [refused] = refused_events(console, prepared.run_id)
    assert refused["user"] == "lead" and refused["proof"].startswith("token ")

    # the same rule through the facade with lead's own token (the CLI's path)
    aijia = console.gates.aijia
    lead = console.gates._run(aijia.identify(console.tokens["lead"]))
    with pytest.raises(PolicyError, match="may not approve"):
        console.gates._run(aijia.approve(prepared.gate_id, as_user=lead))
    assert_nothing_recorded(console, prepared)


def test_a_user_without_the_role_sees_no_control_on_another_gate_and_is_refused(
    console: Console, page: Page
) -> None:
    order = console.gates.sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    result = console.gates.start(
        "prepare_refund",
        user="supervisor",
        order_id=order.order_id,
        amount="1.50",
        reason="damaged",
    )
    assert result.gate is not None and result.run_id is not None, result.error
    prepared = Prepared(result, result.gate.gate_id, result.run_id, order.order_id)
    open_gate(console, page, prepared.gate_id, user="lead")
    expect(page.get_by_text("You may not approve this gate")).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    expect(page.get_by_role("button", name="Reject")).to_have_count(0)

    forged = forged_approve(console, page, prepared)
    assert forged.status == 403 and "lead" in forged.text()
    rejected = page.request.post(
        f"{console.url}/gates/{prepared.gate_id}/reject",
        form={"csrf": csrf_of(page), "reason": "forged"},
        max_redirects=0,
    )
    assert rejected.status == 403
    assert_nothing_recorded(console, prepared)
    assert [r["user"] for r in refused_events(console, prepared.run_id)] == ["lead", "lead"]


def test_a_post_without_the_csrf_token_is_refused_and_records_nothing(
    console: Console, page: Page
) -> None:
    prepared = console.gates.refund()
    open_gate(console, page, prepared.gate_id)
    url = f"{console.url}/gates/{prepared.gate_id}"
    for form in ({"confirm": prepared.order_id}, {"confirm": prepared.order_id, "csrf": "x"}):
        response = page.request.post(url + "/approve", form=form, max_redirects=0)
        assert response.status == 403 and "CSRF" in response.text()
    response = page.request.post(url + "/reject", form={"reason": "no"}, max_redirects=0)
    assert response.status == 403
    assert_nothing_recorded(console, prepared)
    assert refused_events(console, prepared.run_id) == []
    # signed out, the same pages send people to sign in, and the picture is not served
    page.context.clear_cookies()
    signed_out = page.request.get(url, max_redirects=0)
    assert signed_out.status == 303 and "/signin?next=" in signed_out.headers["location"]
    assert page.request.get(url + "/shots/0", max_redirects=0).status == 401
    assert page.request.get(url + "/status.json", max_redirects=0).status == 401


def _two_supervisors(console: Console) -> None:
    """Thresholds low enough that a 1.50 refund needs two distinct supervisors."""
    rules = console.gates.settings.policy.actions["refund"]
    for name in ("supervisor_above", "two_approvers_above"):
        setattr(rules, name, {c: Decimal("1.00") for c in ("MYR", "SGD", "THB", "BRL", "USD")})


def test_one_person_in_two_sessions_is_one_approver_and_a_second_account_completes_it(
    console: Console, page: Page, browser: Browser
) -> None:
    _two_supervisors(console)
    prepared = console.gates.refund()
    assert console.gates.store.get_gate(prepared.gate_id).required_approvals == 2
    open_gate(console, page, prepared.gate_id, user="reviewer")  # below the role: no control
    expect(page.get_by_text("You may not approve this gate")).to_be_visible()

    first, second, other = (browser.new_context() for _ in range(3))
    try:
        one, two, manager = first.new_page(), second.new_page(), other.new_page()
        open_gate(console, one, prepared.gate_id, user="supervisor")
        open_gate(console, two, prepared.gate_id, user="supervisor")  # a second session
        one.get_by_label("Type the order_id").fill(prepared.order_id)
        one.get_by_role("button", name="Approve").click()
        expect(one.get_by_text("You approved this gate; it needs another approver")).to_be_visible()
        expect(one.locator("#progress-text")).to_have_text("waiting for approval (1 of 2)")

        # the second session still shows the form it loaded; submitting it is refused
        two.get_by_label("Type the order_id").fill(prepared.order_id)
        with two.expect_response(re.compile(r"/approve$")) as posted:
            two.get_by_role("button", name="Approve").click()
        assert posted.value.status == 403
        expect(two.get_by_role("alert")).to_contain_text("already approved")
        expect(two.get_by_role("button", name="Approve")).to_have_count(0)
        assert [a.approver for a in approvals(console, prepared.gate_id)] == ["supervisor"]
        assert console.gates.store.get_run(prepared.run_id).state is RunState.PAUSED

        open_gate(console, manager, prepared.gate_id, user="manager")
        manager.get_by_label("Type the order_id").fill(prepared.order_id)
        manager.get_by_role("button", name="Approve").click()
        expect(manager.locator("#run-state")).to_have_text("done", timeout=COMMIT_S * 1000)
    finally:
        for context in (first, second, other):
            context.close()
    assert len(console.gates.refunds(prepared.order_id)) == 1
    assert sorted(a.approver for a in approvals(console, prepared.gate_id)) == [
        "manager",
        "supervisor",
    ]
