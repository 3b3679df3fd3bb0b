"""The sandbox's own SQLite database: schema, connection, and small typed helpers.

All three seller centers share one database; every row carries its `flavor`. Money is stored
in minor units (cents) as integers, timestamps as ISO-8601 UTC strings.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    flavor TEXT NOT NULL, email TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
    password_hash TEXT NOT NULL, totp_secret TEXT, locked INTEGER NOT NULL DEFAULT 0,
    failed_logins INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (flavor, email));
CREATE TABLE IF NOT EXISTS sessions (
    token TEXT PRIMARY KEY, flavor TEXT NOT NULL, email TEXT NOT NULL,
    stage TEXT NOT NULL, created_at REAL NOT NULL, last_seen REAL NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    flavor TEXT NOT NULL, order_id TEXT NOT NULL, ref TEXT NOT NULL, seq INTEGER NOT NULL,
    scenario TEXT NOT NULL, status TEXT NOT NULL, currency TEXT NOT NULL,
    buyer_name TEXT NOT NULL, buyer_email TEXT NOT NULL, shipping_address TEXT NOT NULL,
    payment_method TEXT NOT NULL, paid INTEGER NOT NULL, subtotal INTEGER NOT NULL,
    shipping_fee INTEGER NOT NULL, total INTEGER NOT NULL, created_at TEXT NOT NULL,
    carrier TEXT NOT NULL, tracking_number TEXT NOT NULL,
    PRIMARY KEY (flavor, order_id));
CREATE INDEX IF NOT EXISTS orders_ref ON orders (flavor, ref);
CREATE TABLE IF NOT EXISTS items (
    flavor TEXT NOT NULL, order_id TEXT NOT NULL, line INTEGER NOT NULL, sku TEXT NOT NULL,
    title TEXT NOT NULL, quantity INTEGER NOT NULL, unit_price INTEGER NOT NULL,
    PRIMARY KEY (flavor, order_id, line));
CREATE TABLE IF NOT EXISTS events (
    flavor TEXT NOT NULL, order_id TEXT NOT NULL, at TEXT NOT NULL, location TEXT NOT NULL,
    description TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_order ON events (flavor, order_id);
CREATE TABLE IF NOT EXISTS refunds (
    refund_id TEXT NOT NULL, flavor TEXT NOT NULL, order_id TEXT NOT NULL,
    amount INTEGER NOT NULL, currency TEXT NOT NULL, reason TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL, created_by TEXT NOT NULL,
    source TEXT NOT NULL, PRIMARY KEY (flavor, refund_id));
CREATE TABLE IF NOT EXISTS notes (
    note_id INTEGER PRIMARY KEY AUTOINCREMENT, flavor TEXT NOT NULL, order_id TEXT NOT NULL,
    body TEXT NOT NULL, author TEXT NOT NULL, created_at TEXT NOT NULL, source TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS return_requests (
    flavor TEXT NOT NULL, order_id TEXT NOT NULL, reason TEXT NOT NULL,
    requested_amount INTEGER NOT NULL, status TEXT NOT NULL, offer_amount INTEGER,
    requested_at TEXT NOT NULL, PRIMARY KEY (flavor, order_id));
"""

# Tables the seed fills and a reset empties (sessions go too: a reset logs everyone out).
DATA_TABLES = (
    "users",
    "sessions",
    "orders",
    "items",
    "events",
    "refunds",
    "notes",
    "return_requests",
    "meta",
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def connect(path: Path | str) -> sqlite3.Connection:
    """Open (and create) the sandbox database. One connection serves the whole process."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    return conn


@contextmanager
def atomic(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Related writes in one transaction: all or nothing."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def get_meta(conn: sqlite3.Connection, key: str, default: str = "") -> str:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return str(row["value"]) if row else default


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
