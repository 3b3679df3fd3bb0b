"""A PostgreSQL connection that offers what the store uses of sqlite-utils' `Database`.

The store code is written once, against sqlite-utils; this adapter is the other engine
behind the same calls:

    db.execute(sql, params)      -> a cursor (fetchone, fetchall, rowcount)
    db.query(sql, params)        -> dict rows
    db[name].insert(row)         -> one INSERT (insert_all: several)
    db.conn.execute("BEGIN IMMEDIATE") / "BEGIN" / "COMMIT" / "ROLLBACK", db.conn.in_transaction

Statements go through `evidence.pg.dialect.translate`. The write lock: SQLite's BEGIN
IMMEDIATE becomes BEGIN + `pg_advisory_xact_lock(STORE_LOCK)`, one lock per database that
every writer queues on (waiting up to `lock_timeout` = evidence.busy_timeout_s), released by
COMMIT or ROLLBACK; reads inside then see every earlier commit (READ COMMITTED, each
statement after the lock). A read snapshot (`EvidenceStore.snapshot`, a plain BEGIN) is
REPEATABLE READ: one moment for all its reads, as SQLite's deferred WAL transaction.

Errors: the store catches the DB-API classes of `sqlite3` (IntegrityError for a unique
claim, OperationalError for a lock it did not get), so psycopg's are raised as those, the
original chained (`raise … from`): error handling is written once too.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from evidence.pg.dialect import translate

T = TypeVar("T")

# The advisory lock every write transaction takes: one writer at a time per database.
STORE_LOCK = int.from_bytes(
    hashlib.sha256(b"aijia evidence store").digest()[:8], "big", signed=True
)


@contextlib.contextmanager
def sqlite_errors() -> Iterator[None]:
    """Raise psycopg's errors as the sqlite3 classes the store already handles."""
    try:
        yield
    except pg_errors.LockNotAvailable as exc:
        raise sqlite3.OperationalError(f"database is locked (PostgreSQL: {exc})") from exc
    except psycopg.IntegrityError as exc:
        raise sqlite3.IntegrityError(str(exc)) from exc
    except psycopg.OperationalError as exc:
        raise sqlite3.OperationalError(str(exc)) from exc
    except psycopg.Error as exc:
        raise sqlite3.DatabaseError(str(exc)) from exc


class PgConnection:
    """`db.conn`: the transaction statements the store sends, and `in_transaction`."""

    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    @property
    def in_transaction(self) -> bool:
        raw = self.db.current
        # A broken connection's transaction is gone (the server rolled it back): none open.
        return not raw.broken and raw.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str) -> None:
        word = " ".join(sql.split()).upper()
        with sqlite_errors():
            if word == "BEGIN IMMEDIATE":
                self.db.retrying(lambda raw: raw.execute("BEGIN"))
                try:
                    self.db.raw.execute("SELECT pg_advisory_xact_lock(%s)", [STORE_LOCK])
                except psycopg.Error:
                    if self.in_transaction:
                        self.db.raw.execute("ROLLBACK")
                    raise
            elif word == "BEGIN":
                self.db.retrying(lambda raw: raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ"))
            elif word in ("COMMIT", "ROLLBACK"):
                if word == "ROLLBACK" and self.db.current.broken:
                    return  # nothing to roll back on a lost connection
                self.db.raw.execute(word)
            else:
                raise ValueError(f"PgConnection.execute: only transaction control, not {sql!r}")


class PgTable:
    """`db[name]`: the inserts the store makes (sqlite-utils' Table.insert / insert_all)."""

    def __init__(self, db: PgDatabase, name: str) -> None:
        self.db = db
        self.name = name

    def insert(self, row: Mapping[str, Any], *, replace: bool = False) -> PgTable:
        """`replace`: the row with the same primary key is replaced (SQLite's INSERT OR
        REPLACE), here an upsert on the primary key."""
        columns = ", ".join(f'"{c}"' for c in row)
        marks = ", ".join("%s" for _ in row)
        sql = f'INSERT INTO "{self.name}" ({columns}) VALUES ({marks})'
        if replace:
            key = self.primary_key()
            sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in row if c not in key)
            target = ", ".join(f'"{c}"' for c in key)
            sql += f" ON CONFLICT ({target}) " + (f"DO UPDATE SET {sets}" if sets else "DO NOTHING")
        with sqlite_errors():
            self.db.raw.execute(sql, list(row.values()))
        return self

    def primary_key(self) -> list[str]:
        with sqlite_errors():
            rows = self.db.raw.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
                "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                "WHERE i.indrelid = %s::regclass AND i.indisprimary",
                [self.name],
            ).fetchall()
        if not rows:
            raise sqlite3.OperationalError(f"table {self.name} has no primary key to replace on")
        return [r[0] for r in rows]

    def insert_all(self, rows: Iterable[Mapping[str, Any]], *, replace: bool = False) -> PgTable:
        for row in rows:
            self.insert(row, replace=replace)
        return self


