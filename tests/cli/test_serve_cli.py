"""`aijia serve` as an operator starts it: the real command in a subprocess with a config file
for the sandbox, the URL it prints, the console answering, a clean stop on SIGTERM and
SIGINT, and a clear refusal when the port is taken."""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from agent.serve.pages import CSP
from tests.gates.conftest import Cli, cli  # noqa: F401 - fixture
from tests.recipes.conftest import product, store  # noqa: F401 - fixtures

START_S = 60.0  # the first start imports the console and opens the store
STOP_S = 15.0


class Lines:
    """A pipe read in a thread, so a test can wait for one line with a timeout."""

    def __init__(self, pipe: Any) -> None:
        self.seen: list[str] = []
        self._done = False
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(pipe,), daemon=True).start()

    def _read(self, pipe: Any) -> None:
        try:
            for line in pipe:
                self._lines.put(line)
        finally:
            pipe.close()
            self._lines.put(None)

    def wait_for(self, text: str, timeout: float) -> str:
        while True:
            line = self._lines.get(timeout=timeout)
            if line is None:
                self._done = True
                raise AssertionError(f"the pipe closed before {text!r}; saw {self.seen}")
            self.seen.append(line)
            if text in line:
                return line

    def rest(self) -> str:
        """Everything up to the end of the pipe (which is then closed)."""
        if not self._done:
            while (line := self._lines.get(timeout=STOP_S)) is not None:
                self.seen.append(line)
            self._done = True
        return "".join(self.seen)


@pytest.fixture
def serving(cli: Cli, tmp_path: Path) -> Iterator[Cli]:  # noqa: F811
    cli.env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")  # the console's cookie key goes here
    yield cli


def _start(command: Cli, *args: str) -> tuple[subprocess.Popen[str], Lines, Lines, str]:
    proc = command.popen("serve", "--port", "0", *args)
    out, err = Lines(proc.stdout), Lines(proc.stderr)
    line = out.wait_for("http://", START_S)
    url = line.split("Aijia review console:", 1)[1].split()[0]
    return proc, out, err, url


def _events(err: Lines) -> list[str]:
    return [json.loads(line)["event"] for line in err.rest().splitlines() if line.startswith("{")]


def test_serve_prints_its_url_answers_and_stops_cleanly_on_sigterm(serving: Cli) -> None:
    proc, out, err, url = _start(serving)
    try:
        assert url.startswith("http://127.0.0.1:")
        page = httpx.get(url + "/signin", timeout=10)
        assert page.status_code == 200
        assert page.headers["content-security-policy"] == CSP
        assert 'name="csrf"' in page.text
        assert httpx.get(url + "/", timeout=10).status_code == 303  # signed out
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=STOP_S)
    out.rest()
    events = _events(err)
    assert code == 0, err.seen
    assert "Traceback" not in "".join(err.seen)
    assert events[0] == "console_started" and "worker_started" in events
    assert events.index("worker_stopped") < events.index("console_stopped")


def test_serve_with_the_scheduler_and_without_the_worker_stops_on_sigint(serving: Cli) -> None:
    proc, out, err, url = _start(serving, "--no-worker", "--with-scheduler")
    try:
        assert "commit worker off" in out.seen[-1] and "scheduler on" in out.seen[-1]
        err.wait_for("scheduler_started", START_S)
        assert httpx.get(url + "/signin", timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=STOP_S)
    out.rest()
    events = _events(err)
    assert code == 0, err.seen
    assert "worker_started" not in events
    assert "scheduler_stopped" in events and "console_stopped" in events


def test_a_taken_port_is_a_clear_error(serving: Cli) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = serving("serve", "--port", str(port))
    assert done.returncode == 2, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}: the port is already in use" in done.stderr
    assert "--port" in done.stderr  # the hint
    assert "Traceback" not in done.stderr


def test_serve_help_names_its_options(serving: Cli) -> None:
    shown = serving("serve", "--help")
    assert shown.returncode == 0
    for option in ("--host", "--port", "--no-worker", "--with-scheduler", "--config"):
        assert option in shown.stdout


def test_the_config_port_is_the_default(serving: Cli) -> None:
    """Without --port, console.port from config.yaml is used (here: a port just freed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    raw = yaml.safe_load(serving.config.read_text(encoding="utf-8"))
    raw["console"]["port"] = port
    serving.config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    proc = serving.popen("serve")
    out, err = Lines(proc.stdout), Lines(proc.stderr)
    try:
        line = out.wait_for("http://", START_S)
        assert f"http://127.0.0.1:{port}" in line
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=STOP_S)
    out.rest()
    assert code == 0, err.rest()
