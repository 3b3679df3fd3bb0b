"""`aijia run` on a 32-row CSV with 4 contexts, as a support lead runs it: real CLI process,
real Chromium, the sandbox over HTTP. Three rows name orders that do not exist: those runs
fail, the batch keeps going, the summary counts are right and the exit code says "some failed".

32 rows (it was 200, then 40) prove the same: every context runs eight rows, sharing one login;
failures in the middle do not stop the rest; and it is big enough (over 30 rows) that the
summary lists only the rows that need a look. Each row is a full lookup in Chromium, so every
row above that adds time and no check: 200 rows took three minutes of a ten-minute suite.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from agent.core.settings import PROJECT_ROOT
from tests.conftest import aijia_command

MISSING = ["261101ZZZZZZZ1", "261101ZZZZZZZ2", "261101ZZZZZZZ3"]
ROWS = 32  # over the 30 above which the summary lists only failed rows


def sandbox_config(sandbox: Any, tmp_path: Path) -> Path:
    config = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text(encoding="utf-8"))
    config["data_dir"] = str(tmp_path / "var")
    for name, url in sandbox.base_urls.items():
        config["sites"][name]["base_url"] = url.rstrip("/")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_a_32_row_batch_on_4_contexts(sandbox: Any, tmp_path: Path) -> None:
    orders = [o.order_id for o in sandbox.find_orders("shoplane", None, limit=ROWS - 3)]
    assert len(orders) == ROWS - 3
    rows = orders[:20] + MISSING + orders[20:]
    csv = tmp_path / "orders.csv"
    csv.write_text("order_id\n" + "\n".join(rows) + "\n", encoding="utf-8")
    env = {**os.environ, **sandbox.env(), "COLUMNS": "120"}
    done = subprocess.run(
        [aijia_command(), "run", "lookup_order", "--site", "shoplane",
         "-f", str(csv), "-n", "4", "-c", str(sandbox_config(sandbox, tmp_path))],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 1, done.stderr[-3000:] + out[-3000:]
    assert re.search(rf"{ROWS} runs: {ROWS - 3} done, 3 failed; exit 1", out), out[-3000:]
    # a big batch lists only the runs that need a look: the three failed rows, by file line
    # (the header is line 1) and order id
    listed = re.findall(r"│ (\d+)\s+│ (\w+)\s+│ \S+\s+│ (\w+)", out)
    assert listed == [(str(n + 2), MISSING[n - 20], "failed") for n in (20, 21, 22)], out[-3000:]
