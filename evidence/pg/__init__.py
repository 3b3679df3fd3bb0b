"""The evidence store's rows on PostgreSQL (`evidence.database: postgresql://…`).

database.py  PgDatabase: the sqlite-utils calls the store makes, on psycopg 3
dialect.py   the few SQLite-only forms in the store's SQL, rewritten for PostgreSQL
schema.py    the schema at the latest migration, with the append-only triggers

Only imported when a store is opened on PostgreSQL: psycopg is the `scale` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from agent.core.errors import EvidenceError
from evidence.pg.schema import SCHEMA, VERSION

if TYPE_CHECKING:
    from evidence.pg.database import PgDatabase


def safe_url(url: str) -> str:
    """The URL to show in messages: without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def connect(url: str, *, lock_timeout_s: float) -> PgDatabase:
    """A connection to the store's database; EvidenceError when psycopg is missing."""
    try:
        from evidence.pg.database import PgDatabase
    except ImportError as exc:
        raise EvidenceError(
            f"evidence.database is PostgreSQL but psycopg is not installed ({exc})",
            hint="pip install 'aijia[scale]' (psycopg 3), or leave evidence.database empty "
            "for SQLite",
        ) from exc
    return PgDatabase(url, lock_timeout_s=lock_timeout_s)


def ensure_schema(db: PgDatabase, *, known: int, where: str) -> None:
    """Create the schema in an empty database (under the write lock, so that processes
    opening a new store at once create it once); refuse a schema this Aijia does not know.

    `known`: len(evidence.migrations.MIGRATIONS), which the schema here must equal.
    """
    if known != VERSION:  # a migration was added without its PostgreSQL twin
        raise EvidenceError(
            f"evidence store {where}: the PostgreSQL schema is at version {VERSION}, "
            f"the SQLite migrations at {known}",
            hint="add the new migration to evidence/pg/schema.py and raise its VERSION",
        )
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        exists = db.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
        if exists is None or not exists[0]:
            db.executescript(SCHEMA)
            db.execute("INSERT INTO schema_version (version) VALUES (?)", [VERSION])
        row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        db.conn.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    version = row[0] if row else None
    if version != VERSION:
        raise EvidenceError(
            f"evidence store {where}: schema version {version}, this Aijia knows {VERSION}",
            hint="upgrade Aijia before using this store"
            if (version or 0) > VERSION
            else "this database was not created by Aijia's evidence store",
        )
