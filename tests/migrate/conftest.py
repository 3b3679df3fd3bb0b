"""Fixtures for `aijia evidence migrate`: a real SQLite store filled by real recipe runs
(real Chromium, the sandbox over HTTP: a lookup, and a refund gated, approved and committed,
so gates, approvals, the ledger and commit leases have rows), a fresh PostgreSQL database on
the session's throwaway server (tests/servers/postgres.py) and a moto S3 server
(tests/servers/s3.py), and a config.yaml naming all of it for the CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.core.settings import Settings
from agent.core.states import RunState
from evidence.store import EvidenceStore
from tests.blobs.conftest import blob_settings
from tests.pgstore.conftest import new_database
from tests.recipes.conftest import Runner, product  # noqa: F401  (a fixture, used by name)
from tests.servers.postgres import PostgresServer, postgres_fixture
from tests.servers.s3 import ACCESS_KEY, SECRET_KEY, S3Server, s3_fixture

postgres = postgres_fixture(scope="session")
s3 = s3_fixture(scope="session")


@pytest.fixture(autouse=True)
def _s3_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIJIA_TEST_S3_KEY", ACCESS_KEY)
    monkeypatch.setenv("AIJIA_TEST_S3_SECRET", SECRET_KEY)


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    return new_database(postgres)


@pytest.fixture
def filled(run: Any, chromium: Any, sandbox: Any, product: Settings) -> dict[str, str]:  # noqa: F811
    """The SQLite store of `product`, with a lookup and an approved, committed refund; the
    run ids by recipe."""
    product.evidence.capture = "every_page"
    with EvidenceStore.open(product) as store:
        shoplane = Runner("shoplane", run, chromium, product, store)
        order = sandbox.find_orders("shoplane", "delivered", limit=1)[0]
        lookup = shoplane("lookup_order", order_id=order.order_id)
        assert lookup.state is RunState.DONE, lookup.error
        order = sandbox.find_orders("shoplane", "partially_refunded", limit=1)[0]
        paused = shoplane(
            "prepare_refund", order_id=order.order_id, amount="1.50", reason="damaged"
        )
        assert paused.state is RunState.PAUSED, paused.error
        assert shoplane.approve(paused).complete
        done = shoplane.resume(paused)
        assert done.state is RunState.DONE, done.error
        assert lookup.run_id and done.run_id
        # a commit released its lease; a worker's live one must survive the move too
        store.acquire_commit_lease(done.run_id, holder="worker@host-1", lease_s=3600)
        return {"lookup_order": lookup.run_id, "prepare_refund": done.run_id}


@pytest.fixture
def write_config(tmp_path: Path, product: Settings, s3: S3Server) -> Callable[..., Path]:  # noqa: F811
    """`write_config(name, database=None, bucket=None, **signing)` -> a config.yaml for the
    CLI on the test's data dir and signing key, its rows on `database`, its blobs in
    `bucket`, more evidence.signing settings from `signing`."""

    def write(
        name: str, database: str | None = None, bucket: str | None = None, **signing: Any
    ) -> Path:
        evidence: dict[str, Any] = {
            "signing": {"key_file": str(product.evidence.signing.key_file), **signing},
        }
        if database:
            evidence["database"] = database
        if bucket:
            evidence["blobs"] = blob_settings(s3, bucket)
        path = tmp_path / name
        path.write_text(yaml.safe_dump({"data_dir": str(product.data_dir), "evidence": evidence}))
        return path

    return write
