"""`aijia demo` end to end, as `make demo` runs it: its own sandbox, real Chromium, one refund
after approval, and a trail that verifies."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from agent.core.settings import PROJECT_ROOT
from tests.conftest import aijia_command

pytestmark = pytest.mark.browser  # the demo starts its own sandbox and Chromium


def test_demo_runs_the_main_job_and_commits_one_refund(tmp_path: Path) -> None:
    config = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text(encoding="utf-8"))
    config["data_dir"] = str(tmp_path / "var")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        [aijia_command(), "demo", "-c", str(path)],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, done.stderr[-3000:] + out[-3000:]
    assert "paused at the gate" in out
    assert "0 refunds written by the agent" in out
    assert re.search(r"sandbox ledger: refund RR\d{12} \d+\.\d\d MYR", out), out[-2000:]
    runs = re.findall(r"aijia evidence show (\S+)", out)
    assert len(runs) == 2
    verified = subprocess.run(
        [aijia_command(), "evidence", "verify", *runs, "-c", str(path)],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
