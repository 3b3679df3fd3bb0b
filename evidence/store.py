"""The evidence store: SQLite (WAL, through sqlite-utils) for rows, content-addressed files.
Or the rows on PostgreSQL (`evidence.database: postgresql://…`, several machines on one
store): the same code, through `evidence.pg`'s adapter; see that package for what differs.

Open it from the settings::

    from agent.core.settings import load_config
    from evidence.store import EvidenceStore

    store = EvidenceStore.open(load_config())      # <data_dir>/evidence, or evidence.location
    run = store.create_run(recipe="lookup_order", recipe_version="1", site="shoplane",
                           inputs={"order_id": "2611A"}, case_id="TICKET-123")
    store.transition(run.run_id, RunState.PENDING, RunState.RUNNING)
    shots = store.put_screenshot(png_bytes, highlight=(10, 20, 120, 30))
    store.record(run.run_id, PageReviewed(url=page.url, title="Order"), artifacts=shots)
    store.finish_run(run.run_id, outputs={"status": "shipped"})

Every write is one `BEGIN IMMEDIATE` transaction, so several processes can share a store: they
queue on SQLite's write lock (waiting up to `evidence.busy_timeout_s`) and each append reads
the chain head it extends inside its own transaction. Related writes compose into one
(`evidence.transaction`)::

    with store.transaction() as tx:      # all or nothing; reads inside are current
        if tx.transition(run_id, RunState.PAUSED, RunState.REJECTED, reason="rejected"):
            tx.gate_transition(gate_id, "pending", "rejected")

The single-operation methods below are each one such transaction. One store object per thread.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlite_utils import Database

from agent.core.errors import EvidenceError
from agent.core.settings import EvidenceSettings, Settings
from agent.core.states import RunState
from evidence import capture, migrations, rootlog
from evidence.accounts import Accounts
from evidence.api import ArtifactRef, EventRecord, PendingEvent, RunRecord
from evidence.artifacts import prepare_content
from evidence.events import TrailEvent
from evidence.files import blob_store, private_dir, private_file
from evidence.gates import CasesAndGates
from evidence.leases import CommitLeases
from evidence.queries import StoreQueries
from evidence.redaction import Redactor
from evidence.signing import Signer, load_signer, trusted_key_ids
from evidence.transaction import Transaction, begin

if TYPE_CHECKING:
    from evidence.api import EvidenceSink
    from evidence.prune import PruneResult
    from evidence.rootlog_s3 import BucketRootLog

DB_NAME = "evidence.db"
log = logging.getLogger(__name__)


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


class EvidenceStore(CasesAndGates, CommitLeases, Accounts, StoreQueries):
    """Implements `evidence.api.EvidenceSink`, plus the reading side used by the CLI."""

    def __init__(
        self,
        root: Path,
        settings: EvidenceSettings | None = None,
        *,
        root_log: Path | None = None,
    ) -> None:
        self.root = Path(root)
        self.settings = settings or EvidenceSettings()
        self._lock = threading.RLock()
        self._open: Transaction | None = None  # the transaction this store is in, if any
        # The root log: configured, else given by `open` (<data_dir>/roots.log), else next to
        # the store (<root>.roots.log). Never inside it: it is the copy a rewrite cannot reach.
        self.root_log: Path | BucketRootLog = Path(
            self.settings.signing.root_log or root_log or f"{self.root}.roots.log"
        )
        if self.settings.signing.root_log_in_bucket:  # shared by every machine of the store
            from evidence.rootlog_s3 import BucketRootLog

            self.root_log = BucketRootLog(self.settings.blobs)
        self._logged_upto: int | None = None  # root log entries flushed, to drop from outbox
        self.signer, self.signer_problem = self._load_signer()
        red = self.settings.redaction
        self.redactor = Redactor(red.patterns, red.custom_patterns)
        self.files = blob_store(self.root, self.settings.blobs)  # local files or S3
        for chosen in red.selectors.values():  # a typo must fail loudly, not leak
            capture.parse_selectors(chosen)
        try:
            private_dir(self.root)
            if self.settings.database:
                self._open_postgres(self.settings.database)
            else:
                self._open_sqlite()
            self._flush_root_log()  # lines a crash left between COMMIT and the append
        except (sqlite3.Error, OSError) as exc:
            raise EvidenceError(
                f"evidence store {self.root}: cannot open: {exc}",
                hint="check evidence.database: the server, the database and the role"
                if self.settings.database
                else "check evidence.location in config.yaml and the directory's permissions",
            ) from exc

    def _open_sqlite(self) -> None:
        private_file(self.root / DB_NAME)  # before SQLite creates it with its own mode
        # A store may be handed from thread to thread (an event loop in a worker thread,
        # a CLI in the main one); writes are serialized by `_lock`.
        conn = sqlite3.connect(
            str(self.root / DB_NAME),
            timeout=self.settings.busy_timeout_s,
            check_same_thread=False,
        )
        self.db = Database(conn)
        self.db.execute(f"PRAGMA busy_timeout = {int(self.settings.busy_timeout_s * 1000)}")
        self._enable_wal()
        for suffix in ("-wal", "-shm"):  # SQLite gives them the database's mode; older
            private_file(self.root / f"{DB_NAME}{suffix}", create=False)  # stores: fix
        # FULL: a committed event survives a power cut, which evidence must.
        self.db.execute("PRAGMA synchronous = FULL")
        self._migrate()

    def _open_postgres(self, url: str) -> None:
        """The rows on PostgreSQL (`evidence.pg`); blobs, the writer note and the root log
        stay in `root`. The same store code runs on it: PgDatabase offers the sqlite-utils
        calls the store makes, hence the cast."""
        from evidence import pg  # psycopg (the `scale` extra) only when asked for

        db = pg.connect(url, lock_timeout_s=self.settings.busy_timeout_s)
        try:
            pg.ensure_schema(db, known=len(migrations.MIGRATIONS), where=pg.safe_url(url))
        except BaseException:
            db.close()
            raise
        self.db = cast(Database, db)

    @classmethod
    def open(cls, settings: Settings) -> EvidenceStore:
        """The store the config points at: `evidence.location`, else `<data_dir>/evidence`."""
        if settings.evidence.location is None:
            try:
                private_dir(settings.data_dir)  # sessions live there too: 0700
            except OSError as exc:
                raise EvidenceError(
                    f"data dir {settings.data_dir}: cannot create it: {exc}",
                    hint="check data_dir in config.yaml and the directory's permissions",
                ) from exc
        root = settings.evidence.location or settings.data_dir / "evidence"
        return cls(root, settings.evidence, root_log=settings.data_dir / "roots.log")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> EvidenceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    def _enable_wal(self) -> None:
        """Switch to WAL. SQLite answers "locked", or "locking protocol" (SQLITE_PROTOCOL:
        it lost a race for the WAL index), at once, without waiting for the busy timeout,
        when other processes open the new file at the same moment; retry briefly."""
        deadline = time.monotonic() + self.settings.busy_timeout_s
        while True:
            try:
                self.db.enable_wal()
                return
            except sqlite3.OperationalError as exc:
                transient = "locked" in str(exc) or "locking protocol" in str(exc)
                if not transient or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _load_signer(self) -> tuple[Signer | None, str | None]:
        """The signing key, loaded once. A missing key that may not be created is not an error
        until something must be sealed (reading and verifying need no private key)."""
        signing = self.settings.signing
        if isinstance(self.root_log, Path) and _inside(self.root_log, self.root):
            raise EvidenceError(
                f"root log {self.root_log} is inside the evidence store {self.root}",
                hint="keep it outside (evidence.signing.root_log): it is the copy that "
                "someone who rewrites the store cannot rewrite",
            )
        if not signing.key_file.exists() and not signing.create_key:
            return None, f"signing key {signing.key_file} does not exist"
        return load_signer(signing, store_root=self.root), None

    @property
    def trusted_keys(self) -> set[str]:
        """The key ids whose signatures verify: this store's key + evidence.signing.trusted_keys."""
        return trusted_key_ids(self.settings.signing, self.signer)

    def _flush_root_log(self) -> None:
        if isinstance(self.root_log, Path):
            upto = rootlog.flush(self.db, self.root_log)
        else:
            upto = self.root_log.flush(self.db)
        if upto is not None:
            self._logged_upto = upto

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(migrations.MIGRATIONS):
            raise EvidenceError(
                f"evidence store {self.root} was written by a newer Aijia "
                f"(schema {version}, this one knows {len(migrations.MIGRATIONS)})",
                hint="upgrade Aijia before using this store",
            )
        if not migrations.pending(version):
            return
        with self.transaction() as tx:
            version = tx.execute("PRAGMA user_version").fetchone()[0]  # re-read under the lock
            for migration in migrations.pending(version):
                migration(tx.db)
            tx.execute(f"PRAGMA user_version = {len(migrations.MIGRATIONS)}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One write transaction (`evidence.transaction`): BEGIN IMMEDIATE under this store's
        thread lock, COMMIT when the block ends, ROLLBACK of everything when it raises."""
        with self._lock:
            if self._open is not None:
                raise EvidenceError(
                    f"evidence store {self.root}: a write transaction is already open",
                    hint="inside `with store.transaction() as tx:` write through `tx`, "
                    "not through the store",
                )
            with begin(
                self.db,
                root=self.root,
                redactor=self.redactor,
                signer=self.signer,
                signer_problem=self.signer_problem,
            ) as tx:
                self._open = tx
                try:
                    if self._logged_upto is not None:  # lines already in the log file
                        tx.execute(
                            "DELETE FROM root_log_outbox WHERE entry <= ?", [self._logged_upto]
                        )
                        self._logged_upto = None
                    yield tx
                finally:
                    self._open = None
            if tx._logged:  # after COMMIT: nothing slow is done while holding the lock
                self._flush_root_log()
            if tx.sealed and self.settings.signing.tsa_url:
                self._timestamp(tx.sealed)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads that see one moment of the store: each read outside a transaction sees
        what is committed when it runs, so a check that reads a gate, then its events, may
        see another process's commit in between. Inside a write transaction: that one."""
        with self._lock:
            conn = self.db.conn
            if self._open is not None or conn.in_transaction:
                yield
                return
            conn.execute("BEGIN")  # deferred: the first read fixes the snapshot (WAL)
            try:
                yield
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    def _timestamp(self, sealed: list[tuple[str, int, str]]) -> None:
        """Ask the configured TSA for tokens on the new roots (`evidence.timestamp`, which
        never raises); only after COMMIT, so that no writer waits for the network."""
        try:
            from evidence import timestamp  # type: ignore[attr-defined,unused-ignore]
        except ImportError:
            return
        try:
            timestamp.stamp_roots(self, sealed)
        except Exception as exc:  # committed already: a TSA problem must not look like a
            log.warning("timestamping %s failed: %s", sealed, exc)  # failed write

    # ------------------------------------------------------------------ secrets

    def register_secret(self, value: str) -> None:
        """Never store this value: mask it in every event and text artifact from now on."""
        self.redactor.register(value)

    # ------------------------------------------------------------------ runs

    def create_run(
        self,
        *,
        recipe: str,
        recipe_version: str,
        site: str,
        inputs: Mapping[str, Any],
        account: str | None = None,
        case_id: str | None = None,
    ) -> RunRecord:
        """Persist a new run in state `pending` (+ its `run_created` event) and return it."""
        with self.transaction() as tx:
            return tx.create_run(
                recipe=recipe,
                recipe_version=recipe_version,
                site=site,
                inputs=inputs,
                account=account,
                case_id=case_id,
            )

    def transition(
        self, run_id: str, expected: RunState, target: RunState, *, reason: str | None = None
    ) -> bool:
        """Compare-and-set the run's state; False when it was not `expected` any more.

        Illegal transitions raise `agent.core.states.IllegalTransition`. Records a `state_changed`
        event in the same transaction; a final state also seals the chain with a manifest.
        """
        with self.transaction() as tx:
            return tx.transition(run_id, expected, target, reason=reason)

    def finish_run(
        self, run_id: str, *, outputs: Mapping[str, Any], error: str | None = None
    ) -> str:
        """Record outputs/error and the run's manifest root hash; returns the root hash.

        May be called again (e.g. after a resume): each call appends a new, larger manifest.
        A transition into a final state (done, failed, rejected, expired) seals the chain
        again, so calling this before or after that transition both end sealed.
        """
        with self.transaction() as tx:
            return tx.finish_run(run_id, outputs=outputs, error=error)

    # ------------------------------------------------------------------ events

    def append_event(
        self,
        run_id: str,
        kind: str,
        data: Mapping[str, Any],
        artifacts: Sequence[ArtifactRef] = (),
    ) -> EventRecord:
        """Append one event to the run's hash chain (append-only, never updated)."""
        with self.transaction() as tx:
            return tx.append_event(run_id, kind, data, artifacts)

    def append_events(self, run_id: str, events: Sequence[PendingEvent]) -> None:
        """Append several events, each with the time it happened, in one transaction (one
        durable commit): how a read-only run writes its trail."""
        with self.transaction() as tx:
            for event in events:
                tx.append_event(run_id, event.kind, event.data, event.artifacts, at=event.at)

    def record(
        self, run_id: str, event: TrailEvent, artifacts: Sequence[ArtifactRef] = ()
    ) -> EventRecord:
        """Append a typed trail event (`evidence.events`)."""
        return self.append_event(run_id, event.kind, event.to_data(), artifacts)

    # ------------------------------------------------------------------ retention

    def prune(
        self, older_than: timedelta, *, dry_run: bool = False, reason: str = ""
    ) -> PruneResult:
        """Remove whole finished runs older than `older_than` (see `evidence.prune`)."""
        from evidence.prune import prune

        return prune(self, older_than, dry_run=dry_run, reason=reason)

    def prune_log(self) -> list[dict[str, Any]]:
        """What retention removed: run id, its sealed hashes, when and why."""
        return self.query("SELECT * FROM prunes ORDER BY pruned_at")

    # ------------------------------------------------------------------ artifacts

    def put_artifact(self, content: bytes, *, kind: str, media_type: str) -> ArtifactRef:
        """Store bytes content-addressed (atomic write, deduplicated); text is masked first."""
        data = prepare_content(content, kind=kind, media_type=media_type, redactor=self.redactor)
        sha, path = self.files.put(data)
        ref = ArtifactRef(sha, kind, media_type, len(data), path)
        with self.transaction() as tx:
            tx.add_artifact(ref)
        return ref

    def put_screenshot(
        self, png: bytes, *, highlight: tuple[float, float, float, float] | None = None
    ) -> list[ArtifactRef]:
        """Store a screenshot (+ thumbnail; `highlight` = x, y, w, h box outlined).

        Returns [screenshot, screenshot_annotated (only with highlight), thumbnail]; the
        first is the page as captured, converted to `evidence.screenshot_format`.
        """
        refs = []
        for kind, media_type, content in capture.screenshot_variants(png, highlight, self.settings):
            refs.append(self.put_artifact(content, kind=kind, media_type=media_type))
        return refs

    def put_dom(
        self, html: str, *, site: str | None = None, selectors: Sequence[str] = ()
    ) -> ArtifactRef:
        """Store a DOM snapshot with password values and configured selectors blanked.

        `site` picks `evidence.redaction.selectors[site]` (plus the '*' entry); `selectors`
        adds per-recipe ones.
        """
        configured = self.settings.redaction.selectors
        chosen = [*configured.get("*", []), *configured.get(site or "", []), *selectors]
        cleaned = capture.blank_dom(html, chosen)
        return self.put_artifact(cleaned.encode("utf-8"), kind="dom", media_type="text/html")


if TYPE_CHECKING:  # mypy checks that the store keeps the runner's interface

    def _implements_sink(store: EvidenceStore) -> EvidenceSink:
        return store