# How long a lost connection is sought again (a server restart, a failover) before the
# store gives up: longer than a restart takes, shorter than an activity's heartbeat timeout.
RECONNECT_S = 15.0


class PgDatabase:
    """The store's rows on PostgreSQL (see the module docstring).

    A connection lost (a server restart, a failover) is opened again on the next use outside
    a transaction (for up to RECONNECT_S while the server comes back); a read or a BEGIN
    that finds it lost is retried once on the new one. A
    transaction it breaks fails (and is rolled back by the server), as a crash would.
    """

    def __init__(self, url: str, *, lock_timeout_s: float) -> None:
        self.url = url
        self.lock_timeout_s = lock_timeout_s
        self.current = self._connect()
        self.conn = PgConnection(self)

    def _connect(self) -> psycopg.Connection[Any]:
        with sqlite_errors():
            # autocommit: transactions are the store's explicit BEGIN/COMMIT, as on SQLite
            raw: psycopg.Connection[Any] = psycopg.connect(self.url, autocommit=True)
            raw.execute(f"SET lock_timeout = {int(self.lock_timeout_s * 1000)}")
        return raw

    @property
    def raw(self) -> psycopg.Connection[Any]:
        """The connection, opened again when it was lost (never inside a transaction: a
        lost one is over)."""
        if self.current.broken:
            self.current.close()
            self.current = self._reconnect()
        return self.current

    def _reconnect(self) -> psycopg.Connection[Any]:
        """A new connection after one was lost: a restarting server refuses connections ("the
        database system is shutting down", "… starting up", refused) for a few seconds, so
        try again for up to RECONNECT_S before giving up. Only here, never on the first open:
        a wrong URL must fail at once."""
        deadline = time.monotonic() + max(RECONNECT_S, self.lock_timeout_s)
        pause = 0.2
        while True:
            try:
                return self._connect()
            except sqlite3.OperationalError:
                if time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 2.0)

    def retrying(self, run: Callable[[psycopg.Connection[Any]], T]) -> T:
        """`run(connection)`, once more on a new connection when the old one turns out lost;
        only for statements that change nothing (reads, BEGIN) outside a transaction."""
        try:
            return run(self.raw)
        except psycopg.OperationalError:
            if not self.current.broken:
                raise
            return run(self.raw)

    def _statement(self, sql: str, run: Callable[[psycopg.Connection[Any]], T]) -> T:
        idle = not self.conn.in_transaction
        if idle and sql.lstrip()[:6].upper() == "SELECT":
            return self.retrying(run)
        return run(self.raw)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> psycopg.Cursor[Any]:
        query, args = translate(sql), list(params or [])
        with sqlite_errors():
            return self._statement(sql, lambda raw: raw.execute(query, args))

    def query(self, sql: str, params: Sequence[Any] | None = None) -> Iterator[dict[str, Any]]:
        query, args = translate(sql), list(params or [])
        with sqlite_errors():
            rows = self._statement(
                sql, lambda raw: raw.cursor(row_factory=dict_row).execute(query, args).fetchall()
            )
        yield from rows

    def executescript(self, script: str) -> None:
        """Several statements as written (PostgreSQL DDL: no translation, no parameters)."""
        with sqlite_errors():
            self.raw.execute(script.encode())  # bytes: no placeholder parsing

    def __getitem__(self, name: str) -> PgTable:
        return PgTable(self, name)

    def close(self) -> None:
        self.current.close()
