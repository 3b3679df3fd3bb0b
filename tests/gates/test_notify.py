"""Notifications on every gate change, to a real local receiver over HTTP.

The receiver (`Receiver`, an http.server thread on 127.0.0.1) records every POST with its raw
headers and body, and checks the signature with agent/gates/webhook_verify.py, as a team's own
receiver would. Refunds run against the sandbox in real Chromium (tests/gates/conftest.py).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.core.errors import GateError
from agent.core.states import RunState
from agent.engine.lifecycle import expire_overdue_gates
from agent.gates.notify import gate_changed
from agent.gates.webhook_verify import WebhookRejected, signature, verify
from tests.gates.conftest import FLAVOR, Cli, Gates
from tests.recipes.conftest import recipe

SECRET = "whsec-test-4f1b8c2e9d"  # the shared secret, through $AIJIA_TEST_HOOK_SECRET
CONSOLE = "https://aijia.example.test"


@dataclass(frozen=True)
class Post:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Records POSTs; `/hang` answers after `hang_s` (a receiver that hangs)."""

    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.hang_s = 5.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.startswith("/hang"):
                    time.sleep(receiver.hang_s)
                receiver.posts.append(Post(self.path, dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def hook(self) -> list[Post]:
        return [p for p in self.posts if p.path == "/hook"]

    def apprise(self) -> list[Post]:
        return [p for p in self.posts if p.path == "/apprise"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.thread.start()
    yield found
    found.hang_s = 0
    found.server.shutdown()
    found.server.server_close()
    found.thread.join()


@pytest.fixture
def signed(gates: Gates, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Gates:
    """The gates' settings with a signed JSON webhook, an apprise channel and a console URL."""
    monkeypatch.setenv("AIJIA_TEST_HOOK_SECRET", SECRET)
    hook = gates.settings.webhook
    hook.url, hook.secret, hook.timeout_s = (
        f"{receiver.url}/hook",
        {"$env": "AIJIA_TEST_HOOK_SECRET"},
        5,
    )
    gates.settings.notify.urls = [f"json://127.0.0.1:{receiver.server.server_port}/apprise"]
    gates.settings.console.public_url = CONSOLE
    return gates


def _two_approvers(gates: Gates) -> None:
    rules = gates.settings.policy.actions["refund"]
    rules.two_approvers_above = {c: Decimal("1.00") for c in ("MYR", "SGD", "THB", "BRL", "USD")}


def _verified(posts: list[Post], seen: set[str]) -> list[dict[str, Any]]:
    return [verify(SECRET, p.headers, p.body, seen=seen) for p in posts]


def test_a_refund_notifies_every_change_signed_with_a_link(signed: Gates, receiver: Receiver):
    gates = signed
    _two_approvers(gates)
    order = gates.sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    gates._run(gates.aijia.open_case("C-77", channel="email", ask="My parcel arrived crushed"))
    started = gates._run(
        gates.aijia.run(
            recipe(FLAVOR, "prepare_refund"),
            {"order_id": order.order_id, "amount": "1.50", "reason": "damaged"},
            as_user="lead",
            case="C-77",
        )
    )
    assert started.gate is not None and started.gate.gate_id, started.error
    gate_id, run_id = started.gate.gate_id, str(started.run_id)
    assert not gates.approve(gate_id, "supervisor").complete
    assert gates.approve(gate_id, "manager").complete
    done = gates.resume(run_id, user="supervisor")
    assert done.state is RunState.DONE, done.error

    seen: set[str] = set()
    notices = _verified(receiver.hook(), seen)
    assert [n["event"] for n in notices] == [
        "gate_opened",
        "approval_recorded",
        "gate_approved",
        "run_committed",
    ]
    opened, first, approved, committed = notices
    link = f"{CONSOLE}/gates/{gate_id}"
    assert all(n["link"] == link and n["gate_id"] == gate_id for n in notices)
    assert opened["customer_ask"] == "My parcel arrived crushed" and opened["case_id"] == "C-77"
    assert (opened["initiator"], opened["amount"], opened["action"]) == ("lead", "1.50", "refund")
    assert opened["binds"]["order_id"] == order.order_id and opened["recipe"] == "prepare_refund"
    assert "two distinct approvers" in opened["requires"] and opened["expires_at"]
    labels = [s["label"] for s in opened["screenshots"]]
    assert any(label.endswith("· order page") for label in labels), labels
    assert any("refund form (highlighted element outlined)" in x for x in labels), labels
    assert all(s["name"].endswith(".png") for s in opened["screenshots"])
    assert (first["approvals_count"], first["approvals_needed"]) == (1, 2)
    assert first["decided_by"] == "supervisor" and "supervisor" not in first["approvers"]
    assert approved["decided_by"] == "manager" and approved["approvals_count"] == 2
    assert committed["run_state"] == "done" and committed["detail"]["refund_id"]

    # a captured request sent again, altered, or late is refused by the receiver
    post = receiver.hook()[0]
    with pytest.raises(WebhookRejected) as replay:
        verify(SECRET, post.headers, post.body, seen=seen)
    assert replay.value.reason == "replayed"
    fresh_id = {**post.headers, "X-Aijia-Delivery": "another-id"}
    with pytest.raises(WebhookRejected, match="replayed"):
        verify(SECRET, fresh_id, post.body, seen=seen)
    altered = post.body.replace(b'"amount":"1.50"', b'"amount":"150.00"')
    assert altered != post.body
    with pytest.raises(WebhookRejected) as bad:
        verify(SECRET, post.headers, altered, seen=set())
    assert bad.value.reason == "bad_signature"
    sent_at = int(post.headers["X-Aijia-Timestamp"])
    with pytest.raises(WebhookRejected) as stale:
        verify(SECRET, post.headers, post.body, seen=set(), now=sent_at + 301)
    assert stale.value.reason == "too_old"
    restamped = {**post.headers, "X-Aijia-Timestamp": str(int(time.time()))}
    with pytest.raises(WebhookRejected, match="bad_signature"):
        verify(SECRET, restamped, post.body, seen=set())
    with pytest.raises(WebhookRejected, match="bad_signature"):
        verify("another secret", post.headers, post.body, seen=set())

    # apprise (json://) got the same four changes, headline as title
    titles = [p.json()["title"] for p in receiver.apprise()]
    assert [t.split(":")[0] for t in titles] == [
        "Approval needed",
        "Approval 1 of 2 recorded",
        "Approved",
        "Done",
    ], titles
    assert link in receiver.apprise()[0].json()["message"]

    events = gates.store.events(run_id)
    kinds = [e.kind for e in events]
    assert kinds.count("webhook_sent") == 4 and kinds.count("notify_sent") == 4
    trail = json.dumps([dict(e.data) for e in events])
    assert SECRET not in trail and "v1=" not in trail, "never the secret or the signature"
    assert all(e.data["to"] == receiver.url for e in events if e.kind == "webhook_sent")


def test_a_rejection_reaches_the_requester_and_a_dead_receiver_costs_the_timeout(
    signed: Gates, receiver: Receiver
):
    gates = signed
    prepared = gates.refund()
    gates.reject(prepared.gate_id, "reviewer", reason="photo shows no damage")
    rejected = _verified(receiver.hook(), set())[-1]
    assert rejected["event"] == "gate_rejected"
    assert rejected["reason"] == "photo shows no damage"
    assert (rejected["initiator"], rejected["decided_by"]) == ("lead", "reviewer")
    assert rejected["run_state"] == "rejected"

    settings, policy = gates.settings, gates.policy
    settings.webhook.timeout_s = 0.5
    settings.notify.urls = []
    for url in (f"{receiver.url}/hang", "http://127.0.0.1:9/down"):
        settings.webhook.url = url
        began = time.monotonic()
        outcome = gate_changed(gates.store, settings, policy, prepared.gate_id, "gate_rejected")
        assert time.monotonic() - began < 0.5 + 0.4, url
        assert outcome == ["webhook_failed"], url
    failed = [e for e in gates.store.events(prepared.run_id) if e.kind == "webhook_failed"]
    assert len(failed) == 2 and "no answer within 0.5s" in failed[0].data["error"]
    assert all(SECRET not in json.dumps(dict(e.data)) for e in failed)

    settings.notify.events = ["gate_opened"]  # filtered out: nothing sent, nothing recorded
    assert gate_changed(gates.store, settings, policy, prepared.gate_id, "gate_rejected") == []


def test_slack_format_and_an_expired_gate(signed: Gates, receiver: Receiver):
    gates = signed
    gates.settings.webhook.format = "slack"
    gates.settings.policy.approval_ttl_hours = 1.5 / 3600  # the gate expires 1.5 s after opening
    prepared = gates.refund()
    time.sleep(1.6)
    with pytest.raises(GateError, match="expired"):
        gates.approve(prepared.gate_id, "reviewer")
    opened, expired = _verified(receiver.hook(), set())
    link = f"{CONSOLE}/gates/{prepared.gate_id}"
    for message in (opened, expired):
        assert set(message) == {"text", "blocks"} and message["text"]
        types = [b["type"] for b in message["blocks"]]
        assert types[:2] == ["header", "section"] and types[-1] == "actions", types
        [button] = message["blocks"][-1]["elements"]
        assert button["type"] == "button" and button["url"] == link
        assert all(f["type"] == "mrkdwn" for f in message["blocks"][1]["fields"])
        assert len(message["blocks"][1]["fields"]) <= 10
    assert opened["text"].startswith("Approval needed: Refund 1.50")
    assert expired["text"].startswith("Expired: ")
    assert gates.store.get_run(prepared.run_id).state is RunState.EXPIRED

    # nobody touches the next one: a sweep closes it and says so, once
    gates.settings.webhook.format = "json"
    overdue = gates.refund()
    time.sleep(1.6)
    swept = expire_overdue_gates(gates.store, gates.settings, gates.policy)
    assert swept == [overdue.gate_id]
    assert expire_overdue_gates(gates.store, gates.settings, gates.policy) == []
    last = _verified(receiver.hook()[2:], set())
    assert [(n["event"], n["gate_id"]) for n in last] == [
        ("gate_opened", overdue.gate_id),
        ("gate_expired", overdue.gate_id),
    ]
    assert last[1]["reason"].startswith("gate expired at") and last[1]["run_state"] == "expired"


def test_the_verifier_refuses_what_is_not_signed_or_not_fresh():
    body = b'{"event":"gate_opened"}'
    headers = {"X-Aijia-Timestamp": "1000", "X-Aijia-Signature": signature(SECRET, "1000", body)}
    assert verify(SECRET, headers, body, now=1000)["event"] == "gate_opened"
    lower = {k.lower(): v for k, v in headers.items()}  # header names are case-insensitive
    assert verify(SECRET, lower, body, now=1200)["event"] == "gate_opened"
    cases = {
        "missing": ({}, 1000),
        "malformed": ({**headers, "X-Aijia-Timestamp": "soon"}, 1000),
        "too_new": (headers, 1000 - 301),
        "too_old": (headers, 1000 + 301),
    }
    for reason, (given, now) in cases.items():
        with pytest.raises(WebhookRejected) as refused:
            verify(SECRET, given, body, now=now)
        assert refused.value.reason == reason


def test_gates_show_labels_screenshots_and_prints_the_console_link(gates: Gates, cli: Cli):
    prepared = gates.refund()
    cli.env["COLUMNS"] = "250"  # one line a row, so the test reads whole labels
    raw = yaml.safe_load(cli.config.read_text(encoding="utf-8"))
    plain = cli("gates", "show", prepared.gate_id)
    assert plain.returncode == 0, plain.stderr
    assert "set console.public_url" in plain.stdout
    raw["console"] = {"public_url": CONSOLE + "/"}
    Path(cli.config).write_text(yaml.safe_dump(raw), encoding="utf-8")
    shown = cli("gates", "show", prepared.gate_id)
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    assert f"{CONSOLE}/gates/{prepared.gate_id}" in text
    assert "· order page" in text and "refund form (highlighted element outlined)" in text
    assert "screenshot 1" in text and "(png; save as step-" in text
    as_json = json.loads(cli("gates", "show", prepared.gate_id, "--json").stdout)
    assert as_json["link"] == f"{CONSOLE}/gates/{prepared.gate_id}"
    shots = as_json["screenshots"]
    assert shots and all(Path(s["file"]).is_file() and s["name"].endswith(".png") for s in shots)
    assert all(s["path"].startswith("objects/") for s in shots)
    assert shots[0]["label"].startswith("step ")
