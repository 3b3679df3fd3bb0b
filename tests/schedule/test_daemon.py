"""`aijia schedule run` as a real process against the sandbox: SIGKILL it mid-batch, restart it,
and every order is captured exactly once; a second daemon on the same store refuses to start;
SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from agent.core.settings import PROJECT_ROOT
from evidence.store import EvidenceStore
from tests.conftest import aijia_command

ORDERS = 8


def wait_for(what: str, check: Callable[[], bool], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def write_config(tmp_path: Path, sandbox: Any, order_ids: list[str]) -> Path:
    raw = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text())
    raw["data_dir"] = str(tmp_path / "var")
    for name, url in sandbox.base_urls.items():
        raw["sites"][name]["base_url"] = url.rstrip("/")
    raw["scheduler"].update({"tick_s": 0.5, "stop_grace_s": 10})
    raw["schedules"] = {
        "capture": {
            "every_s": 3,
            "recipe": "capture_order_evidence",
            "site": "shoplane",
            "inputs": [{"order_id": o} for o in order_ids],
            "concurrency": 2,
            "misfire_grace_s": 120,
            "fresh_within_s": 3600,
        }
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def start(config: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:  # the child keeps its own copy
        return subprocess.Popen(
            [aijia_command(), "schedule", "run", "--config", str(config)],
            cwd=config.parent,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=handle,
        )


def log_events(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def test_sigkill_mid_batch_then_restart_captures_every_order_exactly_once(
    sandbox: Any, tmp_path: Path
) -> None:
    order_ids = [o.order_id for o in sandbox.find_orders("shoplane", "delivered", limit=ORDERS)]
    assert len(order_ids) == ORDERS
    config = write_config(tmp_path, sandbox, order_ids)
    env = {**os.environ, **sandbox.env()}
    store = EvidenceStore(tmp_path / "var" / "evidence")

    def done_per_order() -> Counter[str]:
        return Counter(
            r.inputs["order_id"]
            for r in store.list_runs(state="done")
            if r.recipe == "capture_order_evidence"
        )

    first = start(config, env, tmp_path / "first.log")
    try:
        wait_for("two orders captured", lambda: sum(done_per_order().values()) >= 2)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    assert sum(done_per_order().values()) < ORDERS, "killed too late: the batch had finished"
    interrupted = [
        r.run_id for r in store.list_runs(state="running") if r.recipe == "capture_order_evidence"
    ]

    second = start(config, env, tmp_path / "second.log")
    try:
        wait_for("every order captured", lambda: len(done_per_order()) == ORDERS)
        # the next slot fires too, and skips every order as fresh
        wait_for(
            "a fire that skips every order",
            lambda: any(
                e["event"] == "fire_finished" and e.get("skipped") == ORDERS
                for e in log_events(tmp_path / "second.log")
            ),
        )
        third = subprocess.run(
            [aijia_command(), "schedule", "run", "--config", str(config)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert third.returncode == 8, third.stderr
        assert "another scheduler daemon" in third.stderr
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0
    finally:
        if second.poll() is None:
            second.kill()

    assert done_per_order() == Counter(dict.fromkeys(order_ids, 1))  # exactly once each
    events = log_events(tmp_path / "second.log")
    kinds = [e["event"] for e in events]
    assert "fire_recovered" in kinds and kinds[-1] == "scheduler_stopped"
    for run_id in interrupted:  # what the kill cut short is closed, its evidence kept
        run = store.get_run(run_id)
        assert run.state.value == "failed" and "interrupted" in (run.error or "")
        assert len(store.events(run_id)) > 3
    store.close()
