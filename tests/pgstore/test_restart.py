"""The database server restarts under an open store (maintenance, a failover): the store
opens its connection again and goes on; nothing committed is lost, the chain still verifies."""

from __future__ import annotations

from pathlib import Path

from agent.core.settings import EvidenceSettings
from agent.core.states import RunState
from evidence.store import EvidenceStore
from tests.evidence.conftest import new_run
from tests.servers.postgres import PostgresServer


def test_a_store_survives_a_server_restart(
    tmp_path: Path, pg_url: str, postgres: PostgresServer
) -> None:
    with EvidenceStore(tmp_path / "evidence", EvidenceSettings(database=pg_url)) as store:
        run = new_run(store)
        store.transition(run.run_id, RunState.PENDING, RunState.RUNNING)
        postgres.restart()
        assert store.get_run(run.run_id).state is RunState.RUNNING  # a read reconnects
        postgres.restart()
        store.append_event(run.run_id, "step_started", {"step": 1})  # so does a write
        store.finish_run(run.run_id, outputs={"ok": True})
        assert [e.kind for e in store.events(run.run_id)][-2:] == ["step_started", "run_finished"]
        assert store.verify().ok
