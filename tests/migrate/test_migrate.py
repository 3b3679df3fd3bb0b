"""`aijia evidence migrate`: a real SQLite store (real recipe runs) copied into a real
PostgreSQL (and its blobs into a moto S3 bucket); the copy verifies run by run as the source
does, every table has the same rows and every run the same root hash; a tampered source is
refused; a non-empty target is refused; an interrupted copy resumes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

import evidence.migrate as migration
from agent.core.errors import EvidenceError
from agent.core.settings import BlobSettings, Settings
from agent.core.states import RunState
from evidence.migrate import migrate
from evidence.store import EvidenceStore
from tests.blobs.conftest import blob_settings
from tests.conftest import aijia_command
from tests.servers.s3 import S3Server


def aijia(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [aijia_command(), *args], capture_output=True, text=True, timeout=300, check=False
    )


def sqlite_counts(product: Settings) -> dict[str, int]:
    with sqlite3.connect(product.data_dir / "evidence" / "evidence.db") as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND (name NOT LIKE 'sqlite_%' OR name = 'sqlite_sequence')"
            )
        ]
        return {n: conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}


def pg_counts(url: str, names: list[str]) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {n: conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}  # type: ignore[index]


def roots(conn: Any) -> dict[str, str]:
    """Each run's last root hash (the same SQL on both engines)."""
    sql = (
        "SELECT run_id, root_hash FROM manifests m WHERE n = (SELECT MAX(n) FROM manifests x "
        "WHERE x.run_id = m.run_id)"
    )
    return dict(conn.execute(sql).fetchall())


def test_migrate_copies_every_row_and_the_copy_verifies(
    filled: dict[str, str], product: Settings, pg_url: str, write_config: Callable[..., Path]
) -> None:
    source = write_config("source.yaml")
    before = aijia("evidence", "verify", "--all", "--json", "-c", str(source))
    assert before.returncode == 0, before.stdout + before.stderr

    done = aijia("evidence", "migrate", "--to", pg_url, "--json", "-c", str(source))
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    counts = sqlite_counts(product)
    assert {t["name"]: t["rows"] for t in result["tables"]} == counts
    for table in ("runs", "events", "manifests", "gates", "approvals", "ledger", "commit_leases"):
        assert counts[table] > 0, f"the recipe runs left no rows in {table}"
    assert pg_counts(pg_url, list(counts)) == counts
    assert result["runs_compared"] >= 2 and result["verified_runs"] >= 2

    with sqlite3.connect(product.data_dir / "evidence" / "evidence.db") as conn:
        source_roots = roots(conn)
    with psycopg.connect(pg_url) as pg:
        assert roots(pg) == source_roots
    assert set(filled.values()) <= set(source_roots)

    # the copy, as a store of its own: verify passes, run by run as on the source
    target = write_config("target.yaml", database=pg_url)
    after = aijia("evidence", "verify", "--all", "--json", "-c", str(target))
    assert after.returncode == 0, after.stdout + after.stderr
    mine, theirs = json.loads(before.stdout), json.loads(after.stdout)
    for key in ("runs_checked", "events_checked", "artifacts_checked", "breaks"):
        assert mine[key] == theirs[key], key
    for run_id in filled.values():
        one = aijia("evidence", "verify", run_id, "-c", str(target))
        assert one.returncode == 0, one.stdout + one.stderr

    # a second migrate into the same database is refused; --resume finds nothing to change
    again = aijia("evidence", "migrate", "--to", pg_url, "-c", str(source))
    assert again.returncode == 7, again.stdout + again.stderr
    assert "not empty" in again.stderr and "--resume" in again.stderr
    resumed = aijia("evidence", "migrate", "--to", pg_url, "--resume", "--json", "-c", str(source))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert pg_counts(pg_url, list(counts)) == counts


