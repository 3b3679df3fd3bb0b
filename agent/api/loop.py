"""An event loop of its own, in a daemon thread: where the sync API runs its coroutines.

Running every call of one `Aijia` on the same loop keeps its Chromium usable from call to
call, and works from any thread — also one whose own loop is already running (a Jupyter
cell, pytest-playwright's sync fixtures), where `asyncio.run` would refuse.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str = "aijia-loop") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the loop and wait for its result (its exception is raised here)."""
        future = asyncio.run_coroutine_threadsafe(coro, self._started())
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            raise

    def call_soon(self, callback: Callable[[], Any]) -> None:
        """Call `callback` on the loop's thread (e.g. set an asyncio.Event from a signal)."""
        self._started().call_soon_threadsafe(callback)

    def stop(self) -> None:
        """Stop the loop and its thread; a later `run` starts a new one."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
