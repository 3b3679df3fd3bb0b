"""Tell people a gate changed: a signed webhook POST and apprise channels, never fatal.

    gate_changed(store, settings, policy, gate_id, "gate_rejected")   # from where it happens
    notify_decision(store, settings, policy, decision)                 # after approve/reject

Channels (config.yaml): `webhook.url` gets the notice (agent/gates/notices.py) as JSON, or as
a Slack Block Kit message with `webhook.format: slack`; with `webhook.secret` every POST
carries `X-Aijia-Timestamp`, `X-Aijia-Delivery` and `X-Aijia-Signature: v1=<hex HMAC-SHA256
of "{timestamp}.{body}">`, which a receiver checks with agent/gates/webhook_verify.py.
`notify.urls` are apprise URLs (mail, Telegram, Teams, json://, …): the headline as title,
the facts, screenshots and link as text. `notify.events` picks which changes are sent.

Every channel runs at once in its own thread, and all of them together get
`webhook.timeout_s`: a receiver that is down or hangs costs a run at most that, never an
error. Each outcome goes into the run's evidence — `webhook_sent` / `webhook_failed`,
`notify_sent` / `notify_failed` — naming the event and the destination (the webhook's
origin, an apprise URL's scheme: their paths and hosts may hold tokens), never the secret,
the signature or a full URL.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agent.core.errors import AgentError
from agent.core.secrets import SecretRef, is_ref, resolve
from agent.gates.notices import Notice, build_notice, slack_message
from agent.gates.webhook_verify import DELIVERY, SIGNATURE, TIMESTAMP, signature

if TYPE_CHECKING:
    from agent.core.settings import Settings, WebhookSettings
    from agent.gates.decide import Decision
    from agent.gates.policy import Policy
    from evidence.store import EvidenceStore

RecordEvent = Callable[[str, dict[str, Any]], None]


@dataclass
class _Outcome:
    kind: str  # webhook_sent | webhook_failed | notify_sent | notify_failed
    data: dict[str, Any]


def gate_changed(
    store: EvidenceStore,
    settings: Settings,
    policy: Policy,
    gate_id: str,
    event: str,
    *,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> list[str]:
    """Send `event` about `gate_id` to every configured channel (when `notify.events` lists
    it); record each outcome in the gate's run. Returns the outcome kinds; never raises for a
    channel's failure."""
    if event not in settings.notify.events or not (settings.webhook.url or settings.notify.urls):
        return []
    try:
        notice = build_notice(store, settings, policy, gate_id, event, reason=reason, detail=detail)
    except AgentError as exc:  # the change happened and is recorded; only the notice is lost
        run_id = store.get_gate(gate_id).run_id
        error = f"the notice could not be built: {exc.message}"
        store.append_event(
            run_id, "webhook_failed", {"event": event, "gate_id": gate_id, "error": error}
        )
        return ["webhook_failed"]

    def record(kind: str, data: dict[str, Any]) -> None:
        store.append_event(notice.run_id, kind, {"event": event, "gate_id": gate_id, **data})

    return deliver(settings, notice, record, register_secret=store.register_secret)


def notify_decision(
    store: EvidenceStore, settings: Settings, policy: Policy, decision: Decision
) -> list[str]:
    """The notice for a recorded decision: approval n of m, approved, or rejected."""
    if decision.decision == "rejected":
        event = "gate_rejected"
    else:
        event = "gate_approved" if decision.complete else "approval_recorded"
    return gate_changed(store, settings, policy, decision.gate_id, event)


def deliver(
    settings: Settings,
    notice: Notice,
    record: RecordEvent,
    *,
    register_secret: Callable[[str], None] | None = None,
) -> list[str]:
    """Send `notice` on every channel at once, wait at most `webhook.timeout_s` in all,
    record each outcome through `record`. Returns the outcome kinds, in channel order."""
    senders: list[tuple[Callable[[], _Outcome], _Outcome]] = []
    hook = settings.webhook
    if hook.url:
        senders.append(_webhook_sender(hook, notice, register_secret))
    for index, entry in enumerate(settings.notify.urls):
        senders.append(_apprise_sender(entry, index, notice, hook.timeout_s, register_secret))
    results: list[_Outcome | None] = [None] * len(senders)

    def run(i: int, send: Callable[[], _Outcome]) -> None:
        try:
            results[i] = send()
        except Exception as exc:  # whatever a channel raises is its failure, never ours
            late = senders[i][1]
            results[i] = _Outcome(late.kind, {**late.data, "error": _first_line(exc)})

    threads = [
        threading.Thread(target=run, args=(i, send), name="aijia-notify", daemon=True)
        for i, (send, _) in enumerate(senders)
    ]
    deadline = time.monotonic() + hook.timeout_s
    for thread in threads:
        thread.start()
    for thread in threads:  # a thread still running at the deadline is left behind (daemon)
        thread.join(max(0.0, deadline - time.monotonic()))
    kinds = []
    for (_, late), outcome in zip(senders, results, strict=True):
        final = outcome or late
        record(final.kind, final.data)
        kinds.append(final.kind)
    return kinds


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def _secret(value: Any, where: str, register: Callable[[str], None] | None) -> str:
    """A setting that may be a secret reference, resolved; its value is registered with
    the store so that no event can hold it."""
    if not is_ref(value):
        return str(value)
    resolved = resolve(SecretRef.model_validate(value), site=where)
    if register is not None:
        register(resolved)
    return resolved


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")


