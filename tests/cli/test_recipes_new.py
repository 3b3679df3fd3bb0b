"""`aijia recipes new` / `record --from` / `reference`, and `--config` on every `aijia recipes`
command (issue 13 item 3), run as the installed `aijia` from a directory outside the repo
against an `aijia init` project.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import aijia_command

RECORDING = Path(__file__).parents[1] / "recipes" / "recordings" / "shoplane_refund.jsonl"
PASSWORD = "shoplane-lead-2611"  # typed into the recording's Password field
HIDDEN = ("AIJIA_CONFIG", "AIJIA_RECIPES", "NO_COLOR", "FORCE_COLOR", "DISPLAY", "WAYLAND_DISPLAY")


def aijia(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`aijia ARGS` in `cwd`, with no config or display from this environment."""
    env = {k: v for k, v in os.environ.items() if k not in HIDDEN}
    return subprocess.run(
        [aijia_command(), *args],
        cwd=cwd,
        env={**env, "COLUMNS": "120"},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path]:
    """(an `aijia init` project's config.yaml with a second site `acme`, a directory outside
    both the project and the repo to run from)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = aijia(tmp_path, "init", "proj")
    assert done.returncode == 0, done.stderr
    config = tmp_path / "proj" / "config.yaml"
    text = config.read_text().replace(
        "sites:\n",
        "sites:\n  acme:\n    base_url: https://seller.acme.example\n"
        "    credentials: {username: me@acme.example, password: {$env: ACME_PASSWORD}}\n",
        1,
    )
    config.write_text(text)
    return config, elsewhere


@pytest.mark.parametrize("kind", ["lookup", "refund", "note"])
def test_new_recipe_lands_next_to_the_config_and_validates(project: tuple[Path, Path], kind):
    config, cwd = project
    done = aijia(cwd, "recipes", "new", "shoplane", f"my_{kind}", "--kind", kind,
                 "--config", str(config), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    path = Path(json.loads(done.stdout)["path"])
    assert path == config.parent / "recipes" / "shoplane" / f"my_{kind}.yaml"
    recipe = yaml.safe_load(path.read_text())
    assert recipe["name"] == f"my_{kind}" and recipe["site"] == "shoplane"
    assert recipe["session"] == "login" and recipe["inputs"] and recipe["outputs"]
    keys = [next(iter(step)) for step in recipe["steps"]]
    if kind == "lookup":
        assert "gate" not in keys
    else:  # the gate sits right before the first click that sends
        gate = keys.index("gate")
        sending = [i for i, s in enumerate(recipe["steps"]) if s.get("mutates")]
        assert sending and sending[0] == gate + 1 and recipe["commits"]
    valid = aijia(cwd, "recipes", "validate", "--config", str(config), "--json")
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert json.loads(valid.stdout)["ok"] is True
    listed = aijia(cwd, "recipes", "list", "--site", "shoplane", "--config", str(config), "--json")
    assert f"my_{kind}" in {row["name"] for row in json.loads(listed.stdout)}
    shown = aijia(cwd, "recipes", "show", f"my_{kind}", "--site", "shoplane", "--config",
                  str(config))  # fmt: skip
    assert shown.returncode == 0 and f"my_{kind}" in shown.stdout, shown.stderr


def test_new_refuses_to_overwrite_without_force_and_names_unknown_sites(project):
    config, cwd = project
    first = aijia(cwd, "recipes", "new", "shoplane", "mine", "--config", str(config))
    assert first.returncode == 0, first.stderr
    assert "wrote" in first.stdout and "mine.yaml" in first.stdout
    again = aijia(cwd, "recipes", "new", "shoplane", "mine", "--config", str(config))
    assert again.returncode == 2 and "already exists" in again.stderr and "--force" in again.stderr
    forced = aijia(cwd, "recipes", "new", "shoplane", "mine", "--force", "--config", str(config))
    assert forced.returncode == 0, forced.stderr
    unknown = aijia(cwd, "recipes", "new", "shoplan", "mine", "--config", str(config))
    assert unknown.returncode == 2
    assert "no site 'shoplan'" in unknown.stderr and "did you mean 'shoplane'" in unknown.stderr
    bad = aijia(cwd, "recipes", "new", "shoplane", "Bad-Name", "--config", str(config))
    assert bad.returncode == 2 and "snake_case" in bad.stderr


def test_a_new_site_gets_a_login_recipe_too(project: tuple[Path, Path]):
    config, cwd = project
    done = aijia(cwd, "recipes", "new", "acme", "prepare_refund", "--kind", "refund",
                 "--config", str(config), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = [Path(p) for p in json.loads(done.stdout)["written"]]
    folder = config.parent / "recipes" / "acme"
    assert written == [folder / "prepare_refund.yaml", folder / "login.yaml"]
    login = yaml.safe_load(written[1].read_text())
    assert {"secret": "password"}.items() <= login["steps"][2]["fill"].items()
    valid = aijia(cwd, "recipes", "validate", str(folder), "--config", str(config))
    assert valid.returncode == 0, valid.stdout + valid.stderr


def test_record_without_a_display_exits_2_with_the_from_hint(project: tuple[Path, Path]):
    config, cwd = project
    done = aijia(cwd, "recipes", "record", "shoplane", "recorded", "--config", str(config))
    assert done.returncode == 2
    assert "no display" in done.stderr and "--from FILE" in done.stderr
    assert not (config.parent / "recipes" / "shoplane" / "recorded.yaml").exists()


def test_record_from_a_recording_writes_a_valid_recipe_without_secrets(project):
    config, cwd = project
    done = aijia(cwd, "recipes", "record", "shoplane", "recorded_refund", "--from",
                 str(RECORDING), "--config", str(config), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    path = Path(json.loads(done.stdout)["path"])
    assert path == config.parent / "recipes" / "shoplane" / "recorded_refund.yaml"
    text = path.read_text()
    assert PASSWORD not in text and "gate:" in text
    valid = aijia(cwd, "recipes", "validate", str(path), "--config", str(config))
    assert valid.returncode == 0, valid.stdout + valid.stderr
    shown = aijia(cwd, "recipes", "show", "recorded_refund", "--config", str(config))
    assert shown.returncode == 0 and "gate" in shown.stdout, shown.stderr
    again = aijia(cwd, "recipes", "record", "shoplane", "recorded_refund", "--from",
                  str(RECORDING), "--config", str(config))  # fmt: skip
    assert again.returncode == 2 and "already exists" in again.stderr


def test_every_recipes_command_takes_config(project: tuple[Path, Path]):
    _config, cwd = project
    commands = ("list", "show", "validate", "new", "record", "steps", "schema", "reference")
    for command in commands:
        done = aijia(cwd, "recipes", command, "--help")
        assert done.returncode == 0, done.stderr
        assert "--config" in done.stdout, command


def test_reference_prints_or_writes_the_authors_reference(project: tuple[Path, Path]):
    from agent.recipes.reference import reference

    config, cwd = project
    printed = aijia(cwd, "recipes", "reference", "--config", str(config))
    assert printed.returncode == 0, printed.stderr
    assert "goto" in printed.stdout and "gate" in printed.stdout
    out = cwd / "reference.md"
    written = aijia(cwd, "recipes", "reference", "--out", str(out))
    assert written.returncode == 0, written.stderr
    assert out.read_text().strip() == printed.stdout.strip() == reference().strip()
