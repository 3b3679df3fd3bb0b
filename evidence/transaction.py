"""One write transaction on the store: related rows and events together, or not at all.

    with store.transaction() as tx:                      # BEGIN IMMEDIATE, under the store's lock
        gate, run = tx.gate(gate_id), tx.run(run_id)     # reads see the current, locked state
        if run.state is not RunState.PAUSED:
            raise GateError("…")                         # anything raised rolls everything back
        tx.record_approval(gate_id, approver="sam", decision="approved", bind_hash=gate.bind_hash)
        tx.gate_transition(gate_id, "pending", "approved")
        tx.transition(run_id, RunState.PAUSED, RunState.APPROVED, reason="approved by sam")
                                                         # COMMIT when the block ends

The store's single-operation methods (`transition`, `append_event`, `record_gate`, …) are each
one of these transactions around one `Transaction` method, so a composed write records
exactly what the separate calls would: the same events, masking, hashes and errors. Every
event goes through `append_event` here: masked by the store's redactor, appended to the run's
hash chain at the head read inside this transaction. Just before COMMIT the transaction seals
what needs it: each run whose chain got a decision (or that is not `running`), and the
store's ledger when it grew (`evidence.sealing`).

Other evidence modules (prune, schedules) keep their own SQL and run it on the transaction:
`execute`, `query`, `one` and `table`. Code outside `evidence/` composes the named methods.
A transaction belongs to one thread and ends with its `with` block.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database
from sqlite_utils.db import Table

from agent.core.errors import EvidenceError
from agent.core.states import TERMINAL, RunState, check_transition
from evidence.api import ArtifactRef, EventRecord, RunRecord
from evidence.events import RunCreated, RunFinished, StateChanged, TrailEvent, validate
from evidence.gates import CaseAndGateWrites
from evidence.hashing import GENESIS, event_hash, event_payload
from evidence.ids import new_id, utc_now
from evidence.jsonvalue import dumps, to_json_value
from evidence.migrations import table
from evidence.queries import run_record
from evidence.redaction import Redactor
from evidence.sealing import Sealing
from evidence.writer import lock_error, note_writer

if TYPE_CHECKING:
    from evidence.signing import Signer


@contextlib.contextmanager
def begin(
    db: Database,
    *,
    root: Path,
    redactor: Redactor,
    signer: Signer | None = None,
    signer_problem: str | None = None,
) -> Iterator[Transaction]:
    """BEGIN IMMEDIATE on `db`, yield a Transaction, seal, COMMIT; ROLLBACK on any exception.

    The caller holds the store's thread lock (`EvidenceStore.transaction`); IMMEDIATE takes
    SQLite's write lock at once, so other processes queue here (up to the busy timeout) and
    every read inside the block is current. Who holds the lock is written to `<root>/writer`
    (pid@host, since when), so that a process that waited in vain can say who it waited for.
    """
    conn = db.conn
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise lock_error(root, exc) from exc
    note_writer(root)
    tx = Transaction(db, root=root, redactor=redactor, signer=signer, problem=signer_problem)
    try:
        yield tx
        tx.before_commit()
    except BaseException:
        tx._closed = True
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    tx._closed = True
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise EvidenceError(
            f"evidence store {root}: could not commit: {exc}",
            hint="check free disk space and that the store is on a local disk",
        ) from exc


class Transaction(Sealing, CaseAndGateWrites):
    """What `with store.transaction() as tx:` yields (see the module docstring).

    Runs and events are here; cases, gates and approvals come from
    `evidence.gates.CaseAndGateWrites`; seals and the ledger from `evidence.sealing.Sealing`.
    """

    def __init__(
        self,
        db: Database,
        *,
        root: Path,
        redactor: Redactor,
        signer: Signer | None = None,
        problem: str | None = None,
    ) -> None:
        self.db = db
        self.root = root
        self.redactor = redactor
        self.signer = signer
        self.signer_problem = problem
        self.sealed: list[tuple[str, int, str]] = []  # (run_id, n, root) sealed in here
        self._touched: dict[str, bool] = {}  # run -> got an event that asks for a seal
        self._sealed_counts: dict[str, int] = {}  # run -> events its seal in here covers
        self._ledger_grew = False
        self._logged = False  # wrote root log lines: flush after COMMIT
        self._closed = False

    # ------------------------------------------------------------------ SQL, for evidence/

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._db().execute(sql, list(params))

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return list(self._db().query(sql, list(params)))

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def table(self, name: str) -> Table:
        """The sqlite-utils table, for inserts (`tx.table("prunes").insert(row)`)."""
        return table(self._db(), name)

    def _db(self) -> Database:
        if self._closed:
            raise EvidenceError(
                "this evidence transaction has ended; nothing more can be written in it",
                hint="open a new one with `with store.transaction() as tx:`",
            )
        return self.db

    def clean(self, value: Any, what: str) -> Any:
        """JSON-ready and masked; what the chain hashes is exactly what is stored."""
        try:
            return self.redactor.mask_data(to_json_value(value))
        except (TypeError, ValueError) as exc:
            raise EvidenceError(f"{what}: not storable as JSON: {exc}") from exc

    # ------------------------------------------------------------------ runs

    def run(self, run_id: str) -> RunRecord:
        """The run as it is now, or EvidenceError when there is no such run."""
        row = self.one("SELECT * FROM runs WHERE run_id = ?", [run_id])
        if row is None:
            raise EvidenceError(
                f"no run {run_id!r} in the evidence store {self.root}",
                hint="`aijia runs list` shows the runs it holds",
            )
        return run_record(row)

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
        """A new run in state `pending` with its `run_created` event (and `customer_asked`
        when its case has an ask)."""
        run_id = new_id()
        now = utc_now()
        clean_inputs = self.clean(dict(inputs), "run inputs")
        case = self.ensure_case(case_id, now) if case_id else None
        self.table("runs").insert(
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
        self.append_event(run_id, created.kind, created.to_data(), at=now)
        self.ledger_append("run_created", {"run_id": run_id})
        if case and case.ask:
            asked = {"channel": case.channel, "ask": case.ask}
            if case.customer:
                asked["customer"] = case.customer
            self.append_event(run_id, "customer_asked", asked)
        return self.run(run_id)

    def transition(
        self, run_id: str, expected: RunState, target: RunState, *, reason: str | None = None
    ) -> bool:
        """Compare-and-set the run's state; False when it was not `expected` any more.

        Illegal transitions raise `agent.core.states.IllegalTransition`. Records a
        `state_changed` event; a final state also seals the chain with a manifest.
        """
        expected, target = RunState(expected), RunState(target)
        check_transition(expected, target)
        cursor = self.execute(
            "UPDATE runs SET state = ?, updated_at = ? WHERE run_id = ? AND state = ?",
            [target.value, utc_now(), run_id, expected.value],
        )
        if cursor.rowcount == 0:
            if self.one("SELECT 1 AS x FROM runs WHERE run_id = ?", [run_id]) is None:
                raise EvidenceError(f"no run {run_id!r} in the evidence store {self.root}")
            return False
        self.record(run_id, StateChanged(expected.value, target.value, reason))
        if target in TERMINAL:  # the chain ends here: seal it, whatever finish_run did
            self.seal(run_id)
        return True

    def finish_run(
        self, run_id: str, *, outputs: Mapping[str, Any], error: str | None = None
    ) -> str:
        """Record outputs/error, a `run_finished` event and a manifest; returns its root hash."""
        clean_outputs = self.clean(dict(outputs), "run outputs")
        clean_error = self.redactor.mask_text(error) if error is not None else None
        self.run(run_id)
        self.execute(
            "UPDATE runs SET outputs = ?, error = ?, updated_at = ? WHERE run_id = ?",
            [dumps(clean_outputs), clean_error, utc_now(), run_id],
        )
        self.record(run_id, RunFinished(clean_outputs, clean_error))
        return self.seal(run_id)

    # ------------------------------------------------------------------ events

    def record(
        self, run_id: str, event: TrailEvent, artifacts: Sequence[ArtifactRef] = ()
    ) -> EventRecord:
        """Append a typed trail event (`evidence.events`)."""
        return self.append_event(run_id, event.kind, event.to_data(), artifacts)

    def append_event(
        self,
        run_id: str,
        kind: str,
        data: Mapping[str, Any],
        artifacts: Sequence[ArtifactRef] = (),
        *,
        at: str | None = None,
    ) -> EventRecord:
        """Append one event to the run's hash chain (append-only, never updated).

        The data is validated (`evidence.events.validate`) and masked; the artifacts must
        have been stored first (`put_artifact`, `put_screenshot`, `put_dom`). `at`: when it
        happened (UTC ISO 8601), for events written a moment later in one batch; default now.
        """
        validate(kind, data)
        clean = self.clean(dict(data), f"event {kind}")
        head = self.execute(
            "SELECT last_seq, head_hash FROM runs WHERE run_id = ?", [run_id]
        ).fetchone()
        if head is None:
            raise EvidenceError(
                f"cannot append {kind}: no run {run_id!r} in the evidence store {self.root}",
                hint="create the run with create_run first",
            )
        shas = list(dict.fromkeys(a.sha256 for a in artifacts))
        for sha in shas:
            if self.execute("SELECT 1 FROM artifacts WHERE sha256 = ?", [sha]).fetchone() is None:
                raise EvidenceError(
                    f"event {kind} of run {run_id}: unknown artifact {sha[:12]}",
                    hint="store the bytes with put_artifact/put_screenshot/put_dom first",
                )
        seq, prev = head[0] + 1, head[1]
        at = at or utc_now()
        digest = event_hash(prev, event_payload(run_id, seq, kind, clean, shas, at))
        self.table("events").insert(
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
            self.table("event_artifacts").insert({"run_id": run_id, "seq": seq, "sha256": sha})
        self.touched(run_id, kind)
        self.execute(
            "UPDATE runs SET last_seq = ?, head_hash = ?, updated_at = ? WHERE run_id = ?",
            [seq, digest, at, run_id],
        )
        return EventRecord(run_id, seq, kind, clean, tuple(shas), at, prev, digest)

    # ------------------------------------------------------------------ artifacts

    def add_artifact(self, ref: ArtifactRef) -> None:
        """The row of a file already written to the object store (deduplicated by sha256)."""
        self.execute(
            "INSERT OR IGNORE INTO artifacts (sha256, kind, media_type, size, path, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [ref.sha256, ref.kind, ref.media_type, ref.size, ref.path, utc_now()],
        )