def _webhook_sender(
    hook: WebhookSettings, notice: Notice, register: Callable[[str], None] | None
) -> tuple[Callable[[], _Outcome], _Outcome]:
    """(send, the outcome recorded if it does not finish in time). Secrets are resolved
    here, in the caller's thread: a missing one is a `webhook_failed`, never an error."""
    url = str(hook.url)
    delivery = uuid.uuid4().hex
    base: dict[str, Any] = {"to": _origin(url), "delivery": delivery, "format": hook.format}
    late = _Outcome("webhook_failed", {**base, "error": f"no answer within {hook.timeout_s:g}s"})
    try:
        headers = {"Content-Type": "application/json", "User-Agent": "aijia-gates"}
        for name, value in hook.headers.items():
            headers[name] = _secret(value, "webhook.headers", register)
        payload = (
            slack_message(notice)
            if hook.format == "slack"
            else {**notice.to_json(), "delivery": delivery}
        )
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers[DELIVERY] = delivery
        if hook.secret is not None:
            secret = _secret(hook.secret, "webhook.secret", register)
            stamp = str(int(time.time()))
            headers[TIMESTAMP] = stamp
            headers[SIGNATURE] = signature(secret, stamp, body)
    except AgentError as exc:
        failed = _Outcome("webhook_failed", {**base, "error": exc.message})
        return (lambda: failed), failed

    def send() -> _Outcome:
        import httpx

        try:
            response = httpx.post(url, content=body, headers=headers, timeout=hook.timeout_s)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            return _Outcome("webhook_failed", {**base, "error": _first_line(exc)})
        return _Outcome("webhook_sent", {**base, "status": response.status_code})

    return send, late


def _apprise_sender(
    entry: str | Mapping[str, Any],
    index: int,
    notice: Notice,
    timeout_s: float,
    register: Callable[[str], None] | None,
) -> tuple[Callable[[], _Outcome], _Outcome]:
    """One apprise URL as a channel. Its plugins load here, in the caller's thread (some
    import deprecated modules; the warnings are apprise's, silenced only while loading)."""
    channel = f"notify.urls[{index}]"
    base: dict[str, Any] = {"channel": channel}
    late = _Outcome("notify_failed", {**base, "error": f"no answer within {timeout_s:g}s"})
    try:
        url = _secret(entry, channel, register)
        base["scheme"] = urlsplit(url).scheme or "?"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import apprise

            target = apprise.Apprise()
            added = target.add(url)
    except AgentError as exc:
        failed = _Outcome("notify_failed", {**base, "error": exc.message})
        return (lambda: failed), failed
    if not added:
        failed = _Outcome(
            "notify_failed", {**base, "error": "apprise does not understand this URL"}
        )
        return (lambda: failed), failed
    late.data.update(base)

    def send() -> _Outcome:
        try:
            ok = target.notify(title=notice.headline, body=notice.text())
        except Exception as exc:  # a plugin's own bug must not escape a notification
            return _Outcome("notify_failed", {**base, "error": _first_line(exc)})
        if not ok:
            return _Outcome("notify_failed", {**base, "error": "apprise reported a failure"})
        return _Outcome("notify_sent", base)

    return send, late


@contextlib.contextmanager
def notify_expiry(
    store: EvidenceStore, settings: Settings, policy: Policy, gate_id: str
) -> Iterator[None]:
    """Around a decision: when it fails because the gate expired on the way (approve_gate
    closes an overdue gate before refusing), send `gate_expired`, then let the error go."""
    before = store.get_gate(gate_id).state
    try:
        yield
    except AgentError:
        after = store.get_gate(gate_id)
        if before == "pending" and after.state == "expired":
            why = f"gate expired at {after.expires_at}" if after.expires_at else None
            gate_changed(store, settings, policy, gate_id, "gate_expired", reason=why)
        raise
