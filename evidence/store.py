"""The evidence store: SQLite (WAL, through sqlite-utils) for rows, content-addressed files.

Open it from the settings::

    from agent.config import load_config
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
the chain head it extends inside its own transaction. One store object per thread.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from agent.config import EvidenceSettings, Settings
from agent.errors import EvidenceError
from agent.states import TERMINAL, RunState, check_transition
from evidence import capture, migrations
from evidence.api import ArtifactRef, EventRecord, RunRecord
from evidence.artifacts import prepare_content
from evidence.events import RunCreated, RunFinished, StateChanged, TrailEvent, validate
from evidence.files import ObjectFiles
from evidence.gates import CasesAndGates
from evidence.hashing import GENESIS, event_hash, event_payload
from evidence.ids import new_id, utc_now
from evidence.jsonvalue import dumps, to_json_value
from evidence.manifest import build_manifest
from evidence.migrations import table
from evidence.queries import StoreQueries
from evidence.redaction import Redactor

if TYPE_CHECKING:
    from evidence.api import EvidenceSink
    from evidence.prune import PruneResult

DB_NAME = "evidence.db"


class EvidenceStore(CasesAndGates, StoreQueries):
    """Implements `evidence.api.EvidenceSink`, plus the reading side used by the CLI."""

    def __init__(self, root: Path, settings: EvidenceSettings | None = None) -> None:
        self.root = Path(root)
        self.settings = settings or EvidenceSettings()
        self._lock = threading.RLock()
        red = self.settings.redaction
        self.redactor = Redactor(red.patterns, red.custom_patterns)
        self.files = ObjectFiles(self.root)
        for chosen in red.selectors.values():  # a typo must fail loudly, not leak
            capture.parse_selectors(chosen)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
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
            # FULL: a committed event survives a power cut, which evidence must.
            self.db.execute("PRAGMA synchronous = FULL")
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise EvidenceError(
                f"evidence store {self.root}: cannot open: {exc}",
                hint="check evidence.location in config.yaml and the directory's permissions",
            ) from exc

    @classmethod
    def open(cls, settings: Settings) -> EvidenceStore:
        """The store the config points at: `evidence.location`, else `<data_dir>/evidence`."""
        root = settings.evidence.location or settings.data_dir / "evidence"
        return cls(root, settings.evidence)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> EvidenceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    def _enable_wal(self) -> None:
        """Switch to WAL. SQLite answers "locked" at once, without waiting for the busy
        timeout, when another process opens the new file at the same moment; retry briefly."""
        deadline = time.monotonic() + self.settings.busy_timeout_s
        while True:
            try:
                self.db.enable_wal()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

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
        with self._write() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]  # re-read under the lock
            for migration in migrations.pending(version):
                migration(db)
            db.execute(f"PRAGMA user_version = {len(migrations.MIGRATIONS)}")

    @contextlib.contextmanager
    def _write(self) -> Iterator[Database]:
        """One write transaction; takes the write lock first so the reads in it are current."""
        with self._lock:
            yield from self._write_locked()

    def _write_locked(self) -> Iterator[Database]:
        conn = self.db.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise EvidenceError(
                f"evidence store {self.root}: could not get the write lock: {exc}",
                hint="another process holds it for too long; raise evidence.busy_timeout_s",
            ) from exc
        try:
            yield self.db
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise EvidenceError(
                f"evidence store {self.root}: could not commit: {exc}",
                hint="check free disk space and that the store is on a local disk",
            ) from exc

    def _one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = list(self.db.query(sql, list(params)))
        return rows[0] if rows else None

    # ------------------------------------------------------------------ secrets

    def register_secret(self, value: str) -> None:
        """Never store this value: mask it in every event and text artifact from now on."""
        self.redactor.register(value)

    def _clean(self, value: Any, what: str) -> Any:
        """JSON-ready and masked; what the chain hashes is exactly what is stored."""
        try:
            return self.redactor.mask_data(to_json_value(value))
        except (TypeError, ValueError) as exc:
            raise EvidenceError(f"{what}: not storable as JSON: {exc}") from exc

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
        run_id = new_id()
        now = utc_now()
        clean_inputs = self._clean(dict(inputs), "run inputs")
        with self._write() as db:
            case = self._ensure_case(db, case_id, now) if case_id else None
            table(db, "runs").insert(
                {
                    "run_id": run_id,
                    "recipe": recipe,
                    "recipe_version": recipe_version,
                    "site": site,
                    "account": account,
                    "case_id": case_id,
                    "state": RunState.PENDING.value,
                    "inputs": dumps(clean_inputs),
                    "outputs": dumps({}),
                    "error": None,
                    "created_at": now,
                    "updated_at": now,
                    "last_seq": 0,
                    "head_hash": GENESIS,
                }
            )
            created = RunCreated(recipe, recipe_version, site, clean_inputs, account, case_id)
            self._append(db, run_id, created.kind, created.to_data(), ())
            if case and case["ask"]:
                asked = {"channel": case["channel"], "ask": case["ask"]}
                if case["customer"]:
                    asked["customer"] = case["customer"]
                self._append(db, run_id, "customer_asked", asked, ())
        return self.get_run(run_id)

    def transition(
        self, run_id: str, expected: RunState, target: RunState, *, reason: str | None = None
    ) -> bool:
        """Compare-and-set the run's state; False when it was not `expected` any more.

        Illegal transitions raise `agent.states.IllegalTransition`. Records a `state_changed`
        event in the same transaction; a final state also seals the chain with a manifest.
        """
        expected, target = RunState(expected), RunState(target)
        check_transition(expected, target)
        with self._write() as db:
            cursor = db.execute(
                "UPDATE runs SET state = ?, updated_at = ? WHERE run_id = ? AND state = ?",
                [target.value, utc_now(), run_id, expected.value],
            )
            if cursor.rowcount == 0:
                if self._one("SELECT 1 AS x FROM runs WHERE run_id = ?", [run_id]) is None:
                    raise EvidenceError(f"no run {run_id!r} in the evidence store {self.root}")
                return False
            changed = StateChanged(expected.value, target.value, reason)
            self._append(db, run_id, changed.kind, changed.to_data(), ())
            if target in TERMINAL:  # the chain ends here: seal it, whatever finish_run did
                self._seal(db, run_id)
        return True

    def finish_run(
        self, run_id: str, *, outputs: Mapping[str, Any], error: str | None = None
    ) -> str:
        """Record outputs/error and the run's manifest root hash; returns the root hash.

        May be called again (e.g. after a resume): each call appends a new, larger manifest.
        A transition into a final state (done, failed, rejected, expired) seals the chain
        again, so calling this before or after that transition both end sealed.
        """
        clean_outputs = self._clean(dict(outputs), "run outputs")
        clean_error = self.redactor.mask_text(error) if error is not None else None
        with self._write() as db:
            self.get_run(run_id)
            db.execute(
                "UPDATE runs SET outputs = ?, error = ?, updated_at = ? WHERE run_id = ?",
                [dumps(clean_outputs), clean_error, utc_now(), run_id],
            )
            finished = RunFinished(clean_outputs, clean_error)
            self._append(db, run_id, finished.kind, finished.to_data(), ())
            return self._seal(db, run_id)

    def _seal(self, db: Database, run_id: str) -> str:
        """Append a manifest over the whole chain as it is now; returns its root hash."""
        manifest = build_manifest(db, run_id)
        n = db.execute("SELECT COUNT(*) FROM manifests WHERE run_id = ?", [run_id]).fetchone()
        table(db, "manifests").insert(
            {
                "run_id": run_id,
                "n": n[0] + 1,
                "root_hash": manifest["root_hash"],
                "manifest": dumps(manifest),
                "at": utc_now(),
            }
        )
        return str(manifest["root_hash"])

    # ------------------------------------------------------------------ events

    def append_event(
        self,
        run_id: str,
        kind: str,
        data: Mapping[str, Any],
        artifacts: Sequence[ArtifactRef] = (),
    ) -> EventRecord:
        """Append one event to the run's hash chain (append-only, never updated)."""
        validate(kind, data)
        with self._write() as db:
            return self._append(db, run_id, kind, data, [a.sha256 for a in artifacts])

    def record(
        self, run_id: str, event: TrailEvent, artifacts: Sequence[ArtifactRef] = ()
    ) -> EventRecord:
        """Append a typed trail event (`evidence.events`)."""
        return self.append_event(run_id, event.kind, event.to_data(), artifacts)

    def _append(
        self,
        db: Database,
        run_id: str,
        kind: str,
        data: Mapping[str, Any],
        artifacts: Sequence[str],
    ) -> EventRecord:
        """Append inside an open write transaction."""
        clean = self._clean(dict(data), f"event {kind}")
        head = db.execute(
            "SELECT last_seq, head_hash FROM runs WHERE run_id = ?", [run_id]
        ).fetchone()
        if head is None:
            raise EvidenceError(
                f"cannot append {kind}: no run {run_id!r} in the evidence store {self.root}",
                hint="create the run with create_run first",
            )
        shas = list(dict.fromkeys(artifacts))
        for sha in shas:
            if db.execute("SELECT 1 FROM artifacts WHERE sha256 = ?", [sha]).fetchone() is None:
                raise EvidenceError(
                    f"event {kind} of run {run_id}: unknown artifact {sha[:12]}",
                    hint="store the bytes with put_artifact/put_screenshot/put_dom first",
                )
        seq, prev = head[0] + 1, head[1]
        at = utc_now()
        digest = event_hash(prev, event_payload(run_id, seq, kind, clean, shas, at))
        table(db, "events").insert(
            {
                "run_id": run_id,
                "seq": seq,
                "kind": kind,
                "data": dumps(clean),
                "artifacts": dumps(shas),
                "at": at,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        for sha in shas:
            table(db, "event_artifacts").insert({"run_id": run_id, "seq": seq, "sha256": sha})
        db.execute(
            "UPDATE runs SET last_seq = ?, head_hash = ?, updated_at = ? WHERE run_id = ?",
            [seq, digest, at, run_id],
        )
        return EventRecord(run_id, seq, kind, clean, tuple(shas), at, prev, digest)

    # ------------------------------------------------------------------ retention

    def prune(
        self, older_than: timedelta, *, dry_run: bool = False, reason: str = ""
    ) -> PruneResult:
        """Remove whole finished runs older than `older_than` (see `evidence.prune`)."""
        from evidence.prune import prune

        return prune(self, older_than, dry_run=dry_run, reason=reason)

    def prune_log(self) -> list[dict[str, Any]]:
        """What retention removed: run id, its sealed hashes, when and why."""
        return list(self.db.query("SELECT * FROM prunes ORDER BY pruned_at"))

    # ------------------------------------------------------------------ artifacts

    def put_artifact(self, content: bytes, *, kind: str, media_type: str) -> ArtifactRef:
        """Store bytes content-addressed (atomic write, deduplicated); text is masked first."""
        data = prepare_content(content, kind=kind, media_type=media_type, redactor=self.redactor)
        sha, path = self.files.put(data)
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO artifacts (sha256, kind, media_type, size, path, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [sha, kind, media_type, len(data), path, utc_now()],
            )
        return ArtifactRef(sha, kind, media_type, len(data), path)

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
