"""`aijia sandbox serve` and `aijia sandbox orders`."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from cli import app
from sandbox.accounts import ACCOUNTS

ROOT = Path(__file__).resolve().parents[2]


def test_orders_json_and_cases() -> None:
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "sandbox",
            "orders",
            "--flavor",
            "shoplane",
            "--case",
            "delayed",
            "--json",
            "--limit",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert len(rows) == 2 and all("delayed" in r["cases"] for r in rows)
    assert all(re.fullmatch(r"[0-9A-Z]{14}", r["order_id"]) for r in rows)
    listed = runner.invoke(app, ["sandbox", "orders", "--cases"])
    assert "return_requested" in listed.output
    bad = runner.invoke(app, ["sandbox", "orders", "--case", "nope"])
    assert bad.exit_code == 2 and "unknown case" in bad.output


def test_serve_prints_urls_and_logins_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "cli",
        "sandbox",
        "serve",
        "--port",
        "0",
        "--db",
        str(tmp_path / "s.db"),
        "--flavor",
        "shoplane,storefront",
        "--fault",
        "layout=v2",
        "--token",
        "cli-test",
    ]
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            if line.startswith("Press Ctrl-C"):
                break
        out = "\n".join(lines)
        assert "export SHOPLANE_PASSWORD=shoplane-lead-2611" in out
        assert "export STOREFRONT_PASSWORD=" in out and "MARKETHUB" not in out
        assert ACCOUNTS["shoplane"][1].email in out
        assert "faults: layout=v2" in out
        url = re.search(r"(http://127\.0\.0\.1:\d+)/account/signin", out)
        assert url, out
        info = httpx.get(url.group(1) + "/__sandbox/info").json()
        assert info["faults"]["layout"] == "v2"
        assert (
            httpx.post(
                url.group(1) + "/__sandbox/reset", headers={"X-Sandbox-Token": "cli-test"}
            ).status_code
            == 200
        )
    finally:
        proc.send_signal(signal.SIGINT)
        rest, errors = proc.communicate(timeout=15)
    assert proc.returncode == 0, errors
    assert "sandbox stopped" in rest
    assert "Traceback" not in errors


def test_serve_refuses_a_bad_fault() -> None:
    result = CliRunner().invoke(app, ["sandbox", "serve", "--fault", "latency=soon"])
    assert result.exit_code == 4
    assert "bad value" in result.output
