"""Restart the Temporal dev server (same state file) or PostgreSQL (same data) while a batch
is in flight on the full stack: every run finishes, once, and its evidence verifies."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.core.states import RunState
from tests.gates.conftest import FLAVOR, Gates
from tests.scale_kill.conftest import KillCli, run_lines
from tests.servers.stack import wait_for

BATCH = 4


@pytest.mark.parametrize("server", ["temporal", "postgres"])
def test_a_server_restarted_mid_batch_loses_and_doubles_nothing(
    gates: Gates, kill: KillCli, tmp_path: Path, server: str
):
    orders = [o.order_id for o in gates.sandbox.find_orders(FLAVOR, "delivered", limit=BATCH)]
    rows = tmp_path / "orders.csv"
    rows.write_text("order_id\n" + "".join(f"{o}\n" for o in orders), encoding="utf-8")
    kill.start_worker()
    gates.sandbox.set_faults(latency=300)
    batch = kill.popen(
        "run", "capture_order_evidence", "--site", FLAVOR, "-f", str(rows), "--json", user="lead"
    )
    try:
        wait_for(
            "runs in their prepare phase",
            lambda: (
                len(gates.store.list_runs(state=RunState.RUNNING.value)) >= 2
                or batch.poll() is not None
            ),
            timeout_s=120,
        )
        assert batch.poll() is None, batch.communicate()
        if server == "temporal":
            kill.servers.temporal.restart()
        else:
            kill.servers.postgres.restart()
        gates.sandbox.set_faults(latency=0)
        out, err = batch.communicate(timeout=300)
    finally:
        if batch.poll() is None:
            batch.kill()
            batch.communicate()
    assert batch.returncode == 0, err + kill.worker_logs()
    assert all(w.process.poll() is None for w in kill.workers), "the workers rode it out"
    lines = run_lines(out)
    assert [(r["row"], r["state"], r["outputs"]["order_id"]) for r in lines] == [
        (n, "done", order) for n, order in enumerate(orders, start=1)
    ]
    run_ids = [r["run_id"] for r in lines]
    assert sorted(r.run_id for r in gates.store.list_runs()) == sorted(run_ids)
    for run_id in run_ids:
        finished = [
            e
            for e in gates.store.events(run_id)
            if e.kind == "state_changed" and e.data["to_state"] == "done"
        ]
        assert len(finished) == 1, f"run {run_id} finished once"
    assert gates.store.verify(run_ids).ok
    ended = kill.wait_workflows_end(run_ids)
    assert {e["result"]["state"] for e in ended.values()} == {"done"}
