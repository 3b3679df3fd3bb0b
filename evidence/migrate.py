"""Copy an embedded (SQLite) evidence store into an empty PostgreSQL store, losslessly:
`aijia evidence migrate --to postgresql://… [--blobs-to s3] [--resume]`.

What it does, in order:

1. opens the source (SQLite at the configured location) and takes its write lock (BEGIN
   IMMEDIATE) for the whole copy: no Aijia process writes to it meanwhile, and a process
   writing right now makes the migration wait, then refuse, naming who holds the lock;
2. verifies the source (`verify --all`) and refuses a broken one: a tampered row is an
   incident to investigate on the original store, not something to carry into a new one
   under a fresh database that looks clean (the lossless copy would break the same way);
3. creates the schema on the target (`evidence.pg.schema`) and refuses a target that holds
   any row, unless `resume` (an interrupted copy: every insert is an upsert on the primary
   key; append-only tables keep what is there and the others are refilled, so running it
   again is idempotent, even after the source was written to meanwhile);
4. copies every table row for row, keeping ids, hashes, seals and signatures, in batches,
   each batch one PostgreSQL transaction under the store's advisory write lock;
5. with `blobs_to_s3`, copies every artifact blob from the local files to `evidence.blobs`
   (each read checked against its name; `put` skips what the bucket already has);
6. compares the two stores: per table, the row count and a digest of every row in key
   order; per run, the last root hash; then verifies the target and requires the same result
   as the source, run by run.

Nothing is deleted from the source. The root log's entry numbers go on where the source
left them, so the target keeps appending to the same log: the same roots.log file (keep
`evidence.signing.root_log` pointing at it), or, with `evidence.signing.root_log_in_bucket`,
the bucket, into which the file's lines are put first (`evidence.rootlog_s3`). Either way
`verify` on the target compares with the log that existed before the move.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.core.errors import ConfigError, EvidenceError
from evidence.writer import lock_error

if TYPE_CHECKING:
    from agent.core.settings import EvidenceSettings, Settings
    from evidence.pg.database import PgDatabase
    from evidence.store import EvidenceStore
    from evidence.verify import VerifyReport

BATCH = 500
# Append-only on PostgreSQL (triggers refuse UPDATE): a resumed copy keeps their rows.
APPEND_ONLY = frozenset({"events", "approvals", "manifests", "ledger", "ledger_seals"})
# (what, done, total): what is a table name or "blobs"
Progress = Callable[[str, int, int], None]


@dataclass
class TableCopy:
    name: str
    rows: int  # in the source
    copied: int = 0  # rows sent to the target in this run (a resume may send fewer)
    digest: str = ""  # sha256 of every source row, in key order


@dataclass
class MigrationResult:
    source: str
    target: str  # the URL without its password
    tables: list[TableCopy] = field(default_factory=list)
    blobs: int = 0  # blobs copied to S3 (0 without blobs_to_s3)
    blobs_to: str | None = None
    runs_compared: int = 0  # runs whose last root hash and verify result matched
    verified_runs: int = 0
    verified_events: int = 0
    verified_artifacts: int = 0
    root_log: str | None = None  # where the target's root log is
    root_log_imported: int = 0  # roots.log lines put into the bucket (root_log_in_bucket)
    resumed: bool = False

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def source_tables(db: sqlite3.Connection) -> list[tuple[str, list[str], list[str]]]:
    """(table, columns, key columns) of every table to copy, sqlite_sequence included (its
    root_log_outbox counter numbers the root log's entries)."""
    names = [
        r[0]
        for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND (name NOT LIKE 'sqlite_%' OR name = 'sqlite_sequence') ORDER BY name"
        )
    ]
    found = []
    for name in names:
        info = db.execute(f"PRAGMA table_info({_quote(name)})").fetchall()
        columns = [r[1] for r in info]
        key = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5]] or ["name"]
        found.append((name, columns, key))
    return found


def _rows(db: Any, table: str, columns: list[str], key: list[str]) -> Iterator[tuple[Any, ...]]:
    """Every row of `table`, in key order (byte order on both engines)."""
    cols = ", ".join(_quote(c) for c in columns)
    order = ", ".join(_quote(c) for c in key)
    cursor = db.execute(f"SELECT {cols} FROM {_quote(table)} ORDER BY {order}")
    while chunk := cursor.fetchmany(BATCH):
        yield from (tuple(r) for r in chunk)


def _digest(rows: Iterator[tuple[Any, ...]]) -> tuple[int, str]:
    digest, count = hashlib.sha256(), 0
    for row in rows:
        digest.update(json.dumps(list(row), separators=(",", ":")).encode() + b"\n")
        count += 1
    return count, digest.hexdigest()


