"""Install anywhere (issue 13): the wheel, a fresh venv outside the repo, `aijia init`, a lookup
and a gated refund from the project directory; recipes found next to the config, never a
silent fallback to the shipped ones for a team's own site.

The wheel is built from a copy of the source tree (the build writes build/ next to the
sources; the shared tree stays clean). The fresh venv gets the wheel alone (`--no-deps`); its
dependencies are reached through a .pth line naming this venv's site-packages, which puts
them after the wheel's own files and does not run this venv's editable-install hook, so
`agent`, `evidence`, `sandbox` and `cli` come from the wheel (checked).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.core.errors import RecipeError
from agent.core.settings import PROJECT_ROOT, load_config
from agent.project_template import scaffold
from agent.recipes.locate import find_recipe, list_recipes, recipes_root

pytestmark = pytest.mark.browser  # a wheel build, a venv, the sandbox and Chromium

SKIP = shutil.ignore_patterns(
    ".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
    ".hypothesis", "tests", "bench",
)  # fmt: skip


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv, outside the repo, with the aijia wheel installed; its bin/ directory."""
    base = tmp_path_factory.mktemp("install")
    source = base / "src"
    shutil.copytree(PROJECT_ROOT, source, ignore=SKIP, symlinks=True)
    wheels = base / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("aijia-*.whl")
    venv = base / "venv"
    # no pip of its own (ensurepip costs seconds of CPU): `python -m pip` below is this venv's
    # pip, reached through the .pth line like every other dependency, installing into the new
    # venv (pip installs for the interpreter that runs it)
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300
    )
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (Path(site) / "aijia_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    done = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--force-reinstall",
         str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    where = subprocess.run(
        [python, "-c", "import agent, cli, evidence, sandbox, agent.recipes.locate as l; "
         "print(agent.__file__, cli.__file__, evidence.__file__, sandbox.__file__); "
         "print(l.SHIPPED_RECIPES)"],
        capture_output=True, text=True, cwd=base, timeout=60,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr
    files, shipped = where.stdout.split("\n")[:2]
    assert all(f.startswith(site) for f in files.split()), (site, files)
    assert (
        shipped.startswith(site) and (Path(shipped) / "shoplane" / "prepare_refund.yaml").is_file()
    )
    return venv / "bin"


def _env(sandbox: Any, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AIJIA_RECIPES", "AIJIA_CONFIG")}
    return {**env, **sandbox.env(), "XDG_CONFIG_HOME": str(home), "NO_COLOR": "1"}


def test_wheel_init_lookup_and_gated_refund_outside_the_repo(
    installed: Path, sandbox: Any, tmp_path: Path
) -> None:
    aijia = str(installed / "aijia")
    env = _env(sandbox, tmp_path / "xdg")
    made = subprocess.run(
        [aijia, "init", "proj"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert made.returncode == 0, made.stderr
    project = tmp_path / "proj"
    assert "recipes/shoplane/lookup_order.yaml" in made.stdout and "aijia doctor" in made.stdout
    assert "var/" in (project / ".gitignore").read_text()
    again = subprocess.run(
        [aijia, "init", "proj"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 2 and "--force" in again.stderr, again.stderr

    config_file = project / "config.yaml"
    config = config_file.read_text()
    config_file.write_text(
        config.replace("http://127.0.0.1:8700", sandbox.url("shoplane").rstrip("/"))
    )
    lookup = project / "recipes" / "shoplane" / "lookup_order.yaml"
    lookup.write_text(lookup.read_text() + '  copy: "the project\'s own"\n')

    doctor = subprocess.run(
        [aijia, "doctor", "--json"], cwd=project, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert str(config_file) in checks["config"]["detail"]
    assert checks["recipes"]["ok"] and str(project / "recipes") in checks["recipes"]["detail"]
    assert str(project / "var") in checks["data dir"]["detail"]

    order = sandbox.find_orders("shoplane", "delivered", limit=1)[0].order_id
    run = subprocess.run(
        [aijia, "run", "lookup_order", "-i", f"order_id={order}", "--json"],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:] + run.stdout[-3000:]
    result = json.loads(run.stdout.splitlines()[-1])
    assert result["outputs"]["order_id"] == order
    assert result["outputs"]["copy"] == "the project's own"  # not the shipped recipe

    refund = subprocess.run(
        [aijia, "run", "prepare_refund", "-i", f"order_id={order}", "-i", "amount=1.50",
         "-i", "reason=damaged"],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refund.returncode == 3, refund.stderr[-3000:] + refund.stdout[-3000:]
    assert "paused at gate " in refund.stdout
    assert (project / "var" / "evidence").is_dir()

    new = subprocess.run(  # the scaffold templates travel in the wheel
        [aijia, "recipes", "new", "shoplane", "open_disputes", "--kind", "refund", "--json"],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert new.returncode == 0, new.stderr
    written = Path(json.loads(new.stdout)["path"])
    assert written == project / "recipes" / "shoplane" / "open_disputes.yaml"
    valid = subprocess.run(
        [aijia, "recipes", "validate", str(written)],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert valid.returncode == 0, valid.stderr + valid.stdout


def _project(tmp_path: Path, base_url: str) -> Path:
    """A scaffolded project whose ShopLane site points at `base_url`."""
    project = tmp_path / "proj"
    scaffold(project)
    config = project / "config.yaml"
    config.write_text(config.read_text().replace("http://127.0.0.1:8700", base_url))
    return config


def test_a_team_site_never_falls_back_to_the_shipped_recipes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIJIA_RECIPES", raising=False)
    settings = load_config(_project(tmp_path, "https://seller.example.com"))
    assert recipes_root(settings) == tmp_path / "proj" / "recipes"
    found = find_recipe("lookup_order", "shoplane", settings=settings)
    assert found == tmp_path / "proj" / "recipes" / "shoplane" / "lookup_order.yaml"
    with pytest.raises(RecipeError) as err:  # shipped for the sandbox only
        find_recipe("capture_order_evidence", "shoplane", settings=settings)
    text = str(err.value)
    assert str(tmp_path / "proj" / "recipes" / "shoplane") in text
    assert "next to" in text and "shipped" not in text
    assert {p.stem for p in list_recipes(settings=settings)} == {
        "login", "lookup_order", "prepare_refund",
    }  # fmt: skip


def test_a_sandbox_site_gets_the_shipped_recipes_the_project_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIJIA_RECIPES", raising=False)
    settings = load_config(_project(tmp_path, "http://127.0.0.1:8700"))
    found = find_recipe("capture_order_evidence", "shoplane", settings=settings)
    assert found.parent.name == "shoplane" and tmp_path not in found.parents
    own = find_recipe("lookup_order", "shoplane", settings=settings)
    assert own.parent == tmp_path / "proj" / "recipes" / "shoplane"  # the project's copy wins
    listed = list_recipes(settings=settings)
    assert sum(p.stem == "lookup_order" for p in listed) == 1
    assert any(p.stem == "capture_order_evidence" for p in listed)


def test_recipes_dir_in_config_is_relative_to_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIJIA_RECIPES", raising=False)
    config = _project(tmp_path, "https://seller.example.com")
    raw = yaml.safe_load(config.read_text())
    raw["recipes_dir"] = "elsewhere"
    config.write_text(yaml.safe_dump(raw))
    settings = load_config(config)
    assert recipes_root(settings) == config.parent / "elsewhere"
    with pytest.raises(RecipeError) as err:
        find_recipe("lookup_order", "shoplane", settings=settings)
    assert "recipes_dir of" in str(err.value) and "aijia init" in str(err.value)
    monkeypatch.setenv("AIJIA_RECIPES", str(config.parent / "recipes"))
    assert find_recipe("lookup_order", "shoplane", settings=settings).is_file()


def test_init_refuses_a_non_empty_directory_unless_forced(tmp_path: Path) -> None:
    from agent.core.errors import ConfigError

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        scaffold(tmp_path)
    written = scaffold(tmp_path, force=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert {p.name for p in written} >= {"config.yaml", ".gitignore", "README.md", "login.yaml"}
    assert load_config(tmp_path / "config.yaml").data_dir == tmp_path / "var"
