"""CLI conventions (issue 13 item 7): --version, NO_COLOR, -q, --json on the commands that
print a result, `recipes list` at 80 columns, `capture: off`, one exit-code table, and
`--site` as the one flag for a site.

Start-up, environment and colour are checked on the installed `aijia` in subprocesses; the
reviewer commands run against the real sandbox with real accounts (tests/gates/conftest.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.cli.common import EXIT_CODES
from agent.core.errors import ConfigError
from agent.core.settings import PROJECT_ROOT, load_config
from tests.conftest import aijia_command
from tests.gates.conftest import Cli, Gates, cli, gates  # noqa: F401 - fixtures
from tests.recipes.conftest import product, store  # noqa: F401 - fixtures

ANSI = re.compile(r"\x1b\[")


def aijia(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`aijia ARGS` in the project directory, `env` added to this environment."""
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    return subprocess.run(
        [aijia_command(), *args],
        cwd=PROJECT_ROOT,
        env={**base, "COLUMNS": "120", **env},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


# --------------------------------------------------------------------------- --version


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_names_aijia_python_and_playwright(flag: str) -> None:
    done = aijia(flag)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"aijia {version('aijia')}"
    assert lines[1].startswith("Python 3.")
    assert lines[2] == f"Playwright {version('playwright')}"


def test_completion_is_offered_in_help() -> None:
    done = aijia("--help")
    assert done.returncode == 0
    assert "--install-completion" in done.stdout and "--show-completion" in done.stdout


# --------------------------------------------------------------------------- colour


def test_no_color_and_the_flag_remove_every_escape() -> None:
    coloured = aijia("recipes", "validate", FORCE_COLOR="1")
    assert coloured.returncode == 0, coloured.stderr
    assert ANSI.search(coloured.stdout), "forced colour shows escapes: the check can fail"
    plain = aijia("recipes", "validate", FORCE_COLOR="1", NO_COLOR="1")
    flag = aijia("--no-color", "recipes", "validate", FORCE_COLOR="1")
    for done in (plain, flag):
        assert done.returncode == 0, done.stderr
        assert "ok" in done.stdout and not ANSI.search(done.stdout), done.stdout
    red = aijia("recipes", "validate", "/nonexistent.yaml", FORCE_COLOR="1")
    assert red.returncode == 2 and ANSI.search(red.stderr)  # "1 problem(s)" in bold red
    broken = aijia("recipes", "validate", "/nonexistent.yaml", FORCE_COLOR="1", NO_COLOR="1")
    assert broken.returncode == 2 and "1 problem(s)" in broken.stderr
    assert not ANSI.search(broken.stderr), broken.stderr


# --------------------------------------------------------------------------- --json


def test_recipes_list_json_and_site_aliases() -> None:
    done = aijia("recipes", "list", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert {r["site"] for r in rows} == {"shoplane", "markethub", "storefront", "kedai"}
    refund = next(r for r in rows if r["site"] == "shoplane" and r["name"] == "prepare_refund")
    assert refund["gate"] == "refund" and "order_id" in refund["inputs"] and refund["valid"]
    for spelling in ("--site", "-s", "--flavor"):  # one concept; old spellings still work
        one = json.loads(aijia("recipes", "list", spelling, "storefront", "--json").stdout)
        assert one and {r["site"] for r in one} == {"storefront"}
    shown = aijia("recipes", "list", "--help", COLUMNS="200").stdout
    assert "--site" in shown and "--flavor" not in shown and " -s " not in shown


def test_recipes_validate_json_on_good_and_bad_files(tmp_path: Path) -> None:
    good = aijia("recipes", "validate", "--json")
    assert good.returncode == 0, good.stderr
    report = json.loads(good.stdout)
    assert report["ok"] is True and report["recipes"] > 10 and report["problems"] == []
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsite: shoplane\nsteps:\n  - nosuchstep: 1\n", encoding="utf-8")
    done = aijia("recipes", "validate", str(bad), "--json")
    assert done.returncode == 2
    report = json.loads(done.stdout)
    assert report["ok"] is False and report["problems"]
    assert report["problems"][0]["file"] == str(bad) and report["problems"][0]["line"] >= 1


def test_doctor_json(tmp_path: Path) -> None:
    done = aijia("doctor", "--json", AIJIA_BROWSER="/nonexistent/chrome")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["ok"] is False and checks["python"]["ok"] is True
    assert checks["browser"]["ok"] is False and "/nonexistent/chrome" in checks["browser"]["detail"]


def test_approve_reject_resume_json(gates: Gates, cli: Cli) -> None:  # noqa: F811
    first, second = gates.refund(), gates.refund(case="partially_refunded")
    approved = cli("approve", first.gate_id, "--yes", "--no-resume", "--json", user="reviewer")
    assert approved.returncode == 0, approved.stderr
    decision = json.loads(approved.stdout)  # the whole of stdout is one JSON document
    assert decision["gate_id"] == first.gate_id and decision["run_id"] == first.run_id
    assert (decision["user"], decision["decision"], decision["complete"]) == (
        "reviewer",
        "approved",
        True,
    )
    assert decision["committed_by"] == "resume" and "approved by reviewer" in approved.stderr

    resumed = cli("resume", first.run_id, "--json", user="supervisor")
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["run_id"] == first.run_id and result["state"] == "done"
    assert len(gates.refunds(first.order_id)) == 1

    again = cli("resume", first.run_id, "--json", user="supervisor")
    assert again.returncode == 5 and again.stdout == "" and "error" in again.stderr

    rejected = cli("reject", second.gate_id, "--reason", "duplicate", "--json", user="reviewer")
    assert rejected.returncode == 0, rejected.stderr
    decision = json.loads(rejected.stdout)
    assert (decision["gate_id"], decision["decision"], decision["reason"]) == (
        second.gate_id,
        "rejected",
        "duplicate",
    )


# --------------------------------------------------------------------------- 80 columns


def test_recipes_list_fits_80_columns_without_breaking_names() -> None:
    done = aijia("recipes", "list", COLUMNS="80")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    words = set(done.stdout.replace(",", " ").split())
    for row in json.loads(aijia("recipes", "list", "--json").stdout):
        assert row["name"] in words, f"{row['name']} is broken across lines"
        assert all(name in words for name in row["inputs"]), row["inputs"]


# --------------------------------------------------------------------------- config


def test_capture_off_written_unquoted_is_off(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("evidence:\n  capture: off   # as the shipped comment shows\n")
    assert load_config(path).evidence.capture == "off"
    path.write_text("evidence:\n  capture: on\n")
    with pytest.raises(ConfigError, match="capture"):
        load_config(path)


# --------------------------------------------------------------------------- log levels


def _schedule_config(tmp_path: Path, log_level: str | None = None) -> Path:
    raw = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text(encoding="utf-8"))
    raw["data_dir"] = str(tmp_path / "var")
    raw["schedules"] = {
        "typo": {  # a row that is not an order id fails before any page loads
            "every_s": 3600,
            "recipe": "capture_order_evidence",
            "site": "shoplane",
            "inputs": [{"order_id": "not-an-order"}],
        }
    }
    if log_level:
        raw["log_level"] = log_level
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _log_lines(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_quiet_and_log_level_hide_info_lines(tmp_path: Path) -> None:
    config = str(_schedule_config(tmp_path))
    loud = aijia("schedule", "trigger", "typo", "--config", config, SHOPLANE_PASSWORD="x")
    assert loud.returncode == 1, loud.stderr
    lines = _log_lines(loud.stderr)
    assert lines and all(line["level"] in ("info", "warning", "error") for line in lines)
    assert "info" in {line["level"] for line in lines}
    row = next(line for line in lines if line["event"] == "row_finished")
    assert row["level"] == "warning", "a failed row carries its error: a warning"

    quiet = aijia("-q", "schedule", "trigger", "typo", "--config", config, SHOPLANE_PASSWORD="x")
    assert quiet.returncode == 1
    levels = [line["level"] for line in _log_lines(quiet.stderr)]
    assert levels and "info" not in levels, quiet.stderr

    configured = str(_schedule_config(tmp_path / "w", log_level="warning"))
    by_config = aijia("schedule", "trigger", "typo", "--config", configured, SHOPLANE_PASSWORD="x")
    assert "info" not in [line["level"] for line in _log_lines(by_config.stderr)]
    verbose = aijia(
        "-v", "schedule", "trigger", "typo", "--config", configured, SHOPLANE_PASSWORD="x"
    )
    assert "info" in [line["level"] for line in _log_lines(verbose.stderr)], "-v wins"


# --------------------------------------------------------------------------- exit codes


def _help_codes() -> list[tuple[int, str]]:
    out = aijia("--help", COLUMNS="200").stdout
    table = out.split("Exit codes (every command):", 1)[1]
    found = re.findall(r"^\s*(\d)  (.+?)\s*$", table, re.MULTILINE)
    return [(int(code), meaning) for code, meaning in found]


def _readme_codes() -> list[tuple[int, str]]:
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    found = re.findall(r"^\| (\d) \| (.+?) \|$", text, re.MULTILINE)
    return [(int(code), meaning) for code, meaning in found]


def _docstring_codes() -> dict[int, str]:
    """common.py's table: the left column of each code's lines, joined."""
    import agent.cli.common

    doc = agent.cli.common.__doc__ or ""
    block = doc.split("rely on them):", 1)[1].split("\n\n")[1]
    codes: dict[int, str] = {}
    for line in block.splitlines():
        indent = len(line) - len(line.lstrip())
        if indent > 20:  # only the error-class column goes on
            continue
        left = re.split(r"\s{3,}", line.strip())[0]  # the error classes are 3+ spaces away
        head = re.match(r"(\d)  (.*)", left)
        if head:
            current = int(head.group(1))
            codes[current] = head.group(2)
        else:
            codes[current] += " " + left
    return codes


def test_help_readme_and_docstring_show_the_same_exit_codes() -> None:
    assert [code for code, _ in EXIT_CODES] == list(range(9))
    assert _help_codes() == list(EXIT_CODES)
    assert _readme_codes() == list(EXIT_CODES)
    documented = _docstring_codes()
    assert sorted(documented) == list(range(9))
    for code, meaning in EXIT_CODES:
        assert documented[code].startswith(meaning), (code, documented[code])
