"""A real recipe run (real Chromium, the sandbox over HTTP) with the store's rows on a real
PostgreSQL: the trail is there, sealed and signed, and `aijia evidence verify`, a separate
process reading the same database, passes; a row edited in the database is then named."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import psycopg
import yaml

from agent.core.settings import Settings
from agent.core.states import RunState
from evidence.store import EvidenceStore
from tests.conftest import aijia_command
from tests.recipes.conftest import Runner


def verify(config: Path, run_id: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [aijia_command(), "evidence", "verify", run_id, "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_lookup_order_on_postgres_verifies_from_the_cli(
    run: Any, chromium: Any, sandbox: Any, product: Settings, pg_url: str, tmp_path: Path
) -> None:
    product.evidence.database = pg_url
    order = sandbox.find_orders("shoplane", "delivered", limit=1)[0]
    with EvidenceStore.open(product) as store:
        result = Runner("shoplane", run, chromium, product, store)(
            "lookup_order", order_id=order.order_id
        )
        assert result.state is RunState.DONE, result.error
        assert result.run_id is not None
        run_id = result.run_id
        assert not (store.root / "evidence.db").exists(), "no SQLite file: rows are in PostgreSQL"
    with psycopg.connect(pg_url) as conn:
        kinds = [
            k
            for (k,) in conn.execute(
                "SELECT kind FROM events WHERE run_id = %s ORDER BY seq", [run_id]
            )
        ]
        signed = conn.execute(
            "SELECT COUNT(*) FROM manifests WHERE run_id = %s AND signature IS NOT NULL",
            [run_id],
        ).fetchone()
    assert kinds[0] == "run_created" and "run_finished" in kinds
    assert signed is not None and signed[0] >= 1

    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(product.data_dir),
                "evidence": {
                    "database": pg_url,
                    "signing": {"key_file": str(product.evidence.signing.key_file)},
                },
            }
        )
    )
    checked = verify(config, run_id)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    with psycopg.connect(pg_url, autocommit=True) as conn:  # an edit the triggers allow
        conn.execute("UPDATE runs SET outputs = '{}' WHERE run_id = %s", [run_id])
    broken = verify(config, run_id)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert run_id in broken.stdout
