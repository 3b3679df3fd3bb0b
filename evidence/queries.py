"""The reading side of the store: runs, events, manifests, artifacts, verification.

Reads take no lock: they see what is committed, plus what a transaction open on this same
store object wrote so far. `query` and `query_one` are for the other evidence modules (prune,
schedules), which own their SQL; code outside `evidence/` uses the named methods.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.core.errors import EvidenceError
from agent.core.states import RunState
from evidence.api import ArtifactRef, EventRecord, RunRecord
from evidence.files import BlobStore
from evidence.jsonvalue import loads
from evidence.verify import VerifyReport, verify

if TYPE_CHECKING:
    from sqlite_utils import Database

    from evidence.rootlog import LogHome


class StoreQueries:
    """Mixed into EvidenceStore."""

    if TYPE_CHECKING:
        root: Path
        db: Database
        files: BlobStore
        root_log: LogHome

        @property
        def trusted_keys(self) -> set[str]: ...
        def snapshot(self) -> contextlib.AbstractContextManager[None]: ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read (SELECT) as dicts."""
        return list(self.db.query(sql, list(params)))

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        """The first row of a read, or None."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def get_run(self, run_id: str) -> RunRecord:
        """The run, or EvidenceError when there is no such run."""
        row = self.query_one("SELECT * FROM runs WHERE run_id = ?", [run_id])
        if row is None:
            raise EvidenceError(
                f"no run {run_id!r} in the evidence store {self.root}",
                hint="`aijia runs list` shows the runs it holds",
            )
        return run_record(row)

    def list_runs(
        self,
        *,
        state: str | None = None,
        case_id: str | None = None,
        since: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first, optionally filtered by state, case or creation time (ISO)."""
        where, params = [], []
        for column, op, value in (
            ("state", "=", state),
            ("case_id", "=", case_id),
            ("created_at", ">=", since),
        ):
            if value is not None:
                where.append(f"{column} {op} ?")
                params.append(value)
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, run_id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [run_record(r) for r in self.db.query(sql, params)]

    def events(self, run_id: str) -> list[EventRecord]:
        """The run's events in chain order."""
        rows = self.db.query("SELECT * FROM events WHERE run_id = ? ORDER BY seq", [run_id])
        return [
            EventRecord(
                r["run_id"],
                r["seq"],
                r["kind"],
                loads(r["data"]),
                tuple(loads(r["artifacts"])),
                r["at"],
                r["prev_hash"],
                r["hash"],
            )
            for r in rows
        ]

    def manifest(self, run_id: str) -> dict[str, Any] | None:
        """The run's latest manifest (written by finish_run), or None."""
        row = self.query_one(
            "SELECT manifest FROM manifests WHERE run_id = ? ORDER BY n DESC LIMIT 1", [run_id]
        )
        return loads(row["manifest"]) if row else None

    def verify(self, run_ids: Sequence[str] | None = None) -> VerifyReport:
        """Recompute chains, artifacts, rows and seals, check signatures by this store's
        trusted keys and compare with the root log (`evidence.verify`); everything when None."""
        if run_ids is not None:
            for run_id in run_ids:
                known = self.query_one(
                    "SELECT 1 AS x FROM runs WHERE run_id = ? UNION "
                    "SELECT 1 FROM events WHERE run_id = ? UNION "
                    "SELECT 1 FROM manifests WHERE run_id = ? UNION "
                    "SELECT 1 FROM ledger WHERE kind = 'run_created' "
                    "AND json_extract(data, '$.run_id') = ?",
                    [run_id, run_id, run_id, run_id],
                )
                if known is None:
                    raise EvidenceError(
                        f"no run {run_id!r} in the evidence store {self.root}",
                        hint="`aijia evidence list` shows the runs it holds",
                    )
        with self.snapshot():  # one moment of the store, whatever other writers do
            return verify(
                self.db,
                self.files,
                list(run_ids) if run_ids is not None else None,
                trusted=self.trusted_keys,
                root_log=self.root_log,
            )

    def artifact(self, sha256: str) -> ArtifactRef:
        row = self.query_one("SELECT * FROM artifacts WHERE sha256 = ?", [sha256])
        if row is None:
            raise EvidenceError(f"no artifact {sha256[:12]} in the evidence store {self.root}")
        return ArtifactRef(row["sha256"], row["kind"], row["media_type"], row["size"], row["path"])

    def read_artifact(self, sha256: str) -> bytes:
        return self.files.read(sha256)


def run_record(row: Mapping[str, Any]) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        recipe=row["recipe"],
        recipe_version=row["recipe_version"] or "",
        site=row["site"],
        state=RunState(row["state"]),
        inputs=loads(row["inputs"] or "{}"),
        account=row["account"],
        case_id=row["case_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        outputs=loads(row["outputs"] or "{}"),
        error=row["error"],
    )