def test_a_tampered_source_is_refused_and_nothing_is_copied(
    filled: dict[str, str], product: Settings, pg_url: str, write_config: Callable[..., Path]
) -> None:
    """Refuse, rather than copy and let verify fail on both: the copy is lossless, so it
    would break the same way, but a fresh database holding a tampered trail invites someone
    to decommission the original, which is where the incident must be looked into."""
    refund = filled["prepare_refund"]
    with sqlite3.connect(product.data_dir / "evidence" / "evidence.db") as conn:
        conn.execute("UPDATE runs SET outputs = '{}' WHERE run_id = ?", [refund])
    done = aijia("evidence", "migrate", "--to", pg_url, "-c", str(write_config("c.yaml")))
    assert done.returncode == 7, done.stdout + done.stderr
    assert "does not verify" in done.stderr and refund in done.stderr
    with psycopg.connect(pg_url) as pg:  # refused before the target was touched at all
        assert pg.execute("SELECT to_regclass('runs')").fetchone() == (None,)


def test_an_interrupted_copy_resumes_with_blobs_and_root_log_to_s3(
    filled: dict[str, str],
    product: Settings,
    pg_url: str,
    s3: S3Server,
    write_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = s3.new_bucket()
    product.evidence.blobs = BlobSettings.model_validate(blob_settings(s3, bucket))
    product.evidence.signing.root_log_in_bucket = True  # roots.log's lines go there too
    monkeypatch.setattr(migration, "BATCH", 7)  # small batches: the cut falls mid-table

    def cut(what: str, done: int, total: int) -> None:
        if what == "events" and done >= 14:
            raise KeyboardInterrupt  # as Ctrl-C would, between two committed batches

    with pytest.raises(KeyboardInterrupt):
        migrate(product, pg_url, blobs_to_s3=True, progress=cut)
    counts = sqlite_counts(product)
    partial = pg_counts(pg_url, ["events", "runs"])
    assert 0 < partial["events"] < counts["events"]

    with pytest.raises(EvidenceError, match="not empty"):
        migrate(product, pg_url, blobs_to_s3=True)
    # the source is written to before the copy resumes (a run: runs, ledger, the outbox)
    local = product.model_copy(deep=True)
    local.evidence.blobs = BlobSettings()
    local.evidence.signing.root_log_in_bucket = False
    with EvidenceStore.open(local) as store:
        late = store.create_run(
            recipe="lookup_order", recipe_version="1", site="shoplane", inputs={}
        )
        store.transition(late.run_id, RunState.PENDING, RunState.RUNNING)
    seen: list[tuple[str, int, int]] = []
    result = migrate(
        product, pg_url, blobs_to_s3=True, resume=True, progress=lambda *a: seen.append(a)
    )
    counts = sqlite_counts(product)
    assert pg_counts(pg_url, list(counts)) == counts
    assert result.runs_compared == 3
    assert result.blobs == counts["artifacts"] > 0
    assert ("blobs", counts["artifacts"], counts["artifacts"]) in seen
    with sqlite3.connect(product.data_dir / "evidence" / "evidence.db") as conn:
        paths = sorted(f"evidence/test/{p}" for (p,) in conn.execute("SELECT path FROM artifacts"))
    keys = s3.keys(bucket)
    assert [k for k in keys if "/objects/" in k] == paths
    lines = (product.data_dir / "roots.log").read_text().splitlines()
    assert result.root_log == f"s3://{bucket}/evidence/test/roots/"
    assert len([k for k in keys if "/roots/" in k]) == len(lines) > 0
    target = write_config("target.yaml", database=pg_url, bucket=bucket, root_log_in_bucket=True)
    after = aijia("evidence", "verify", "--all", "-c", str(target))
    assert after.returncode == 0, after.stdout + after.stderr
    assert (product.data_dir / "evidence" / "evidence.db").exists(), "the source stays"


def test_a_store_being_written_is_not_migrated(product: Settings, pg_url: str) -> None:
    """Another process holds the source's write lock: migrate waits busy_timeout_s, then
    refuses, saying so, and the target is not touched."""
    with EvidenceStore.open(product) as store:
        run = store.create_run(
            recipe="lookup_order", recipe_version="1", site="shoplane", inputs={}
        )
        store.transition(run.run_id, RunState.PENDING, RunState.RUNNING)
    product.evidence.busy_timeout_s = 0.5
    writer = sqlite3.connect(product.data_dir / "evidence" / "evidence.db", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # a writer in the middle of its transaction
        with pytest.raises(EvidenceError, match="write lock"):
            migrate(product, pg_url)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    with psycopg.connect(pg_url) as pg:
        assert pg.execute("SELECT to_regclass('runs')").fetchone() == (None,)
    assert migrate(product, pg_url).runs_compared == 1  # once the writer is done
