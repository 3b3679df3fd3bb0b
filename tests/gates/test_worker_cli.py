"""`aijia approve` with `worker.enabled`: the approver's shell only records the decision — no
resume, no site secrets, no browser — and the commit worker, which holds the secrets,
commits the run once."""

from __future__ import annotations

import yaml

from agent.core.states import RunState
from agent.gates.recorder import OWNER
from agent.schedule.worker import CommitWorker
from tests.gates.conftest import Cli, Gates


def test_approve_only_records_with_the_worker_on_and_the_worker_commits(gates: Gates, cli: Cli):
    raw = yaml.safe_load(cli.config.read_text(encoding="utf-8"))
    raw["worker"]["enabled"] = True
    cli.config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    secrets = set(gates.sandbox.env())  # SHOPLANE_PASSWORD …: the approver has none of them
    cli.env = {k: v for k, v in cli.env.items() if k not in secrets}
    prepared = gates.refund()

    approved = cli("approve", prepared.gate_id, "--yes", user="reviewer")
    said = " ".join(approved.stdout.split())
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert f"gate {prepared.gate_id} approved by reviewer" in said
    assert "the commit worker (`aijia serve`) commits it once" in said
    assert "secret" not in (approved.stdout + approved.stderr).lower()
    assert gates.store.get_run(prepared.run_id).state is RunState.APPROVED
    assert gates.store.get_gate(prepared.gate_id).state == "approved"
    kinds = [e.kind for e in gates.store.events(prepared.run_id)]
    assert OWNER not in kinds and "resume_started" not in kinds, "nothing was resumed"
    assert gates.refunds(prepared.order_id) == []
    [decision] = gates.store.approvals(prepared.gate_id)
    assert decision.approver == "reviewer" and decision.proof.startswith("token ")

    worker = CommitWorker(gates.aijia)  # this process holds the sandbox's secrets
    gates._run(worker.sweep())
    gates._run(worker.sweep())
    assert gates.store.get_run(prepared.run_id).state is RunState.DONE
    assert len(gates.refunds(prepared.order_id)) == 1
    owners = [e.data["user"] for e in gates.store.events(prepared.run_id) if e.kind == OWNER]
    assert owners == ["worker"]
    assert gates.store.verify([prepared.run_id]).ok
