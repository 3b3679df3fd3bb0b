"""SIGKILL an `aijia worker` on the full stack (Temporal, PostgreSQL, S3) mid-batch and
mid-commit: the batch ends with one done run per row, each captured once and verifying; the
approved refund reaches the sandbox exactly once."""

from __future__ import annotations

from pathlib import Path

from agent.core.states import RunState
from tests.gates.conftest import FLAVOR, Gates
from tests.scale_kill.conftest import KillCli, refund_paused, run_lines
from tests.servers.stack import wait_for

BATCH = 6


def _done_transitions(gates: Gates, run_id: str) -> int:
    return sum(
        1
        for e in gates.store.events(run_id)
        if e.kind == "state_changed" and e.data["to_state"] == "done"
    )


def test_a_worker_killed_mid_batch_loses_no_row_and_captures_each_once(
    gates: Gates, kill: KillCli, tmp_path: Path
):
    orders = [o.order_id for o in gates.sandbox.find_orders(FLAVOR, "delivered", limit=BATCH)]
    rows = tmp_path / "orders.csv"
    rows.write_text("order_id\n" + "".join(f"{o}\n" for o in orders), encoding="utf-8")
    kill.start_worker()  # two workers share the batch
    gates.sandbox.set_faults(latency=400)  # every page slow: phases are in flight for seconds
    batch = kill.popen(
        "run", "capture_order_evidence", "--site", FLAVOR, "-f", str(rows), "--json", user="lead"
    )
    try:
        wait_for(
            "both workers busy (4 runs in their prepare phase)",
            lambda: (
                len(gates.store.list_runs(state=RunState.RUNNING.value)) >= 4
                or batch.poll() is not None
            ),
            timeout_s=120,
        )
        assert batch.poll() is None, batch.communicate()
        in_flight = {r.run_id for r in gates.store.list_runs(state=RunState.RUNNING.value)}
        kill.workers[0].kill()  # SIGKILL: its phases in hand are cut off
        gates.sandbox.set_faults(latency=0)
        out, err = batch.communicate(timeout=300)
    finally:
        if batch.poll() is None:
            batch.kill()
            batch.communicate()
    assert batch.returncode == 0, err + kill.worker_logs()
    lines = run_lines(out)
    assert [(r["row"], r["state"], r["outputs"]["order_id"]) for r in lines] == [
        (n, "done", order) for n, order in enumerate(orders, start=1)
    ]
    run_ids = [r["run_id"] for r in lines]
    assert len(set(run_ids)) == BATCH and in_flight <= set(run_ids)
    assert sorted(r.run_id for r in gates.store.list_runs()) == sorted(run_ids), (
        "a run per row, no more (a retried phase never starts a second run)"
    )
    retried = 0
    for run_id in run_ids:
        assert gates.store.get_run(run_id).state is RunState.DONE
        assert _done_transitions(gates, run_id) == 1, f"run {run_id} finished once"
        retried += [e.kind for e in gates.store.events(run_id)].count("phase_retried")
    assert retried >= 1, "the killed worker had phases in hand, another worker redid them"
    report = gates.store.verify(run_ids)
    assert report.ok and report.artifacts_checked >= 3 * BATCH, report
    assert kill.scale.blob_keys(), "the screenshots are in the bucket"
    ended = kill.wait_workflows_end(run_ids)
    assert {e["result"]["state"] for e in ended.values()} == {"done"}


def test_a_worker_killed_mid_commit_leaves_exactly_one_refund(gates: Gates, kill: KillCli):
    order_id, run_id, gate_id = refund_paused(gates, kill)
    gates.sandbox.set_faults(FLAVOR, latency=600)  # widen the window around the confirm POST
    approved = kill("approve", gate_id, "--yes", "--json", user="reviewer")
    assert approved.returncode == 0, approved.stderr

    def refund_written() -> bool:
        state = gates.store.get_run(run_id).state
        assert state in (RunState.APPROVED, RunState.COMMITTING), state
        return state is RunState.COMMITTING and bool(gates.refunds(order_id))

    # killed after the sandbox wrote the refund, before the worker saw the confirmation: the
    # case where a blind retry would refund twice
    wait_for("the refund written, the run still committing", refund_written, timeout_s=120)
    kill.workers[0].kill()
    assert gates.store.get_run(run_id).state is RunState.COMMITTING
    gates.sandbox.set_faults(FLAVOR, latency=0)
    kill.start_worker()  # Temporal retries the settle activity here once the dead one's
    # heartbeat lapses; it reconciles (the lease first runs out) and finds the refund
    ended = kill.wait_workflows_end([run_id], timeout_s=240)[run_id]
    assert ended["result"]["state"] == "done", (ended, kill.worker_logs())
    assert gates.store.get_run(run_id).state is RunState.DONE
    refunds = gates.refunds(order_id)
    assert len(refunds) == 1 and refunds[0]["reference"] == f"aijia {run_id}", refunds
    kinds = [e.kind for e in gates.store.events(run_id)]
    assert "reconcile_finished" in kinds, "found by reconcile, never retried blindly"
    assert _done_transitions(gates, run_id) == 1
    assert gates.store.verify([run_id]).ok
    again = kill("approve", gate_id, "--yes", user="supervisor")
    assert again.returncode == 5, "a used gate is refused"
    assert len(gates.refunds(order_id)) == 1
