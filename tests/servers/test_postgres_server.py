"""The throwaway PostgreSQL server the store tests use: it starts, keeps data across a
restart and a crash, and leaves nothing behind."""

from __future__ import annotations

import psycopg

from tests.servers.postgres import PostgresServer, postgres_fixture

postgres = postgres_fixture(scope="module")


def test_data_survives_a_restart_and_a_crash(postgres: PostgresServer) -> None:
    assert postgres.url.startswith("postgresql://aijia@127.0.0.1:")
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (id integer PRIMARY KEY, note text NOT NULL)")
        conn.execute("INSERT INTO kept VALUES (1, 'before restart')")

    postgres.restart()
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        row = conn.execute("SELECT note FROM kept WHERE id = 1").fetchone()
        assert row == ("before restart",)
        conn.execute("INSERT INTO kept VALUES (2, 'before crash')")

    postgres.kill()
    assert not postgres.running()
    postgres.restart()  # crash recovery replays the WAL
    with psycopg.connect(postgres.url) as conn:
        rows = conn.execute("SELECT id FROM kept ORDER BY id").fetchall()
    assert rows == [(1,), (2,)]


def test_stop_removes_the_cluster() -> None:
    server = PostgresServer.start()
    root = server.root
    assert server.running()
    server.stop()
    assert not root.exists()
    server.stop()  # idempotent
