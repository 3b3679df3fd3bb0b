"""An unknown order answers at once and plainly: "order X not found on ShopLane".

The shipped recipes declare what each site shows for a search that finds nothing
(`not_found:` on the order-search step, agent/browser/not_found.py). Real Chromium, the real
sandbox over HTTP: on each of the three sites an unknown order fails in well under a second
(timed from the failing step's own event, the login already cached), with the recipe's
message, the error kind `not_found`, and the evidence of a failed run kept (the failure
screenshot, a verifiable chain). Through the real `aijia run`, a batch with an unknown order
runs its other rows and exits 1 ("a run failed"), the documented code.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agent.cli.common import EXIT_CODES
from agent.core.settings import PROJECT_ROOT
from agent.core.states import RunState
from tests.conftest import aijia_command
from tests.recipes.conftest import Runner, recipe
from tests.recipes.test_batch_cli import sandbox_config

UNKNOWN = {"shoplane": "261101ZZZZZZZ9", "markethub": "999-0000000-0000000", "storefront": "999999"}
SHOWN = {"shoplane": "ShopLane", "markethub": "MarketHub", "storefront": "Storefront"}
# the sandbox's own words for an empty search (sandbox/templates/*/orders.html)
NO_RESULTS = "No orders found"


@pytest.mark.parametrize("flavor", ["shoplane", "markethub", "storefront"])
def test_an_unknown_order_fails_at_once_with_a_plain_message(
    flavor: str, run: Any, chromium: Any, product: Any, store: Any, sandbox: Any
) -> None:
    runner = Runner(flavor, run, chromium, product, store)
    known = sandbox.find_orders(flavor, None, limit=1)[0].order_id
    warm = runner("lookup_order", order_id=known)  # logs in: the session is cached after
    assert warm.state is RunState.DONE, warm.error

    result = runner("lookup_order", order_id=UNKNOWN[flavor])

    assert result.state is RunState.FAILED
    assert result.error_kind == "not_found"
    assert result.exit_code == 1
    first_line = (result.error or "").splitlines()[0]
    wanted = f"order {'#' if flavor == 'storefront' else ''}{UNKNOWN[flavor]} not found"
    assert f"{wanted} on {SHOWN[flavor]}" in first_line, result.error
    assert "lookup_order.yaml:" in first_line  # where: the recipe file and the step
    assert NO_RESULTS in (result.error or "")  # the hint says what the page showed
    assert result.run_id is not None
    failed = [
        e.data
        for e in store.events(result.run_id)
        if e.kind == "step_finished" and e.data.get("outcome") == "failed"
    ]
    assert len(failed) == 1 and failed[0]["step"] == result.error_step
    # the selector would have waited its 6 s timeout; the marker answers in well under 1 s
    assert failed[0]["duration_ms"] < 1000, failed[0]
    assert result.duration_s < 5, result.duration_s
    # the evidence of a failed run: recorded failed, the failure page captured, chain intact
    assert store.get_run(result.run_id).state is RunState.FAILED
    kinds = [e.kind for e in store.events(result.run_id)]
    assert "failure_captured" in kinds
    assert store.verify([result.run_id]).ok


def test_a_known_order_still_runs_with_the_marker_declared(
    run: Any, chromium: Any, product: Any, store: Any, sandbox: Any
) -> None:
    """The marker is not a trap: a page that lists the order goes on as before."""
    steps = recipe("shoplane", "lookup_order").steps
    assert steps[1].not_found is not None  # the order-search click declares it
    runner = Runner("shoplane", run, chromium, product, store)
    order = sandbox.find_orders("shoplane", "delivered", limit=1)[0]
    result = runner("lookup_order", order_id=order.order_id)
    assert result.state is RunState.DONE, result.error
    assert result.error_kind is None


def test_a_batch_runs_its_other_rows_and_exits_1(sandbox: Any, tmp_path: Path) -> None:
    known = [o.order_id for o in sandbox.find_orders("shoplane", None, limit=2)]
    rows = [known[0], UNKNOWN["shoplane"], known[1]]
    csv = tmp_path / "orders.csv"
    csv.write_text("order_id\n" + "\n".join(rows) + "\n", encoding="utf-8")
    env = {**os.environ, **sandbox.env(), "COLUMNS": "120"}
    done = subprocess.run(
        [aijia_command(), "run", "lookup_order", "--site", "shoplane", "--inputs-file", str(csv),
         "--json", "-c", str(sandbox_config(sandbox, tmp_path))],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-3000:]
    assert dict(EXIT_CODES)[1].startswith("a run failed")
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    runs = {r["inputs"]["order_id"]: r for r in lines if "inputs" in r and "state" in r}
    assert [runs[o]["state"] for o in rows] == ["done", "failed", "done"], done.stdout
    missing = runs[UNKNOWN["shoplane"]]
    assert missing["error_kind"] == "not_found"
    assert f"order {UNKNOWN['shoplane']} not found on ShopLane" in missing["error"]
