"""The dependency direction of DESIGN.md is checked by import-linter contracts (pyproject.toml
[tool.importlinter], run by `make lint`). These tests run the real `lint-imports` on the tree,
and on a copy with a wrong-way import planted, which must fail naming the broken contract."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def lint_imports(where: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which(
        "lint-imports"
    )
    assert exe, "import-linter is a dev dependency: pip install -e '.[dev]'"
    return subprocess.run(
        [exe, "--no-cache"], cwd=where, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    for name in ("agent", "evidence", "sandbox"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def plant(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_the_tree_keeps_every_contract() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        # the evidence store reaching up into the engine
        ("evidence/hashing.py", "import agent.engine.prepare", "Front ends over the facade"),
        # the core depending on the evidence store
        ("agent/core/states.py", "import evidence.store", "The core (errors"),
        # the sandbox using the agent's errors again
        ("sandbox/money.py", "from agent.core import errors", "The sandbox depends on neither"),
        # an engine module reaching into the sandbox's test harness
        ("agent/engine/setup.py", "import sandbox.testing", "Only the demo and the CLI"),
        # a step knowing about the facade
        ("agent/steps/gate.py", "import agent.api.async_api", "Recipes, steps and the browser"),
    ],
)
def test_a_wrong_way_import_fails(tree_copy: Path, module: str, line: str, contract: str) -> None:
    plant(tree_copy / module, line)
    done = lint_imports(tree_copy)
    assert done.returncode != 0
    broken = done.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, done.stdout
