"""A batch a lead can act on, through the real `aijia run` process against the sandbox: a CSV
with a bad row, a duplicate, an unknown order and good rows.

Without --skip-invalid nothing runs and the bad row is named by its file line (the header is
line 1). With it the good rows are done, the bad one is reported by file line, the duplicate
is warned about and run once, the summary has the order id of every row and the counts with
the exit code, and the failed-rows file (same header) runs exactly the rows that need another
go when fed back.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agent.core.errors import InputError
from agent.core.settings import PROJECT_ROOT
from agent.recipes.rows import read_input_file, write_rows
from tests.conftest import aijia_command
from tests.recipes.test_batch_cli import sandbox_config

UNKNOWN = "261101ZZZZZZZ1"


def aijia(sandbox: Any, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **sandbox.env(), "COLUMNS": "160", "NO_COLOR": "1"}
    return subprocess.run(
        [aijia_command(), "run", "lookup_order", "--site", "shoplane", "-c", str(config), *args],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def table_rows(out: str) -> dict[int, list[str]]:
    """The summary table's rows by file line: [order_id, run, state, gate, detail]."""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 6 and cells[0].isdigit():
            rows[int(cells[0])] = cells[1:]
    return rows


@pytest.mark.parametrize(
    ("name", "text", "places"),
    [
        # a quoted value over two lines: the next row starts on line 4
        ("a.csv", 'order_id,note\nA1,"two\nlines"\nB2,x\n', ["a.csv:2", "a.csv:4"]),
        ("a.jsonl", '{"order_id": "A1"}\n\n{"order_id": "B2"}\n', ["a.jsonl:1", "a.jsonl:3"]),
        (
            "a.json",
            '[{"order_id": "A1"},\n {"order_id": "B2"}]',
            ["a.json item [0]", "a.json item [1]"],
        ),
    ],
)
def test_rows_know_their_place_and_write_back(
    tmp_path: Path, name: str, text: str, places: list[str]
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    source = read_input_file(path)
    assert [row.where.removeprefix(f"{tmp_path}/") for row in source.rows] == places
    again = tmp_path / f"again-{name}"
    write_rows(source, source.rows[1:], again)
    assert [row.values for row in read_input_file(again).rows] == [source.rows[1].values]
    assert again.stat().st_mode & 0o777 == 0o600


def test_a_json_file_must_be_an_array_of_objects(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text('[{"order_id": "A1"}, 7]', encoding="utf-8")
    with pytest.raises(InputError, match=r"rows.json item \[1\]: expected a JSON object"):
        read_input_file(path)


@pytest.mark.browser
def test_skip_invalid_duplicates_and_the_failed_rows_file(sandbox: Any, tmp_path: Path) -> None:
    config = sandbox_config(sandbox, tmp_path)
    good = [o.order_id for o in sandbox.find_orders("shoplane", "delivered", limit=2)]
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id\n"  # line 1: the header
        f"{good[0]}\n"  # line 2
        "not-an-order\n"  # line 3: invalid (pattern)
        f"{good[1]}\n"  # line 4
        f"{UNKNOWN}\n"  # line 5: valid, but no such order: fails
        f"{good[0]}\n",  # line 6: the same inputs as line 2
        encoding="utf-8",
    )

    refused = aijia(sandbox, config, "-f", str(orders))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"{orders}:3:" in refused.stderr and "order_id" in refused.stderr, refused.stderr
    assert "nothing was run" in refused.stderr and "--skip-invalid" in refused.stderr
    assert "runs:" not in refused.stdout
    assert not (tmp_path / "orders.failed.csv").exists()

    done = aijia(sandbox, config, "-f", str(orders), "--skip-invalid", "-n", "2")
    out, err = done.stdout, done.stderr
    assert done.returncode == 2, out + err  # rows were skipped: never 0
    assert f"{orders}:6 has the same inputs as line 2: run once" in err, err
    rows = table_rows(out)
    assert sorted(rows) == [2, 3, 4, 5], out  # line 6 ran once, as line 2
    assert rows[2][:1] == [good[0]] and rows[2][2] == "done", out
    assert rows[4][:1] == [good[1]] and rows[4][2] == "done", out
    assert rows[3][0] == "not-an-order" and rows[3][2] == "skipped", out
    assert "does not match pattern" in rows[3][4], out
    assert rows[5][0] == UNKNOWN and rows[5][2] == "failed", out
    assert "3 runs: 2 done, 1 failed; skipped 1 invalid, 1 duplicate; exit 2" in out, out
    assert f"skipped 1 duplicate rows, run once: {orders}:6 (= line 2)" in out, out

    failed_file = tmp_path / "orders.failed.csv"
    assert f"failed rows: {failed_file}" in out.replace("\n", ""), out
    with failed_file.open(encoding="utf-8", newline="") as f:
        assert list(csv.reader(f)) == [["order_id"], ["not-an-order"], [UNKNOWN]]

    # fed back: exactly those rows, the same way (and in JSON, with their file lines)
    again = aijia(sandbox, config, "-f", str(failed_file), "--skip-invalid", "--json")
    assert again.returncode == 2, again.stdout + again.stderr
    lines = [json.loads(line) for line in again.stdout.splitlines()]
    seen = {(line["where"], line["state"], line["inputs"]["order_id"]) for line in lines}
    assert seen == {
        (f"{failed_file}:2", "skipped", "not-an-order"),
        (f"{failed_file}:3", "failed", UNKNOWN),
    }, lines
    [unknown] = [line for line in lines if line["state"] == "failed"]
    assert f"order {UNKNOWN} not found on ShopLane" in unknown["error"], unknown
    assert unknown["error_kind"] == "not_found" and unknown["duration_s"] < 5, unknown
