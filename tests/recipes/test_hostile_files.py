"""Hostile files: every one is refused with exit 2, the file named, no traceback, fast.

The corpus (tests/recipes/hostile_corpus.py, made at test time in tmp_path) has recipes,
config files and inputs files that are not UTF-8, binary, huge, deeply nested, alias bombs,
FIFOs, devices, directories, tagged with Python objects … Each goes through the real CLI
in-process (typer's CliRunner: the same code as the `aijia` command, timed per case, under
2 s); a handful also go through the installed `aijia` command in a subprocess, to prove no
traceback reaches a terminal. Valid files with a BOM or CRLF line ends still pass.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from agent.core.files import FileRefused, read_text
from agent.core.safe_yaml import DEFAULT_LIMITS, load
from agent.core.settings import PROJECT_ROOT
from agent.recipes.rows import MAX_BYTES, MAX_ROWS
from agent.recipes.yaml_source import RECIPE_LIMITS
from cli import app
from tests.conftest import aijia_command
from tests.recipes.hostile_corpus import CASES, VALID, Case

LOOKUP = PROJECT_ROOT / "recipes" / "shoplane" / "lookup_order.yaml"
SUBPROCESS_CASES = {"latin1", "billion_laughs", "fifo", "config_binary", "csv_nul", "jsonl_deep"}


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped config with a data dir of its own: inputs files are read after it."""
    folder = tmp_path_factory.mktemp("config")
    raw = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text(encoding="utf-8"))
    raw["data_dir"] = str(folder / "var")
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def arguments(case: Case, path: Path, config: Path) -> list[str]:
    if case.reader == "recipe":
        return ["recipes", "validate", str(path)]
    if case.reader == "run_recipe":
        return ["run", str(path), "-i", "order_id=A1", "-c", str(config)]
    if case.reader == "config":
        return ["runs", "list", "-c", str(path)]
    return ["run", str(LOOKUP), "-f", str(path), "-c", str(config)]


def test_the_corpus_is_big_and_covers_every_reader() -> None:
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)
    assert {c.reader for c in CASES} == {"recipe", "run_recipe", "config", "inputs"}


@pytest.mark.timeout(60)  # a FIFO that blocked would hang here, not pass
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_file_is_refused(case: Case, tmp_path: Path, config: Path) -> None:
    path = case.make(tmp_path)
    runner = CliRunner(env={"COLUMNS": "200"})
    started = time.monotonic()
    result = runner.invoke(app, arguments(case, path, config))
    elapsed = time.monotonic() - started
    output = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{case.name}: {result.exception!r}\n{output[-2000:]}"
    )
    assert result.exit_code == 2, f"{case.name}: exit {result.exit_code}\n{output[-2000:]}"
    assert "Traceback" not in output
    assert path.name in output, output[-2000:]
    assert case.expect in output, f"{case.name}: {case.expect!r} not in\n{output[-2000:]}"
    assert elapsed < 2.0, f"{case.name} took {elapsed:.2f}s"
    assert len(output) < 30_000, f"{case.name}: {len(output)} characters of output"


@pytest.mark.timeout(120)
def test_no_traceback_reaches_the_terminal(tmp_path: Path, config: Path) -> None:
    """The installed command, in a subprocess: exit 2, the file named on stderr, no
    traceback. Python's own start-up is in the time here, hence a looser bound."""
    cases = [c for c in CASES if c.name in SUBPROCESS_CASES]
    assert len(cases) == len(SUBPROCESS_CASES)
    for case in cases:
        folder = tmp_path / case.name
        folder.mkdir()
        path = case.make(folder)
        started = time.monotonic()
        done = subprocess.run(
            [aijia_command(), *arguments(case, path, config)],
            capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        elapsed = time.monotonic() - started
        assert done.returncode == 2, f"{case.name}: {done.returncode}\n{done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr + done.stdout
        assert path.name in done.stderr, done.stderr[-2000:]
        assert elapsed < 6.0, f"{case.name} took {elapsed:.2f}s"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text(VALID, encoding="utf-8")
    path.chmod(0)
    result = CliRunner().invoke(app, ["recipes", "validate", str(path)])
    assert result.exit_code == 2
    assert "secret.yaml" in result.output and "Permission denied" in result.output


@pytest.mark.parametrize(
    "name, data",
    [
        ("bom.yaml", b"\xef\xbb\xbf" + VALID.encode()),
        ("crlf.yaml", VALID.replace("\n", "\r\n").encode()),
        ("anchors.yaml", (VALID + "notes: &n [a, b]\nmore: *n\n").encode()),
    ],
)
def test_valid_files_with_a_bom_crlf_or_a_few_aliases_still_pass(
    tmp_path: Path, name: str, data: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(data if name != "anchors.yaml" else VALID.encode())
    result = CliRunner().invoke(app, ["recipes", "validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 recipe(s) valid" in result.output


def test_aliases_and_merge_keys_within_limits_load_in_config() -> None:
    text = "base: &b {x: 1, y: 2}\none: {<<: *b, y: 3}\nlist: [*b, *b]\n"
    assert load(text, "config.yaml") == {
        "base": {"x": 1, "y": 2},
        "one": {"x": 1, "y": 3},
        "list": [{"x": 1, "y": 2}, {"x": 1, "y": 2}],
    }


def test_refusals_name_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"name: x\nsteps:\n  - goto: /caf\xe9\n")
    with pytest.raises(FileRefused) as info:
        read_text(path, what="recipe", max_bytes=1024)
    assert str(info.value.location) == f"{path}:3:15"
    assert "offset 29" in info.value.message
    with pytest.raises(FileRefused) as info:
        load("a: 1\nb: [*a]\n", "x.yaml")
    assert str(info.value.location) == "x.yaml:2:5"


def test_the_readme_documents_the_limits() -> None:
    """The numbers in README 'Limits on input files' are the ones in the code."""
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Limits on input files", 1)[1].split("\n## ", 1)[0]
    expected = [
        f"{RECIPE_LIMITS.max_bytes // 1024} KiB",
        f"{DEFAULT_LIMITS.max_bytes // 1024} KiB",
        f"{MAX_BYTES // (1024 * 1024)} MiB",
        f"{MAX_ROWS:,}",
        str(DEFAULT_LIMITS.max_depth),
        str(DEFAULT_LIMITS.max_aliases),
        f"{DEFAULT_LIMITS.max_nodes:,}",
        str(DEFAULT_LIMITS.max_key_chars),
        str(DEFAULT_LIMITS.max_int_digits),
    ]
    for number in expected:
        assert re.search(rf"\b{re.escape(number)}\b", section), f"{number} not in the section"
