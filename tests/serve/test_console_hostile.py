"""Two things no single page shows: a seller's own text (an internal note another person wrote
in the back office, read by the recipe) reaching every console page only as text, and two
reviewers approving the same gate at the same moment giving one approval and one refund."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from agent.core.settings import PROJECT_ROOT
from agent.core.states import RunState
from agent.recipes.model import load_recipe
from tests.gates.conftest import FLAVOR, PASSWORD
from tests.serve.conftest import Console

HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>&amp; "quoted" \u202eevil'

# Reads the order's latest internal note (seller-side text) into the gate's summary and binds.
NOTE_RECIPE = """
name: route_by_note
version: "1"
site: shoplane
description: Escalate an order, quoting the internal note a colleague left on it.
inputs:
  order_id: {type: string, pattern: "^[0-9A-Z]{14}$"}
session: login
steps:
  - goto: /portal/sale/order?search={{ inputs.order_id }}
  - click: {role: link, name: "{{ inputs.order_id }}", exact: true}
  - extract:
      seen: {css: "#notes li > span:first-child", nth: -1}  # the newest note
  - set:
      note: "ESCALATED: {{ seen }}"
  - fill: {label: Add note, exact: true, value: "{{ note }}"}
  - gate:
      action: escalate
      summary: "Escalate {{ inputs.order_id }}: {{ seen }}"
      binds: {order_id: "{{ inputs.order_id }}", note: "{{ note }}", seen: "{{ seen }}"}
  - click: {role: button, name: Save note, exact: true}
    mutates: true
commits:
  method: POST
  url: /portal/sale/order/{{ inputs.order_id }}/notes
  fields: {note: note}
  other_fields: empty
  ignore: [csrf_token]
"""


def test_a_sellers_note_is_shown_as_text_on_the_queue_gate_and_timeline(
    console: Console, page: Page, tmp_path: Path
) -> None:
    gates = console.gates
    order = gates.sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    gates.sandbox.mutate_order(FLAVOR, order.order_id, note=HOSTILE)
    path = tmp_path / "route_by_note.yaml"
    path.write_text(NOTE_RECIPE, encoding="utf-8")
    login = PROJECT_ROOT / "recipes" / FLAVOR / "login.yaml"
    (tmp_path / "login.yaml").write_bytes(login.read_bytes())
    result = gates._run(
        gates.aijia.run(load_recipe(path), {"order_id": order.order_id}, as_user="lead")
    )
    assert result.state is RunState.PAUSED and result.gate is not None, result.error
    gate_id, run_id = result.gate.gate_id, result.run_id
    assert gates.store.get_gate(gate_id).binds["seen"] == HOSTILE  # the seller's bytes, as is

    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    console.sign_in(page, "reviewer")
    for path_ in ("/", f"/gates/{gate_id}", f"/runs/{run_id}"):
        page.goto(console.url + path_)
        expect(page.get_by_text(HOSTILE, exact=False).first).to_be_visible()
        assert page.locator("img[src=x], main script").count() == 0, path_
    # the live queue refresh (queue.js, every 3 s) renders it as text too
    page.goto(console.url + "/")
    with page.expect_response(lambda r: "/queue.json" in r.url, timeout=10_000):
        pass  # the table body is rebuilt from this answer
    page.wait_for_timeout(200)
    expect(page.get_by_text(HOSTILE, exact=False).first).to_be_visible()
    assert page.locator("img[src=x], main script").count() == 0
    assert dialogs == []


def _signed_in(console: Console, user: str) -> httpx.Client:
    client = httpx.Client(base_url=console.url, timeout=30)
    form = client.get("/signin").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    done = client.post(
        "/signin", data={"name": user, "password": PASSWORD, "csrf": csrf[1], "next": "/"}
    )
    assert done.status_code == 303 and done.headers["location"] == "/", done.text
    return client


def test_two_reviewers_approving_at_the_same_moment_give_one_refund(console: Console) -> None:
    prepared = console.gates.refund(amount="1.50")  # one approver needed
    with contextlib.ExitStack() as stack:
        clients = [_signed_in(console, user) for user in ("reviewer", "supervisor")]
        for client in clients:
            stack.callback(client.close)
        forms = []
        for client in clients:
            page = client.get(f"/gates/{prepared.gate_id}").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            assert csrf is not None and "Approve" in page
            forms.append({"csrf": csrf[1], "confirm": prepared.order_id, "note": ""})
        start = threading.Barrier(2)
        answers: list[Any] = [None, None]

        def approve(i: int) -> None:
            start.wait()
            answers[i] = clients[i].post(f"/gates/{prepared.gate_id}/approve", data=forms[i])

        threads = [threading.Thread(target=approve, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        codes = sorted(a.status_code for a in answers)
        assert codes == [303, 409], [(a.status_code, a.text[:300]) for a in answers]
        refused = next(a for a in answers if a.status_code == 409)
        assert "already" in refused.text
        assert len(console.gates.store.approvals(prepared.gate_id)) == 1

        # the approver watches the worker commit it, as the gate page's script does
        state = ""
        for _ in range(600):
            state = clients[0].get(f"/gates/{prepared.gate_id}/status.json").json()["run_state"]
            if state not in ("approved", "committing"):
                break
            time.sleep(0.1)
        assert state == "done"
    assert console.gates.store.get_run(prepared.run_id).state is RunState.DONE
    assert len(console.gates.refunds(prepared.order_id)) == 1
