"""A run that pauses at a gate says what to do next: its gate id, who may approve it (policy,
the initiator excluded), and the next command — or the console link when
console.public_url is set. The real `aijia run` process, the sandbox, Chromium.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.core.settings import PROJECT_ROOT
from tests.conftest import aijia_command
from tests.recipes.test_batch_cli import sandbox_config

pytestmark = pytest.mark.browser

# config.yaml: the roles that approve a small refund (reviewer, supervisor) and their users
APPROVERS = {"reviewer", "supervisor", "manager"}


def refund(
    sandbox: Any, config: Path, order_id: str, *more: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **sandbox.env(), "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [aijia_command(), "run", "prepare_refund", "--site", "shoplane", "-c", str(config),
         "-i", f"order_id={order_id}", "-i", "amount=1.50", "-i", "reason=damaged", *more],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_a_paused_refund_says_who_approves_and_what_to_run(sandbox: Any, tmp_path: Path) -> None:
    config = sandbox_config(sandbox, tmp_path)
    first, second = sandbox.find_orders("shoplane", "partially_refunded", limit=2)

    done = refund(sandbox, config, first.order_id)
    out = done.stdout
    assert done.returncode == 3, out + done.stderr
    paused = [line for line in out.splitlines() if line.startswith("paused at gate ")]
    assert len(paused) == 1, out
    gate_id = paused[0].split()[3]
    assert gate_id.startswith("g-"), paused
    who = paused[0].split("may approve: ")[1]
    assert set(who.split(", ")) == APPROVERS, paused  # root started it: not an approver
    assert f"next: aijia gates show {gate_id}, then aijia approve {gate_id}" in out, out
    assert "1 runs: 1 paused; exit 3" in out, out

    # with the console's public URL: the link instead, and --json carries it all
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw.setdefault("console", {})["public_url"] = "https://aijia.example.com"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    linked = refund(sandbox, config, second.order_id)
    assert linked.returncode == 3, linked.stdout + linked.stderr
    gate_line = next(line for line in linked.stdout.splitlines() if "paused at gate" in line)
    linked_gate = gate_line.split()[3]
    assert f"next: review in the console: https://aijia.example.com/gates/{linked_gate}" in (
        linked.stdout
    ), linked.stdout

    as_json = refund(sandbox, config, second.order_id, "--json")
    assert as_json.returncode == 3, as_json.stdout + as_json.stderr
    (line,) = [json.loads(text) for text in as_json.stdout.splitlines()]
    assert line["state"] == "paused" and line["gate_id"] == line["gate"]["gate_id"]
    assert set(line["approvers"]) == APPROVERS
    assert line["next"] == [
        f"aijia gates show {line['gate_id']}",
        f"aijia approve {line['gate_id']}",
    ]
    assert line["link"] == f"https://aijia.example.com/gates/{line['gate_id']}"
