"""The PostgreSQL schema equals the SQLite one at its latest migration, and its append-only
rules hold against anyone with a plain connection (raw psycopg, not the store)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from agent.core.errors import EvidenceError
from agent.core.settings import EvidenceSettings
from evidence import migrations
from evidence.pg.schema import VERSION
from evidence.store import EvidenceStore
from tests.evidence.conftest import full_run

Columns = dict[str, tuple[str, bool, bool]]  # column -> (type, not null, in primary key)
SQLITE_TYPES = {"TEXT": "text", "INTEGER": "bigint"}


def sqlite_schema(root: Path) -> dict[str, Columns]:
    with EvidenceStore(root):
        pass
    conn = sqlite3.connect(root / "evidence.db")
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    tables = {}
    for name in names:
        info = conn.execute(f'PRAGMA table_info("{name}")').fetchall()
        tables[name] = {
            col: (SQLITE_TYPES[kind], bool(notnull) or pk > 0, pk > 0)
            for _, col, kind, notnull, _, pk in info
        }
    conn.close()
    return tables


def postgres_schema(url: str, root: Path) -> dict[str, Columns]:
    with EvidenceStore(root, EvidenceSettings(database=url)):
        pass
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.table_name, c.column_name, c.data_type, c.is_nullable = 'NO', "
            "EXISTS (SELECT 1 FROM information_schema.key_column_usage k "
            "JOIN information_schema.table_constraints t USING (constraint_name, table_name) "
            "WHERE t.constraint_type = 'PRIMARY KEY' AND k.table_name = c.table_name "
            "AND k.column_name = c.column_name) "
            "FROM information_schema.columns c WHERE c.table_schema = 'public' "
            "ORDER BY c.table_name, c.ordinal_position"
        ).fetchall()
    tables: dict[str, Columns] = {}
    for table, col, kind, notnull, pk in rows:
        tables.setdefault(table, {})[col] = (kind, notnull, pk)
    return tables


def test_both_schemas_have_the_same_tables_and_columns(tmp_path: Path, pg_url: str) -> None:
    assert len(migrations.MIGRATIONS) == VERSION, "a new migration needs its PostgreSQL twin"
    lite = sqlite_schema(tmp_path / "lite")
    pg = postgres_schema(pg_url, tmp_path / "pg")
    # PostgreSQL's own bookkeeping: the schema version and SQLite's AUTOINCREMENT counter
    assert set(pg) - set(lite) == {"schema_version", "sqlite_sequence"}
    assert set(lite) <= set(pg)
    for table, columns in lite.items():
        assert list(pg[table]) == list(columns), f"{table}: columns or their order differ"
        assert pg[table] == columns, f"{table}: types, NOT NULL or primary key differ"


APPEND_ONLY = ["events", "approvals", "manifests", "ledger", "ledger_seals"]
NO_DELETE = ["events", "ledger", "ledger_seals"]  # as on SQLite: approvals and manifests
# go with their run when retention prunes it


@pytest.fixture
def filled(tmp_path: Path, pg_url: str) -> tuple[str, str]:
    with EvidenceStore(tmp_path / "evidence", EvidenceSettings(database=pg_url)) as store:
        run = full_run(store)
        assert store.verify().ok
    return pg_url, run.run_id


@pytest.mark.parametrize("table", APPEND_ONLY)
def test_rows_cannot_be_updated_or_truncated(filled: tuple[str, str], table: str) -> None:
    url, _ = filled
    with psycopg.connect(url, autocommit=True) as conn:
        first = conn.execute(f"SELECT * FROM {table} LIMIT 1").fetchone()
        assert first is not None, f"{table} has rows to protect"
        column = conn.execute(f"SELECT * FROM {table} LIMIT 0").description[0].name
        with pytest.raises(psycopg.IntegrityError, match="append-only"):
            conn.execute(f'UPDATE {table} SET "{column}" = "{column}"')
        with pytest.raises(psycopg.IntegrityError, match="append-only"):
            conn.execute(f"TRUNCATE {table} CASCADE")
        if table in NO_DELETE:
            with pytest.raises(psycopg.IntegrityError, match="append-only"):
                conn.execute(f"DELETE FROM {table}")
        assert conn.execute(f"SELECT * FROM {table} LIMIT 1").fetchone() == first


def test_events_of_a_pruned_run_may_be_deleted(filled: tuple[str, str]) -> None:
    url, run_id = filled
    with psycopg.connect(url, autocommit=True) as conn:
        with pytest.raises(psycopg.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM events WHERE run_id = %s", [run_id])
        with conn.transaction():  # retention records the prune first, then deletes
            conn.execute("INSERT INTO prunes (run_id, pruned_at) VALUES (%s, 'now')", [run_id])
            conn.execute("DELETE FROM events WHERE run_id = %s", [run_id])
        left = conn.execute("SELECT COUNT(*) FROM events WHERE run_id = %s", [run_id])
        assert left.fetchone() == (0,)


def test_a_newer_schema_is_refused(tmp_path: Path, pg_url: str) -> None:
    opening: Callable[[], EvidenceStore] = lambda: EvidenceStore(  # noqa: E731
        tmp_path / "evidence", EvidenceSettings(database=pg_url)
    )
    opening().close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = version + 1")
    with pytest.raises(EvidenceError, match="schema version 9") as err:
        opening()
    assert "upgrade Aijia" in (err.value.hint or "")


def test_a_wrong_url_says_which_server(tmp_path: Path, pg_url: str) -> None:
    wrong = pg_url.rsplit("/", 1)[0] + "/no_such_db"
    with pytest.raises(EvidenceError, match="no_such_db") as err:
        EvidenceStore(tmp_path / "evidence", EvidenceSettings(database=wrong))
    assert "evidence.database" in (err.value.hint or "")
