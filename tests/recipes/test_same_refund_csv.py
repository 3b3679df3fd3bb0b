"""The same refund inputs on every site: one CSV shape, `order_id,amount,reason`, drives the
shipped prepare_refund on ShopLane, MarketHub and Storefront through the real `aijia run`
(real CLI process, Chromium, the sandbox over HTTP). Every run stops at its gate with the
amount bound as the same decimal text; nothing is refunded; one of them is then approved and
committed, and the back office shows exactly that refund."""

from __future__ import annotations

import json
import os
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

from agent.core.settings import PROJECT_ROOT
from agent.core.states import RunState
from tests.conftest import aijia_command
from tests.recipes.conftest import Runner
from tests.recipes.test_batch_cli import sandbox_config

SITES = ("shoplane", "markethub", "storefront")
AMOUNTS = {"shoplane": "3.10", "markethub": "2.20", "storefront": "1.30"}


def refundable_order(sandbox: Any, flavor: str) -> Any:
    """A delivered order with room for the refund; on MarketHub one with several items, so
    the amount alone (no sku) has to pick the item."""
    return next(
        o
        for o in sandbox.find_orders(flavor, "multi_item" if flavor == "markethub" else "delivered")
        if o.status == "completed" and Decimal(o.refundable) >= 5
        and "partially_refunded" not in o.cases
    )  # fmt: skip


def test_one_csv_shape_refunds_on_every_site(
    sandbox: Any, tmp_path: Path, run: Any, chromium: Any, product: Any, store: Any
) -> None:
    config = sandbox_config(sandbox, tmp_path)
    env = {**os.environ, **sandbox.env(), "COLUMNS": "120"}
    orders = {flavor: refundable_order(sandbox, flavor) for flavor in SITES}
    paused: dict[str, dict[str, Any]] = {}
    for flavor in SITES:
        csv = tmp_path / f"refunds-{flavor}.csv"
        row = f"{orders[flavor].order_id},{AMOUNTS[flavor]},damaged"
        csv.write_text("order_id,amount,reason\n" + row + "\n", encoding="utf-8")
        done = subprocess.run(
            [aijia_command(), "run", "prepare_refund", "--site", flavor, "-f", str(csv),
             "--json", "-c", str(config)],
            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 3, done.stderr[-3000:] + done.stdout[-3000:]  # paused
        [line] = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
        paused[flavor] = line
    for flavor, result in paused.items():
        binds = result["gate"]["binds"]
        assert result["state"] == "paused", result
        assert binds["amount"] == AMOUNTS[flavor], (flavor, binds)
        assert binds["currency"] == orders[flavor].currency
        assert binds["reason"] == "damaged"
        assert binds["order_id"].lstrip("#") == orders[flavor].order_id.lstrip("#")
        assert sandbox.ledger(flavor)["refunds"] == [], f"{flavor}: a gate refunds nothing"

    # Storefront's refund by amount alone: approved and committed once, no items restocked
    storefront = Runner("storefront", run, chromium, product, store)
    gate = paused["storefront"]["gate"]
    for user in run(storefront.aijia.gate(gate["gate_id"])).approvers:
        if run(storefront.aijia.approve(gate["gate_id"], as_user=user)).complete:
            break
    done_run = run(storefront.aijia.resume(paused["storefront"]["run_id"], as_user="reviewer"))
    assert done_run.state is RunState.DONE, done_run.error
    [refund] = sandbox.ledger("storefront")["refunds"]
    assert refund["amount"] == AMOUNTS["storefront"] and refund["reason"] == "damaged"
    assert refund["detail"]["quantities"] == {} and refund["detail"]["restock"] is False
    assert done_run.outputs["amount"] == {
        "amount": AMOUNTS["storefront"],
        "currency": orders["storefront"].currency,
    }


def test_dry_run_of_the_same_csv_stops_before_the_gate_on_every_site(
    sandbox: Any, tmp_path: Path
) -> None:
    """`--dry-run` used to fail on outputs read after the gate (refund_id): now they are
    left out, the gate is previewed and nothing is refunded."""
    config = sandbox_config(sandbox, tmp_path)
    env = {**os.environ, **sandbox.env(), "COLUMNS": "120"}
    for flavor in SITES:
        order = refundable_order(sandbox, flavor)
        csv = tmp_path / f"dry-{flavor}.csv"
        csv.write_text(f"order_id,amount,reason\n{order.order_id},1.00,other\n", encoding="utf-8")
        done = subprocess.run(
            [aijia_command(), "run", "prepare_refund", "--site", flavor, "-f", str(csv),
             "--dry-run", "--json", "-c", str(config)],
            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
        [result] = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
        assert result["state"] == "done" and result["dry_run"], result
        assert result["outputs"]["schema"] == "aijia.refund/1"
        assert "refund_id" not in result["outputs"]  # read after the gate: not known yet
        assert result["gate"]["binds"]["amount"] == "1.00", result["gate"]
        assert result["gate"].get("gate_id") is None
        assert sandbox.ledger(flavor)["refunds"] == []
