"""A Playwright browser server for tests: `playwright launch-server` with our Chromium.

    from tests.servers.playwright_server import PlaywrightServer

    with PlaywrightServer.start() as server:       # returns once it printed its endpoint
        settings.browser.remote = RemoteBrowserSettings(ws_endpoint=server.ws_endpoint)

It runs the Chromium `launch_options` picks (our executable and closed-network flags), on
127.0.0.1 and a free port; `stop()` ends the server and its browser.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agent.browser.launch import launch_options
from agent.core.settings import BrowserSettings

ENDPOINT = re.compile(r"ws://\S+")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PlaywrightServer:
    """One `playwright launch-server --browser chromium` process."""

    def __init__(self, process: subprocess.Popen[str], ws_endpoint: str, config: Path) -> None:
        self.process = process
        self.ws_endpoint = ws_endpoint
        self._config = config

    @classmethod
    def start(
        cls, settings: BrowserSettings | None = None, timeout_s: float = 30
    ) -> PlaywrightServer:
        options = launch_options(settings or BrowserSettings())
        port = _free_port()
        config = {
            "headless": True,
            "args": options["args"],
            "port": port,
            "host": "127.0.0.1",
        }
        if "executable_path" in options:
            config["executablePath"] = options["executable_path"]
        fd, name = tempfile.mkstemp(prefix="aijia-pw-server-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(config, fh)
        playwright = Path(sys.executable).parent / "playwright"
        process = subprocess.Popen(
            [str(playwright), "launch-server", "--browser", "chromium", "--config", name],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # stop() ends the server and the Chromium it started
        )
        assert process.stdout is not None
        deadline = time.monotonic() + timeout_s
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break  # exited
            seen.append(line)
            found = ENDPOINT.search(line)
            if found:
                return cls(process, found.group(0), Path(name))
        server = cls(process, "", Path(name))
        server.stop()
        raise RuntimeError(f"playwright launch-server printed no endpoint:\n{''.join(seen)}")

    @property
    def port(self) -> int:
        return int(self.ws_endpoint.split(":")[2].split("/")[0])

    def stop(self) -> None:
        """End the server and its browser (the whole process group). Idempotent."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._config.unlink(missing_ok=True)

    def __enter__(self) -> PlaywrightServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
