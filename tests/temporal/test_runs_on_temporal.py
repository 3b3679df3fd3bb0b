"""Runs on the temporal backend, end to end: `aijia run` starts a workflow (id = run id) that
an `aijia worker` subprocess executes in real Chromium against the sandbox; a gate is a
durable wait that `aijia approve` / `aijia reject` wake and its expiry ends."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml
from temporalio.client import WorkflowExecutionStatus

from agent.core.states import RunState
from tests.gates.conftest import FLAVOR, Cli, Gates
from tests.temporal.conftest import TemporalCli


def _run_json(cli: Cli, *args: str) -> tuple[int, dict[str, Any]]:
    done = cli("run", *args, "--site", FLAVOR, "--json", user="lead")
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def _refund(gates: Gates, tcli: TemporalCli) -> tuple[str, dict[str, Any]]:
    order = gates.sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    code, paused = _run_json(
        tcli,
        "prepare_refund",
        "-i",
        f"order_id={order.order_id}",
        "-i",
        "amount=1.50",
        "-i",
        "reason=damaged",
    )
    assert code == 3, paused
    assert paused["state"] == "paused" and paused["gate_id"], paused
    return order.order_id, paused


def test_lookup_on_temporal_returns_what_the_local_backend_returns(
    gates: Gates, cli: Cli, tcli: TemporalCli
):
    order = gates.sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    local_code, local = _run_json(cli, "lookup_order", "-i", f"order_id={order.order_id}")
    code, remote = _run_json(tcli, "lookup_order", "-i", f"order_id={order.order_id}")
    assert (local_code, code) == (0, 0), (local, remote)
    assert remote["state"] == "done" and remote["outputs"] == local["outputs"]
    assert remote["outputs"]["order_id"] == order.order_id
    run_id = remote["run_id"]
    assert run_id != local["run_id"]
    ended = tcli.wait_workflow_end(run_id)  # workflow id = run id
    assert ended["status"] == WorkflowExecutionStatus.COMPLETED
    assert ended["result"]["state"] == "done"
    assert gates.store.get_run(run_id).state is RunState.DONE
    assert gates.store.verify([run_id]).ok


def test_a_batch_on_temporal_is_a_workflow_a_row(gates: Gates, tcli: TemporalCli, tmp_path: Path):
    orders = [o.order_id for o in gates.sandbox.find_orders(FLAVOR, "delivered", limit=2)]
    rows = tmp_path / "orders.csv"
    rows.write_text("order_id\n" + "".join(f"{o}\n" for o in orders), encoding="utf-8")
    done = tcli("run", "lookup_order", "--site", FLAVOR, "-f", str(rows), "--json", user="lead")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.strip().splitlines()]
    assert [(r["row"], r["state"], r["outputs"]["order_id"]) for r in lines] == [
        (1, "done", orders[0]),
        (2, "done", orders[1]),
    ]
    for line in lines:
        assert tcli.wait_workflow_end(line["run_id"])["result"]["state"] == "done"


def test_a_worker_lends_read_only_runs_its_warm_context_and_never_a_gated_one(
    gates: Gates, tcli: TemporalCli
):
    orders = [o.order_id for o in gates.sandbox.find_orders(FLAVOR, "delivered", limit=2)]
    run_ids = []
    for order in orders:  # one after the other: the second finds the first's context idle
        code, found = _run_json(tcli, "lookup_order", "-i", f"order_id={order}")
        assert code == 0 and found["outputs"]["order_id"] == order, found
        run_ids.append(found["run_id"])
    reused = [
        [e.data for e in gates.store.events(run_id) if e.kind == "context_reused"]
        for run_id in run_ids
    ]
    assert reused == [[], [{"earlier_runs": 1}]], reused
    _, paused = _refund(gates, tcli)  # gated: a fresh context of its own
    kinds = [e.kind for e in gates.store.events(paused["run_id"])]
    assert "context_reused" not in kinds
    assert gates.store.verify(run_ids).ok


def test_gated_refund_waits_durably_and_commits_once_after_approval(
    gates: Gates, tcli: TemporalCli
):
    order_id, paused = _refund(gates, tcli)
    run_id = paused["run_id"]
    assert tcli.workflow(run_id)["status"] == WorkflowExecutionStatus.RUNNING
    assert gates.refunds(order_id) == [], "nothing is committed before the approval"

    own = tcli("approve", paused["gate_id"], "--yes", user="lead")
    assert own.returncode == 6, "the initiator never approves, on any backend"
    approved = tcli("approve", paused["gate_id"], "--yes", "--json", user="reviewer")
    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout)["committed_by"] == "workflow"

    ended = tcli.wait_workflow_end(run_id)
    assert ended["status"] == WorkflowExecutionStatus.COMPLETED
    assert ended["result"]["state"] == "done", ended
    assert gates.store.get_run(run_id).state is RunState.DONE
    assert len(gates.refunds(order_id)) == 1
    again = tcli("approve", paused["gate_id"], "--yes", user="supervisor")
    assert again.returncode == 5, "a used gate is refused"
    assert len(gates.refunds(order_id)) == 1


def test_rejection_and_expiry_end_the_workflow_with_nothing_committed(
    gates: Gates, tcli: TemporalCli
):
    order_id, rejected = _refund(gates, tcli)
    no = tcli("reject", rejected["gate_id"], "--reason", "wrong amount", user="reviewer")
    assert no.returncode == 0, no.stderr
    ended = tcli.wait_workflow_end(rejected["run_id"])
    assert ended["result"]["state"] == "rejected"

    _, expiring = _refund(gates, tcli)  # nobody decides: the gate's timer ends the wait
    ended = tcli.wait_workflow_end(expiring["run_id"], timeout_s=90)
    assert ended["result"]["state"] == "expired"
    assert gates.store.get_gate(expiring["gate_id"]).state == "expired"
    assert gates.refunds(order_id) == []


def test_a_worker_killed_mid_prepare_leaves_the_run_to_another_that_finishes_it_once(
    gates: Gates, tcli: TemporalCli
):
    order = gates.sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    order_id = order.order_id
    gates.sandbox.set_faults(latency=400)  # every page slow: the prepare phase takes seconds
    started = subprocess.Popen(
        tcli.argv("run", "lookup_order", "--json", "--site", FLAVOR, "-i", f"order_id={order_id}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=tcli.env_of("lead"),
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        running: list[Any] = []
        while not running and time.monotonic() < deadline and started.poll() is None:
            running = gates.store.list_runs(state=RunState.RUNNING.value)
            time.sleep(0.05)
        assert running, "the run never reached its prepare phase"
        run_id = running[0].run_id
        tcli.workers[0].kill()  # SIGKILL, mid-prepare
        assert gates.store.get_run(run_id).state is RunState.RUNNING
        gates.sandbox.set_faults(latency=0)
        tcli.start_worker()
        out, err = started.communicate(timeout=240)
    finally:
        if started.poll() is None:
            started.kill()
            started.communicate()
    assert started.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["run_id"] == run_id and result["state"] == "done"
    assert result["outputs"]["order_id"] == order.order_id
    events = gates.store.events(run_id)
    assert [e.kind for e in events].count("phase_retried") == 1
    finished = [e for e in events if e.kind == "state_changed" and e.data["to_state"] == "done"]
    assert len(finished) == 1, "the run finished once"
    assert gates.store.verify([run_id]).ok
    assert tcli.wait_workflow_end(run_id)["result"]["state"] == "done"


def test_without_a_temporal_service_run_and_worker_refuse_before_creating_anything(
    gates: Gates, cli: Cli, tmp_path: Path
):
    from tests.servers.temporal import free_port

    raw = yaml.safe_load(cli.config.read_text(encoding="utf-8"))
    raw["runs"] = {"backend": "temporal", "temporal": {"address": f"127.0.0.1:{free_port()}"}}
    config = tmp_path / "nobody-home.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    offline = Cli(config, cli.env, cli.tokens)

    order = gates.sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    ran = offline(
        "run", "lookup_order", "--site", FLAVOR, "-i", f"order_id={order.order_id}", user="lead"
    )
    assert ran.returncode == 2, ran.stderr
    assert "cannot reach the Temporal service" in ran.stderr and "hint:" in ran.stderr
    assert gates.store.list_runs() == [], "refused before a run exists"
    worker = offline("worker")
    assert worker.returncode == 2 and "cannot reach the Temporal service" in worker.stderr
    local = cli("worker")
    assert local.returncode == 2 and "runs.backend: temporal" in local.stderr