def _upsert(table: str, columns: list[str], key: list[str]) -> str:
    cols = ", ".join(_quote(c) for c in columns)
    marks = ", ".join("%s" for _ in columns)
    target = ", ".join(_quote(c) for c in key)
    sql = f"INSERT INTO {_quote(table)} ({cols}) VALUES ({marks}) ON CONFLICT ({target}) "
    if table == "sqlite_sequence":  # the outbox trigger may have counted already
        return sql + "DO UPDATE SET seq = GREATEST(sqlite_sequence.seq, EXCLUDED.seq)"
    rest = [c for c in columns if c not in key]
    if table in APPEND_ONLY or not rest:
        return sql + "DO NOTHING"
    return sql + "DO UPDATE SET " + ", ".join(f"{_quote(c)} = EXCLUDED.{_quote(c)}" for c in rest)


@contextlib.contextmanager
def _write_locked(store: EvidenceStore) -> Iterator[sqlite3.Connection]:
    """The source's write lock for the whole copy (BEGIN IMMEDIATE; readers go on)."""
    conn: sqlite3.Connection = store.db.conn
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise lock_error(store.root, exc) from exc
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")  # nothing was written: this only releases the lock


def _target_settings(source: EvidenceSettings, url: str, blobs_to_s3: bool) -> EvidenceSettings:
    update: dict[str, Any] = {"database": url}
    if not blobs_to_s3:
        update["blobs"] = source.blobs
    return source.model_copy(update=update)


def _source_settings(settings: EvidenceSettings, blobs_to_s3: bool) -> EvidenceSettings:
    from agent.core.settings import BlobSettings

    # the source's root log is its file, whatever the target's will be
    signing = settings.signing.model_copy(update={"root_log_in_bucket": False})
    update: dict[str, Any] = {"database": None, "signing": signing}
    if blobs_to_s3:  # the blobs are still next to the SQLite file; S3 is where they go
        update["blobs"] = BlobSettings()
    return settings.model_copy(update=update)


def _refuse_non_empty(target: PgDatabase, tables: list[str], where: str) -> None:
    held = []
    for name in tables:
        row = target.raw.execute(f"SELECT COUNT(*) FROM {_quote(name)}").fetchone()
        if row and row[0]:
            held.append(f"{row[0]} in {name}")
    if held:
        raise EvidenceError(
            f"evidence migrate: the target {where} is not empty ({', '.join(held[:4])}"
            + (", …" if len(held) > 4 else "")
            + ")",
            hint="migrate into a new, empty database; or add --resume to continue a copy "
            "into it that was interrupted",
        )


def _compare_reports(source: VerifyReport, target: VerifyReport, where: str) -> None:
    if (
        target.ok
        and (source.runs_checked, source.events_checked)
        == (
            target.runs_checked,
            target.events_checked,
        )
        and source.artifacts_checked == target.artifacts_checked
    ):
        return
    details = [str(b) for b in target.breaks[:5]] or [
        f"checked {target.runs_checked} run(s), {target.events_checked} event(s), "
        f"{target.artifacts_checked} artifact(s); the source {source.runs_checked}, "
        f"{source.events_checked}, {source.artifacts_checked}"
    ]
    raise EvidenceError(
        f"evidence migrate: the copy in {where} does not verify as the source does: "
        + "; ".join(details),
        hint="the source is unchanged; drop the target database and migrate again, and "
        "report this if it happens twice",
    )


def migrate(
    settings: Settings,
    to: str,
    *,
    blobs_to_s3: bool = False,
    resume: bool = False,
    progress: Progress | None = None,
) -> MigrationResult:
    """Copy the SQLite store `settings` points at into the PostgreSQL database `to` (see the
    module docstring); EvidenceError, with the source untouched, when anything differs."""
    from evidence import pg
    from evidence.store import EvidenceStore

    note = progress or (lambda what, done, total: None)
    if blobs_to_s3 and settings.evidence.blobs.kind != "s3":
        raise ConfigError(
            "evidence migrate --blobs-to s3: evidence.blobs in config.yaml is not an S3 bucket",
            hint="configure evidence.blobs (kind: s3, bucket, endpoint_url, credentials) "
            "first; `aijia doctor` checks it",
        )
    where = pg.safe_url(to)
    root = settings.evidence.location or settings.data_dir / "evidence"
    if not (root / "evidence.db").exists():
        raise EvidenceError(
            f"evidence migrate: no SQLite store at {root}",
            hint="evidence.location (or data_dir) in config.yaml names the store to copy",
        )
    source_cfg = _source_settings(settings.evidence, blobs_to_s3)
    target_cfg = _target_settings(settings.evidence, to, blobs_to_s3)
    default_log = settings.data_dir / "roots.log"
    with contextlib.ExitStack() as stack:
        source = stack.enter_context(EvidenceStore(root, source_cfg, root_log=default_log))
        result = MigrationResult(str(root), where, root_log=str(source.root_log), resumed=resume)
        conn = stack.enter_context(_write_locked(source))
        before = source.verify(None)
        if not before.ok:
            raise EvidenceError(
                f"evidence migrate: the source {root} does not verify; nothing was copied: "
                + "; ".join(str(b) for b in before.breaks[:5]),
                hint="`aijia evidence verify --all` names every break; investigate on the "
                "original store before moving it",
            )
        target = stack.enter_context(EvidenceStore(root, target_cfg, root_log=default_log))
        if not isinstance(target.root_log, Path):  # the lines so far go on in the bucket
            result.root_log = str(target.root_log)
            assert isinstance(source.root_log, Path)  # _source_settings: always the file
            result.root_log_imported = target.root_log.import_file(source.root_log)
        target_db: PgDatabase = target.db  # type: ignore[assignment]
        tables = source_tables(conn)
        if not resume:
            _refuse_non_empty(target_db, [t[0] for t in tables], where)
        for name, columns, key in tables:
            count, digest = _digest(_rows(conn, name, columns, key))
            copy = TableCopy(name, count, digest=digest)
            result.tables.append(copy)
            if resume and name not in APPEND_ONLY and name != "sqlite_sequence":
                _clear(target_db, name)  # rows the source changed or dropped since the cut
            _copy_table(target_db, conn, copy, columns, key, note)
        if blobs_to_s3:
            result.blobs_to = target.files.where
            result.blobs = _copy_blobs(source, target, note)
        _compare_tables(target_db, tables, result.tables, where)
        result.runs_compared = _compare_roots(conn, target_db, where)
        after = target.verify(None)
        _compare_reports(before, after, where)
        result.verified_runs = after.runs_checked
        result.verified_events = after.events_checked
        result.verified_artifacts = after.artifacts_checked
    return result


