"""`aijia doctor` on this machine, and when the browser it is told to use is not there."""

from __future__ import annotations

import os
import subprocess

import pytest

from agent.core.settings import PROJECT_ROOT
from tests.conftest import aijia_command


def _doctor(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [aijia_command(), "doctor"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.browser  # a set-up machine has Chromium; the doctor asks it for its version
def test_doctor_is_happy_on_a_set_up_machine() -> None:
    done = _doctor()
    assert done.returncode == 0, done.stdout + done.stderr
    for check in ("python", "playwright", "config", "browser", "data dir"):
        assert check in done.stdout
    assert "Chromium" in done.stdout or "chrom" in done.stdout.lower()


def test_doctor_names_a_missing_browser_and_the_fix() -> None:
    done = _doctor(AIJIA_BROWSER="/nonexistent/chrome")
    assert done.returncode == 1
    assert "/nonexistent/chrome" in done.stdout
    assert "fix:" in done.stdout


def test_doctor_reports_a_broken_config(tmp_path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text("browser:\n  headless: maybe\n", encoding="utf-8")
    done = _doctor(AIJIA_CONFIG=str(bad))
    assert done.returncode == 1
    assert "browser.headless" in done.stdout
