"""Seals: signed manifests of run chains and of the store's ledger, and their root log lines.

At the end of every write transaction (`Transaction.before_commit`, just before COMMIT):

- each run whose chain got an event that matters for decisions (`SEALING_KINDS`), or that is
  not `running` any more, is sealed: one manifest over its whole chain, signed. So a paused,
  approved, committing or finished run is always fully sealed; only a `running` run has an
  unsealed tail (its progress events until the next decision).
- the ledger (`evidence.ledger`: cases, schedule fires and items, prunes, which runs exist)
  is sealed when it grew.
- each seal's line for the root log goes into the outbox (`evidence.rootlog`), appended to
  the file after COMMIT.

Signing is a few tens of microseconds and nothing here waits on anything outside SQLite: the
write lock is never held for the network or a browser.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agent.core.errors import EvidenceError
from evidence.hashing import GENESIS, event_hash, event_payload
from evidence.ids import utc_now
from evidence.jsonvalue import dumps
from evidence.ledger import LEDGER, LEDGER_TABLES
from evidence.manifest import build_manifest
from evidence.rootlog import log_message, next_entry
from evidence.signing import root_message

if TYPE_CHECKING:
    from pathlib import Path

    from sqlite_utils import Database
    from sqlite_utils.db import Table

    from evidence.signing import Signer

# Events after which a run is sealed even while it is `running`: what a decision rests on.
SEALING_KINDS = frozenset(
    {
        "run_created",
        "state_changed",
        "gate_opened",
        "gate_state_changed",
        "approved",
        "rejected",
        "run_finished",
        "customer_asked",
        "action_done",
        "reply_sent",
        "commit_owner",
        "commit_retry",
    }
)


class Sealing:
    """Mixed into `evidence.transaction.Transaction`."""

    if TYPE_CHECKING:
        root: Path
        signer: Signer | None
        signer_problem: str | None
        sealed: list[tuple[str, int, str]]
        _touched: dict[str, bool]
        _sealed_counts: dict[str, int]
        _ledger_grew: bool
        _logged: bool

        def _db(self) -> Database: ...
        def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor: ...
        def table(self, name: str) -> Table: ...

    # ------------------------------------------------------------------ runs

    def touched(self, run_id: str, kind: str) -> None:
        """Note that `run_id`'s chain got an event of `kind` in this transaction."""
        self._touched[run_id] = self._touched.get(run_id, False) or kind in SEALING_KINDS

    def seal(self, run_id: str) -> str:
        """Append a signed manifest over the whole chain as it is now; its root hash."""
        manifest = build_manifest(self._db(), run_id)
        count = manifest["event_count"]
        if self._sealed_counts.get(run_id) == count:  # sealed already in this transaction
            row = self.execute(
                "SELECT root_hash FROM manifests WHERE run_id = ? ORDER BY n DESC LIMIT 1",
                [run_id],
            ).fetchone()
            return str(row[0])
        n = self.execute("SELECT COUNT(*) FROM manifests WHERE run_id = ?", [run_id]).fetchone()
        n, root, at = n[0] + 1, str(manifest["root_hash"]), utc_now()
        signature = self._signer().sign(root_message(run_id, n, root))
        self.table("manifests").insert(
            {
                "run_id": run_id,
                "n": n,
                "root_hash": root,
                "manifest": dumps(manifest),
                "at": at,
                "signature": dumps(signature),
            }
        )
        self._sealed_counts[run_id] = count
        self.sealed.append((run_id, n, root))
        self._log_line(
            {"kind": "seal", "run_id": run_id, "n": n, "root_hash": root, "event_count": count}
            | {"at": at}
        )
        return root

    # ------------------------------------------------------------------ the ledger

    def ledger_append(self, kind: str, data: Mapping[str, Any]) -> None:
        """Append one event to the store's ledger chain (`evidence.ledger`)."""
        head = self.execute("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
        at = utc_now()
        clean = dict(data)
        digest = event_hash(prev, event_payload(LEDGER, seq, kind, clean, [], at))
        self.table("ledger").insert(
            {
                "seq": seq,
                "kind": kind,
                "data": dumps(clean),
                "at": at,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        self._ledger_grew = True

    def ledger_row(self, kind: str, table: str, key: Mapping[str, Any]) -> None:
        """Record in the ledger the row of `table` at `key` as it is now (None: deleted)."""
        columns = LEDGER_TABLES[table]
        where = " AND ".join(f"{c} = ?" for c in columns)
        cursor = self.execute(f"SELECT * FROM {table} WHERE {where}", [key[c] for c in columns])
        found = cursor.fetchone()
        row = dict(zip([d[0] for d in cursor.description], found, strict=True)) if found else None
        self.ledger_append(kind, {"table": table, "key": {c: key[c] for c in columns}, "row": row})

    def _seal_ledger(self) -> None:
        head = self.execute("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
        if head is None:
            return
        n = self.execute("SELECT COALESCE(MAX(n), 0) FROM ledger_seals").fetchone()[0] + 1
        at = utc_now()
        signature = self._signer().sign(root_message(LEDGER, n, head[1]))
        self.table("ledger_seals").insert(
            {
                "n": n,
                "event_count": head[0],
                "root_hash": head[1],
                "signature": dumps(signature),
                "at": at,
            }
        )
        self._log_line(
            {"kind": "seal", "run_id": LEDGER, "n": n, "root_hash": head[1]}
            | {"event_count": head[0], "at": at}
        )

    # ------------------------------------------------------------------ the root log

    def log_pruned(self, run_id: str, root_hash: str | None, event_count: int, reason: str) -> None:
        """A signed root log line saying that retention removed this run, and why."""
        self._log_line(
            {"kind": "pruned", "run_id": run_id, "root_hash": root_hash}
            | {"event_count": event_count, "reason": reason, "at": utc_now()}
        )

    def _log_line(self, body: dict[str, Any]) -> None:
        body = {**body, "entry": next_entry(self._db())}
        body["signature"] = self._signer().sign(log_message(body))
        self.execute(
            "INSERT INTO root_log_outbox (entry, line) VALUES (?, ?)", [body["entry"], dumps(body)]
        )
        self._logged = True

    def _signer(self) -> Signer:
        if self.signer is None:
            raise EvidenceError(
                f"evidence store {self.root}: cannot seal: {self.signer_problem or 'no key'}",
                hint="`aijia keys init` creates the signing key (evidence.signing.key_file)",
            )
        return self.signer

    # ------------------------------------------------------------------ end of transaction

    def before_commit(self) -> None:
        """Seal every run that needs it (once) and the ledger if it grew."""
        for run_id, decided in self._touched.items():
            row = self.execute(
                "SELECT state, last_seq FROM runs WHERE run_id = ?", [run_id]
            ).fetchone()
            if row is None or self._sealed_counts.get(run_id) == row[1]:
                continue
            if decided or row[0] != "running":
                self.seal(run_id)
        if self._ledger_grew:
            self._seal_ledger()
