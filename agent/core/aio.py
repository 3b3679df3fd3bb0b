"""Run a coroutine to its end from sync code, whether or not an event loop is running here.

`asyncio.run` refuses to start inside a running loop, and a sync caller cannot know whether
it is in one: a notebook, a test session holding sync Playwright (which runs its loop in the
main thread), a console handler. `run_sync` uses `asyncio.run` when no loop runs in this
thread, and otherwise runs the coroutine on a fresh loop in a short-lived thread and waits
for it — the caller blocks either way, as a sync function does::

    version = run_sync(lambda: probe(remote))
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """`make()`'s result (or its exception). `make` builds the coroutine where it runs, so
    no coroutine is left unawaited when the thread path is taken."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["value"] = asyncio.run(make())
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc

    thread = threading.Thread(target=work, name="aijia-run-sync", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    value: T = outcome["value"]
    return value


__all__ = ["run_sync"]
