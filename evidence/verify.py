"""Recompute every chain, artifact and manifest and name the first broken link of each run.

What each finding means:

    row changed     an event's stored content no longer gives its stored hash, or an event
                    was rewritten with a fresh hash (the next event's prev_hash disagrees),
                    or the run row disagrees with the chain (state, inputs …)
    row removed     a gap in the sequence, or the chain is shorter than the run's head
    rows reordered  an event sits at a position other than the one it was hashed at
    file changed    an artifact's bytes no longer hash to its name (or its size differs)
    file missing    an artifact referenced by an event is gone
    manifest edited a manifest's root hash or contents disagree with the chain
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from evidence.files import ObjectFiles
from evidence.hashing import GENESIS, event_hash, event_payload, manifest_root_hash
from evidence.manifest import build_manifest


@dataclass(frozen=True)
class Break:
    run_id: str
    where: str  # "event 4", "artifact objects/ab/…", "manifest 1", "run row"
    what: str  # one of the findings in the module docstring
    detail: str

    def __str__(self) -> str:
        return f"run {self.run_id}: {self.where}: {self.what}: {self.detail}"


@dataclass
class VerifyReport:
    runs_checked: int = 0
    events_checked: int = 0
    artifacts_checked: int = 0
    breaks: list[Break] = field(default_factory=list)
    unsealed: list[str] = field(default_factory=list)  # events after the last manifest

    @property
    def ok(self) -> bool:
        return not self.breaks


class _Verifier:
    def __init__(self, db: Database, files: ObjectFiles) -> None:
        self.db = db
        self.files = files
        self.file_cache: dict[str, tuple[str, int] | None] = {}
        self.report = VerifyReport()

    def run(self, run_id: str) -> None:
        self.report.runs_checked += 1
        problem = self._check(run_id)
        if problem is not None:
            self.report.breaks.append(problem)

    def _check(self, run_id: str) -> Break | None:
        def broken(where: str, what: str, detail: str) -> Break:
            return Break(run_id, where, what, detail)

        rows = list(self.db.query("SELECT * FROM events WHERE run_id = ? ORDER BY seq", [run_id]))
        run = next(iter(self.db.query("SELECT * FROM runs WHERE run_id = ?", [run_id])), None)
        if run is None:
            what = "its events exist" if rows else "only its manifest remains"
            return broken("run row", "row removed", f"the run row is gone; {what}")
        prev, hashes = GENESIS, {r["hash"] for r in rows}
        last_state = "pending"
        created: dict[str, Any] | None = None
        for expected, row in enumerate(rows, start=1):
            seq = row["seq"]
            where = f"event {expected}"
            if seq != expected:
                return broken(
                    where,
                    "row removed",
                    f"event {seq} follows event {expected - 1}; "
                    f"{'event ' + str(expected) if seq == expected + 1 else 'events'} missing",
                )
            try:
                data, shas = json.loads(row["data"]), json.loads(row["artifacts"])
            except ValueError:
                return broken(where, "row changed", "its stored JSON no longer parses")
            payload = event_payload(run_id, seq, row["kind"], data, shas, row["at"])
            if event_hash(row["prev_hash"], payload) != row["hash"]:
                for other in range(1, max(len(rows), seq) + 2):
                    if event_hash(row["prev_hash"], {**payload, "seq": other}) == row["hash"]:
                        return broken(
                            where,
                            "rows reordered",
                            f"the event stored at seq {seq} was written as seq {other}",
                        )
                return broken(where, "row changed", f"{row['kind']} no longer matches its hash")
            if row["prev_hash"] != prev:
                if row["prev_hash"] in hashes:
                    return broken(
                        where, "rows reordered", f"{row['kind']} was chained after another event"
                    )
                return broken(
                    f"event {expected - 1}",
                    "row changed",
                    f"it was rewritten: event {seq} recorded a different hash for it",
                )
            for sha in shas:
                problem = self._artifact(run_id, seq, sha)
                if problem is not None:
                    return problem
            if row["kind"] == "state_changed":
                last_state = data.get("to_state", last_state)
            elif row["kind"] == "run_created":
                created = data
            prev = row["hash"]
            self.report.events_checked += 1
        if run["last_seq"] != len(rows) or run["head_hash"] != prev:
            if (run["last_seq"] or 0) > len(rows):
                return broken(
                    f"event {len(rows) + 1}",
                    "row removed",
                    f"the run's head says {run['last_seq']} events, the chain has {len(rows)}",
                )
            return broken("run row", "row changed", "its chain head disagrees with the events")
        if run["state"] != last_state:
            return broken(
                "run row",
                "row changed",
                f"state is {run['state']} but the chain's last state change is to {last_state}",
            )
        if created is not None:
            for key in ("recipe", "recipe_version", "site", "account", "case_id"):
                if (run[key] or None) != (created.get(key) or None):
                    return broken("run row", "row changed", f"{key} differs from run_created")
            if json.loads(run["inputs"] or "{}") != created.get("inputs"):
                return broken("run row", "row changed", "inputs differ from run_created")
        return self._manifests(run_id, len(rows))

    def _artifact(self, run_id: str, seq: int, sha: str) -> Break | None:
        path = self.files.relative_path(sha)
        where = f"event {seq}, artifact {path}"
        meta = next(iter(self.db.query("SELECT * FROM artifacts WHERE sha256 = ?", [sha])), None)
        if meta is None:
            return Break(run_id, where, "row removed", "the artifact's row is gone")
        if sha not in self.file_cache:
            self.file_cache[sha] = self.files.hash_file(sha)
            self.report.artifacts_checked += 1
        actual = self.file_cache[sha]
        if actual is None:
            return Break(run_id, where, "file missing", "the file is gone")
        if actual[0] != sha:
            return Break(run_id, where, "file changed", f"its bytes now hash to {actual[0][:12]}…")
        if actual[1] != meta["size"]:
            return Break(run_id, where, "row changed", "the artifact row's size disagrees")
        return None

    def _manifests(self, run_id: str, event_count: int) -> Break | None:
        rows = list(self.db.query("SELECT * FROM manifests WHERE run_id = ? ORDER BY n", [run_id]))
        covered = 0
        for row in rows:
            where = f"manifest {row['n']}"
            try:
                manifest = json.loads(row["manifest"])
            except ValueError:
                return Break(run_id, where, "manifest edited", "it no longer parses")
            sealed = manifest_root_hash(manifest)
            if sealed != manifest.get("root_hash") or sealed != row["root_hash"]:
                return Break(run_id, where, "manifest edited", "its root hash does not match it")
            count = manifest.get("event_count")
            if not isinstance(count, int) or count > event_count:
                return Break(run_id, where, "manifest edited", "it covers events that do not exist")
            if build_manifest(self.db, run_id, upto_seq=count) != manifest:
                return Break(run_id, where, "manifest edited", "it disagrees with the chain")
            covered = max(covered, count)
        if rows and covered < event_count:
            self.report.unsealed.append(run_id)
        return None


def verify(db: Database, files: ObjectFiles, run_ids: list[str] | None = None) -> VerifyReport:
    """Check the given runs, or every run (and orphaned events) when `run_ids` is None."""
    if run_ids is None:
        found = {r["run_id"] for r in db.query("SELECT run_id FROM runs")}
        found |= {r["run_id"] for r in db.query("SELECT DISTINCT run_id FROM events")}
        found |= {r["run_id"] for r in db.query("SELECT DISTINCT run_id FROM manifests")}
        run_ids = sorted(found)
    verifier = _Verifier(db, files)
    for run_id in run_ids:
        verifier.run(run_id)
    return verifier.report
