"""`aijia evidence …` and `aijia runs …` against a real store on disk."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.core.settings import load_config
from cli import app
from evidence.store import EvidenceStore
from tests.conftest import aijia_command
from tests.evidence import tampering
from tests.evidence.conftest import full_run, new_run

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text("data_dir: var\nevidence:\n  screenshot_format: png\n")
    return path


@pytest.fixture
def runs(config: Path) -> list[str]:
    with EvidenceStore.open(load_config(config)) as store:
        done = full_run(store, case_id="T-1")
        pending = new_run(store)
    return [done.run_id, pending.run_id]


def aijia(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_verify_ok_then_broken(config: Path, runs: list[str]) -> None:
    code, out = aijia("evidence", "verify", "--all", "-c", str(config))
    assert code == 0, out
    assert "2 run(s)" in out and "ok" in out
    root = load_config(config).data_dir / "evidence"
    tampering.delete_event(root, runs[0], 4)
    code, out = aijia("evidence", "verify", runs[0], "-c", str(config))
    assert code == 1
    assert f"run {runs[0]}: event 4: row removed" in out


def test_verify_unknown_run_is_exit_7(config: Path, runs: list[str]) -> None:
    code, out = aijia("evidence", "verify", "nope", "-c", str(config))
    assert code == 7 and "no run 'nope'" in out


def test_verify_json(config: Path, runs: list[str]) -> None:
    code, out = aijia("evidence", "verify", "--json", "-c", str(config))
    assert code == 0 and json.loads(out)["ok"] is True


def test_export_run_and_case(config: Path, runs: list[str], tmp_path: Path) -> None:
    code, out = aijia(
        "evidence", "export", runs[0], "-o", str(tmp_path / "a.zip"), "-c", str(config)
    )
    assert code == 0, out
    assert "bundle root hash" in out and zipfile.is_zipfile(tmp_path / "a.zip")
    code, out = aijia(
        "evidence",
        "export",
        "--case",
        "T-1",
        "-o",
        str(tmp_path / "b.zip"),
        "--for",
        "stripe",
        "-c",
        str(config),
    )
    assert code == 0, out
    assert "note:" in out
    code, out = aijia(
        "evidence", "export", "--case", "NOPE", "-o", str(tmp_path / "c.zip"), "-c", str(config)
    )
    assert code == 7
    code, out = aijia(
        "evidence",
        "export",
        runs[0],
        "-o",
        str(tmp_path / "d.zip"),
        "--for",
        "ebay",
        "-c",
        str(config),
    )
    assert code == 7 and "unknown export profile" in out


def test_show_and_report(config: Path, runs: list[str], tmp_path: Path) -> None:
    code, out = aijia("evidence", "show", runs[0], "-c", str(config))
    assert code == 0, out
    assert "Who approved?" in out and "Approved by sam" in out
    target = tmp_path / "r.html"
    code, out = aijia("evidence", "report", runs[0], "-o", str(target), "-c", str(config))
    assert code == 0, out
    html = target.read_text()
    assert "data:image/png;base64," in html and "Approved by" in html


def test_list(config: Path, runs: list[str]) -> None:
    code, out = aijia("evidence", "list", "--json", "-c", str(config))
    assert code == 0
    listed = json.loads(out)
    assert [r["run_id"] for r in listed] == list(reversed(runs))
    # every run is sealed from its creation on (only a running run has an unsealed tail)
    assert listed[1]["sealed"] is True and listed[0]["sealed"] is True
    code, out = aijia(
        "evidence", "list", "--case", "T-1", "--since", "1d", "--json", "-c", str(config)
    )
    assert [r["run_id"] for r in json.loads(out)] == [runs[0]]
    code, out = aijia("evidence", "list", "--since", "2999-01-01", "--json", "-c", str(config))
    assert json.loads(out) == []
    code, out = aijia("evidence", "list", "--since", "someday", "-c", str(config))
    assert code == 2


def test_prune(config: Path, runs: list[str]) -> None:
    with EvidenceStore.open(load_config(config)) as store:
        store.close_case("T-1")
    code, out = aijia("evidence", "prune", "--older-than", "0d", "--dry-run", "-c", str(config))
    assert code == 0 and "1 run(s) to remove" in out and "not finished (pending)" in out
    code, out = aijia("evidence", "prune", "--older-than", "0d", "--yes", "-c", str(config))
    assert code == 0 and "removed 1 run(s)" in out
    with EvidenceStore.open(load_config(config)) as store:
        assert [p["run_id"] for p in store.prune_log()] == [runs[0]]
    code, out = aijia("evidence", "prune", "--older-than", "soon", "-c", str(config))
    assert code == 2


def test_runs_list_and_show(config: Path, runs: list[str]) -> None:
    code, out = aijia("runs", "list", "--status", "done", "--json", "-c", str(config))
    assert code == 0 and [r["run_id"] for r in json.loads(out)] == [runs[0]]
    code, out = aijia("runs", "list", "--status", "bogus", "-c", str(config))
    assert code == 2
    code, out = aijia("runs", "list", "-c", str(config))
    assert code == 0 and runs[1] in out
    code, out = aijia("runs", "show", runs[0], "--json", "-c", str(config))
    shown = json.loads(out)
    assert shown["state"] == "done" and shown["gates"][0]["approvals"][0]["approver"] == "sam"
    code, out = aijia("runs", "show", runs[0], "-c", str(config))
    assert code == 0 and "refund" in out
    code, out = aijia("runs", "show", "nope", "-c", str(config))
    assert code == 7


def test_installed_command_works_outside_the_project(
    config: Path, runs: list[str], tmp_path: Path
) -> None:
    """The console script, run elsewhere, still finds the templates and the verifier."""
    import subprocess

    out = subprocess.run(
        [aijia_command(), "evidence", "export", runs[0], "-o", "b.zip", "-c", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert zipfile.is_zipfile(tmp_path / "b.zip")
