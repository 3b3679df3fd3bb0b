"""Exit 4 means "nothing answered", as documented: a site whose port is closed, a site that
accepts the connection and never answers the first page, a browser that cannot start. The
real `aijia` command in a subprocess, real Chromium; the run that found its site down is
recorded failed with that reason, and a batch puts 4 before 1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent import RunResult
from agent.cli.common import overall_exit_code
from agent.core.settings import PROJECT_ROOT
from agent.core.states import RunState
from tests.conftest import aijia_command

pytestmark = pytest.mark.browser  # they start Chromium in a subprocess

SECRETS = {
    "SHOPLANE_PASSWORD": "unused",
    "MARKETHUB_PASSWORD": "unused",
    "MARKETHUB_TOTP_SECRET": "JBSWY3DPEHPK3PXP",
    "STOREFRONT_PASSWORD": "unused",
}


def _config(tmp_path: Path, base_url: str, **browser: Any) -> Path:
    raw = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text(encoding="utf-8"))
    raw["data_dir"] = str(tmp_path / "var")
    raw["sites"]["shoplane"]["base_url"] = base_url
    raw["browser"] = {**(raw.get("browser") or {}), **browser}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _recipe(tmp_path: Path, goto: str = "goto: /") -> Path:
    folder = tmp_path / "recipes" / "shoplane"
    folder.mkdir(parents=True)
    path = folder / "probe.yaml"
    path.write_text(f"name: probe\nsite: shoplane\nsteps:\n  - {goto}\n", encoding="utf-8")
    return path


def _aijia(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **SECRETS, "COLUMNS": "200"}
    env.pop("AIJIA_BROWSER", None)  # the config's browser.executable_path decides
    return subprocess.run(
        [aijia_command(), *args], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield int(server.getsockname()[1])


def test_a_closed_port_is_exit_4_and_a_failed_run_with_the_reason(
    tmp_path: Path, closed_port: int
) -> None:
    base_url = f"http://127.0.0.1:{closed_port}"
    config = _config(tmp_path, base_url)
    done = _aijia("run", str(_recipe(tmp_path)), "-c", str(config), "--json")
    assert done.returncode == 4, done.stderr[-2000:] + done.stdout[-2000:]
    assert "Traceback" not in done.stderr
    [line] = done.stdout.splitlines()
    result = json.loads(line)
    assert result["state"] == "failed" and result["exit_code"] == 4
    reason = f"site shoplane ({base_url}) is unreachable: net::ERR_CONNECTION_REFUSED"
    assert reason in result["error"]
    assert "probe.yaml:4:5" in result["error"]
    shown = _aijia("runs", "show", result["run_id"], "-c", str(config), "--json")
    recorded = json.loads(shown.stdout)
    assert recorded["state"] == "failed"
    assert reason in recorded["error"]
    assert recorded["events"] > 0  # what was captured is kept


def test_a_first_page_that_never_answers_is_exit_4(tmp_path: Path, silent_port: int) -> None:
    config = _config(tmp_path, f"http://127.0.0.1:{silent_port}")
    recipe = _recipe(tmp_path, goto="goto: /\n    timeout: 1.5\n    retries: 1")
    done = _aijia("run", str(recipe), "-c", str(config))
    assert done.returncode == 4, done.stderr[-2000:] + done.stdout[-2000:]
    assert "is unreachable: it did not answer before the timeout" in done.stdout + done.stderr


def test_a_browser_that_cannot_start_is_exit_4(tmp_path: Path, closed_port: int) -> None:
    fake = tmp_path / "not-chromium"
    fake.write_text("#!/bin/sh\nexit 1\n", encoding="utf-8")
    fake.chmod(0o755)
    config = _config(tmp_path, f"http://127.0.0.1:{closed_port}", executable_path=str(fake))
    done = _aijia("run", str(_recipe(tmp_path)), "-c", str(config))
    assert done.returncode == 4, done.stderr[-2000:] + done.stdout[-2000:]
    assert "Chromium failed to start" in done.stderr
    assert "Traceback" not in done.stderr


def _result(code: int) -> RunResult:
    state = {0: RunState.DONE, 3: RunState.PAUSED}.get(code, RunState.FAILED)
    return RunResult(recipe="probe", site="shoplane", state=state, exit_code=code)


@pytest.mark.parametrize(
    "codes, overall",
    [([0, 0], 0), ([0, 3], 3), ([3, 1], 1), ([1, 4], 4), ([4, 2], 2), ([0, 7], 7), ([7, 1], 1)],
)
def test_a_batch_exits_with_its_most_urgent_code(codes: list[int], overall: int) -> None:
    assert overall_exit_code([_result(c) for c in codes]) == overall