def _copy_table(
    target: PgDatabase,
    source: sqlite3.Connection,
    copy: TableCopy,
    columns: list[str],
    key: list[str],
    note: Progress,
) -> None:
    sql = _upsert(copy.name, columns, key)
    note(copy.name, 0, copy.rows)
    batch: list[tuple[Any, ...]] = []

    def send() -> None:
        target.conn.execute("BEGIN IMMEDIATE")  # the store's advisory write lock
        try:
            with target.raw.cursor() as cursor:
                cursor.executemany(sql.encode(), batch)
            target.conn.execute("COMMIT")
        except BaseException:
            target.conn.execute("ROLLBACK")
            raise
        copy.copied += len(batch)
        note(copy.name, copy.copied, copy.rows)
        batch.clear()

    for row in _rows(source, copy.name, columns, key):
        batch.append(row)
        if len(batch) >= BATCH:
            send()
    if batch:
        send()


def _clear(target: PgDatabase, table: str) -> None:
    """Empty a table that is not append-only (runs, gates, leases, the outbox…) before a
    resumed copy refills it: its source rows may have changed, or gone (a released lease, a
    flushed outbox line), since the interrupted copy."""
    target.conn.execute("BEGIN IMMEDIATE")
    try:
        target.raw.execute(f"DELETE FROM {_quote(table)}")
        target.conn.execute("COMMIT")
    except BaseException:
        target.conn.execute("ROLLBACK")
        raise


def _copy_blobs(source: EvidenceStore, target: EvidenceStore, note: Progress) -> int:
    shas = [r[0] for r in source.db.execute("SELECT sha256 FROM artifacts ORDER BY sha256")]
    note("blobs", 0, len(shas))
    for done, sha in enumerate(shas, start=1):
        target.files.put(source.files.read(sha))  # read checks the bytes against the name
        note("blobs", done, len(shas))
    return len(shas)


def _compare_tables(
    target: PgDatabase,
    tables: list[tuple[str, list[str], list[str]]],
    copies: list[TableCopy],
    where: str,
) -> None:
    for (name, columns, key), copy in zip(tables, copies, strict=True):
        count, digest = _digest(_rows(target.raw, name, columns, key))
        if (count, digest) != (copy.rows, copy.digest):
            what = (
                f"{count} row(s), the source {copy.rows}"
                if count != copy.rows
                else ("the same number of rows, different values")
            )
            raise EvidenceError(
                f"evidence migrate: table {name} in {where} does not match the source: {what}",
                hint="the source is unchanged; a resumed copy into a database that was "
                "written meanwhile cannot match: drop it and migrate again",
            )


def _compare_roots(source: sqlite3.Connection, target: PgDatabase, where: str) -> int:
    """Each run's last root hash, on both sides; the number of runs compared."""
    sql = (
        "SELECT m.run_id, m.root_hash FROM manifests m WHERE m.n = "
        "(SELECT MAX(n) FROM manifests x WHERE x.run_id = m.run_id) ORDER BY m.run_id"
    )
    mine = dict(source.execute(sql).fetchall())
    theirs = dict(target.raw.execute(sql).fetchall())
    for run_id, root in mine.items():
        if theirs.get(run_id) != root:
            raise EvidenceError(
                f"evidence migrate: run {run_id}: root hash {theirs.get(run_id)} in {where}, "
                f"{root} in the source",
                hint="the source is unchanged; drop the target database and migrate again",
            )
    return len(mine)
