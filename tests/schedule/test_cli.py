"""`aijia schedule list/trigger/status/run` as a monitoring system or an operator runs them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml

from agent.core.settings import PROJECT_ROOT
from tests.conftest import aijia_command


def aijia(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [aijia_command(), "schedule", *args, "--config", str(config)],
        cwd=config.parent,
        env={**os.environ, "SHOPLANE_PASSWORD": "unused"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def write_config(tmp_path: Path, schedules: dict[str, object]) -> Path:
    raw = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text())
    raw["data_dir"] = str(tmp_path / "var")
    raw["schedules"] = schedules
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_status_fails_after_a_failed_fire_and_list_shows_it(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {
            "typo": {  # a row that is not an order id fails before any page loads
                "cron": "0 3 * * *",
                "timezone": "Asia/Bangkok",
                "recipe": "capture_order_evidence",
                "site": "shoplane",
                "inputs": [{"order_id": "not-an-order"}],
            },
            "off": {"enabled": False, "every_s": 60, "recipe": "capture_order_evidence"},
        },
    )
    listed = aijia(config, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    views = {v["name"]: v for v in json.loads(listed.stdout)}
    assert views["typo"]["next_fire"].endswith("20:00:00+00:00")  # 03:00 in Bangkok
    assert views["typo"]["last"] is None and views["off"]["next_fire"] is None

    fired = aijia(config, "trigger", "typo", "--json")
    assert fired.returncode == 1, fired.stderr
    fire = json.loads(fired.stdout)
    assert (fire["state"], fire["rows"], fire["failed"]) == ("failed", 1, 1)
    assert any(json.loads(line)["event"] == "row_finished" for line in fired.stderr.splitlines())

    status = aijia(config, "status")
    assert status.returncode == 1
    assert "typo: last fire failed" in status.stdout

    unknown = aijia(config, "trigger", "nope")
    assert unknown.returncode == 8 and "no schedule 'nope'" in unknown.stderr


def test_the_daemon_refuses_a_schedule_its_user_may_not_run(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {
            "refunds": {
                "every_s": 60,
                "recipe": "prepare_refund",
                "site": "shoplane",
                "inputs": [{"order_id": "2611260K4X7QJ8", "amount": "1", "reason": "other"}],
            }
        },
    )
    daemon = aijia(config, "run")
    assert daemon.returncode == 6, daemon.stderr  # PolicyError, before taking the lock
    assert "scheduler" in daemon.stderr and "prepare_refund" in daemon.stderr
