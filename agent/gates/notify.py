"""Tell someone a gate opened: one JSON POST to `webhook.url`, short timeout, never fatal.

The body (`gate_opened` notice)::

    {"event": "gate_opened", "gate_id": "g-…", "run_id": "…", "recipe": "prepare_refund",
     "site": "shoplane", "action": "refund", "summary": "Refund 12.50 MYR on …",
     "binds": {…}, "initiator": "lead", "requires": "one approver with role supervisor",
     "approvers": ["supervisor", "manager"], "expires_at": "…"}

The outcome goes into the run's evidence as `webhook_sent` or `webhook_failed`; a failing
webhook never fails or delays a run beyond `webhook.timeout_s`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agent.core.errors import AgentError
from agent.core.secrets import SecretRef, is_ref, resolve
from agent.core.settings import WebhookSettings

RecordEvent = Callable[[str, dict[str, Any]], None]


def _headers(settings: WebhookSettings) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": "aijia-gates"}
    for name, value in settings.headers.items():
        if is_ref(value):
            value = resolve(SecretRef.model_validate(value), site="webhook")
        headers[name] = str(value)
    return headers


def notify_gate_opened(
    settings: WebhookSettings, notice: Mapping[str, Any], record: RecordEvent
) -> bool:
    """POST `notice`; record `webhook_sent`/`webhook_failed` through `record`; True if sent."""
    if not settings.url:
        return False
    import httpx

    url = settings.url
    try:
        response = httpx.post(
            url,
            json={"event": "gate_opened", **notice},
            headers=_headers(settings),
            timeout=settings.timeout_s,
        )
        response.raise_for_status()
    except (httpx.HTTPError, AgentError) as exc:
        record("webhook_failed", {"url": url, "error": str(exc).splitlines()[0][:300]})
        return False
    record("webhook_sent", {"url": url, "status": response.status_code})
    return True
