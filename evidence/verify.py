"""Recompute every chain, artifact, row and seal; check every signature and the root log.

Per run: the hash chain; each artifact's bytes and row; the run row, gates, approvals and
event_artifacts against the chain (`evidence.verify_rows`); every manifest's root, content
and signature by a trusted key; the latest manifest covers the whole chain unless the run is
still `running` (that tail is listed as unsealed). Per store: the ledger, replayed against
cases, schedule fires and items, prunes and the runs it saw created (`evidence.ledger`); the
store against the root log (`evidence.verify_log`).

What each finding means:

    row changed       an event's stored content no longer gives its stored hash, or an event
                      was rewritten with a fresh hash (the next event's prev_hash disagrees),
                      or a row disagrees with the chain or the ledger (run state, inputs, a
                      gate's amount, an approver …), or a row no event records was added
    row removed       a gap in the sequence, the chain is shorter than the run's head, or a
                      row the chain or the ledger records is gone
    rows reordered    an event sits at a position other than the one it was hashed at
    file changed      an artifact's bytes no longer hash to its name (or its size differs)
    file missing      an artifact referenced by an event is gone
    manifest edited   a manifest's root hash or contents disagree with the chain
    manifest removed  a manifest in the middle is gone, or one the root log has
    not sealed        events after the last manifest of a run that is not `running`
    not signed        a manifest (or ledger seal) carries no signature
    signature invalid a signature does not match, or comes from a key not trusted
    run removed       a run the ledger or the root log knows is gone, and no prune says why
    log edited        a root log line was changed, removed, reordered or forged
    log mismatch      the store and the root log disagree (a seal missing from the log, a
                      different root, time or count)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from evidence.files import BlobStore
from evidence.hashing import GENESIS, event_hash, event_payload, manifest_root_hash
from evidence.ledger import LEDGER, check_ledger
from evidence.manifest import manifest_of
from evidence.rootlog import LogHome
from evidence.signing import check_signature, fingerprint, root_message
from evidence.verify_rows import (
    check_approvals,
    check_event_artifacts,
    check_gates,
    check_run_row,
)

STORE = "@store"  # findings about the store as a whole (an artifact row no event uses)
# Tables with a run_id column whose rows belong to a run's chain.
RUN_TABLES = ("runs", "events", "manifests", "gates", "approvals", "event_artifacts")


@dataclass(frozen=True)
class Break:
    run_id: str  # "@ledger", "@log", "@store": the store's ledger, the root log, the rest
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
    unsealed: list[str] = field(default_factory=list)  # running runs: events after the seal
    trusted_keys: list[str] = field(default_factory=list)  # fingerprints; [] = any valid key
    root_log: str | None = None  # the log compared with the store, if any

    @property
    def ok(self) -> bool:
        return not self.breaks


class Signatures:
    """Checks signature records (JSON text) against the trusted key ids (None: any key)."""

    def __init__(self, trusted: set[str] | None) -> None:
        self.trusted = trusted

    def why_not(self, record: Any, run_id: str, n: int, root: str) -> str | None:
        return self.why_not_message(record, root_message(run_id, n, root))

    def why_not_message(self, record: Any, message: bytes) -> str | None:
        if isinstance(record, str):
            try:
                record = json.loads(record)
            except ValueError:
                return "its signature record does not parse"
        if record and not isinstance(record, dict):
            return "its signature record is not an object"
        if self.trusted is None and isinstance(record, dict):  # any key, but a valid signature
            return check_signature(record, message, [str(record.get("key"))])
        return check_signature(record, message, self.trusted or ())


def _signature_break(run_id: str, where: str, why: str) -> Break:
    return Break(
        run_id, where, "not signed" if why == "it is not signed" else "signature invalid", why
    )


class _Verifier:
    def __init__(self, db: Database, files: BlobStore, signatures: Signatures) -> None:
        self.db = db
        self.files = files
        self.signatures = signatures
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
            what = "its events exist" if rows else "only some of its rows remain"
            return broken("run row", "row removed", f"the run row is gone; {what}")
        prev, hashes = GENESIS, {r["hash"] for r in rows}
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
                payload = event_payload(run_id, seq, row["kind"], data, shas, row["at"])
                digest = event_hash(row["prev_hash"], payload)
            except (TypeError, ValueError):
                return broken(where, "row changed", "its stored content no longer parses")
            if digest != row["hash"]:
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
            row["data"], row["shas"] = data, shas
            prev = row["hash"]
            self.report.events_checked += 1
        if run["last_seq"] != len(rows) or run["head_hash"] != (prev if rows else GENESIS):
            if isinstance(run["last_seq"], int) and run["last_seq"] > len(rows):
                return broken(
                    f"event {len(rows) + 1}",
                    "row removed",
                    f"the run's head says {run['last_seq']} events, the chain has {len(rows)}",
                )
            return broken("run row", "row changed", "its chain head disagrees with the events")
        for check in (
            lambda: check_run_row(run, rows),
            lambda: check_event_artifacts(self.db, run_id, rows),
            lambda: check_gates(self.db, run_id, rows),
            lambda: check_approvals(self.db, run_id, rows),
        ):
            found = check()
            if found is not None:
                return broken(*found)
        return self._manifests(run, rows)

    def _artifact(self, run_id: str, seq: int, sha: Any) -> Break | None:
        if not isinstance(sha, str):
            return Break(run_id, f"event {seq}", "row changed", "an artifact name is not text")
        path = self.files.relative_path(sha)
        where = f"event {seq}, artifact {path}"
        meta = next(iter(self.db.query("SELECT * FROM artifacts WHERE sha256 = ?", [sha])), None)
        if meta is None:
            return Break(run_id, where, "row removed", "the artifact's row is gone")
        if meta["path"] != path:
            return Break(run_id, where, "row changed", "the artifact row's path is not its name")
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

    def unreferenced_artifacts(self) -> list[Break]:
        """Artifact rows no checked event uses (written just before their event, or left for
        retention): each must still name its own file, with the bytes and size it says."""
        found = []
        for meta in self.db.query("SELECT sha256, path, size FROM artifacts"):
            sha = meta["sha256"]
            if sha in self.file_cache:
                continue
            where = f"artifact {self.files.relative_path(str(sha))}"
            actual = self.files.hash_file(sha) if meta["path"] == where[9:] else None
            self.report.artifacts_checked += 1
            if actual is None or actual != (sha, meta["size"]):
                found.append(Break(STORE, where, "row changed", "it names no file of its own"))
        return found

    def _manifests(self, run: dict[str, Any], events: list[dict[str, Any]]) -> Break | None:
        run_id, event_count, state = run["run_id"], len(events), run["state"]
        rows = list(self.db.query("SELECT * FROM manifests WHERE run_id = ? ORDER BY n", [run_id]))
        shas = [e["shas"] for e in events]
        names = sorted({sha for names in shas for sha in names})
        marks = ", ".join("?" * len(names))
        artifact_rows = {
            r["sha256"]: r
            for r in self.db.query(f"SELECT * FROM artifacts WHERE sha256 IN ({marks})", names)
        }
        covered = 0
        for expected, row in enumerate(rows, start=1):
            where = f"manifest {row['n']}"
            if row["n"] != expected:
                return Break(run_id, where, "manifest removed", f"manifest {expected} is gone")
            try:
                manifest = json.loads(row["manifest"])
                sealed = manifest_root_hash(manifest)
            except (TypeError, ValueError, AttributeError):
                return Break(run_id, where, "manifest edited", "it no longer parses")
            if sealed != manifest.get("root_hash") or sealed != row["root_hash"]:
                return Break(run_id, where, "manifest edited", "its root hash does not match it")
            count = manifest.get("event_count")
            if not isinstance(count, int) or count > event_count:
                return Break(run_id, where, "manifest edited", "it covers events that do not exist")
            rebuilt = manifest_of(run, events[:count], shas[:count], artifact_rows, with_root=False)
            if {**rebuilt, "root_hash": sealed} != manifest:
                return Break(run_id, where, "manifest edited", "it disagrees with the chain")
            why = self.signatures.why_not(row["signature"], run_id, row["n"], row["root_hash"])
            if why is not None:
                return _signature_break(run_id, where, why)
            covered = max(covered, count)
        if covered < event_count:
            if state != "running":
                return Break(
                    run_id,
                    f"event {covered + 1}",
                    "not sealed",
                    f"the run is {state} but its last manifest covers {covered} of "
                    f"{event_count} events",
                )
            self.report.unsealed.append(run_id)
        return None


def candidate_runs(db: Database) -> list[str]:
    """Every run id any run table mentions (a run's rows may outlive its run row)."""
    found: set[str] = set()
    for table in RUN_TABLES:
        found |= {str(r["run_id"]) for r in db.query(f"SELECT DISTINCT run_id FROM {table}")}
    return sorted(found)


def verify(
    db: Database,
    files: BlobStore,
    run_ids: list[str] | None = None,
    *,
    trusted: set[str] | None = None,
    root_log: LogHome | None = None,
) -> VerifyReport:
    """Check the given runs, or the whole store (every run, the ledger, the root log) when
    `run_ids` is None. `trusted`: the key ids whose signatures count (`EvidenceStore.verify`
    passes the store's; None accepts any key whose signature is valid, which proves nothing
    about who signed: pass it). `root_log`: the log to compare with the store."""
    from evidence.verify_log import check_log

    signatures = Signatures(trusted)
    verifier = _Verifier(db, files, signatures)
    verifier.report.trusted_keys = sorted(fingerprint(k) for k in trusted or ())
    verifier.report.root_log = str(root_log) if root_log is not None else None
    whole = run_ids is None
    ids = candidate_runs(db) if run_ids is None else list(run_ids)
    for run_id in ids:
        verifier.run(run_id)
    extra: list[Break] = []
    if whole:
        ledger = check_ledger(db, signatures.why_not)
        extra += [Break(LEDGER, *p) for p in ledger.problems]
        extra += verifier.unreferenced_artifacts()
        extra += _ledger_runs(db, ledger.runs, None)
    else:  # a few runs (before a commit): their creation in the ledger, not all of it
        extra += _ledger_runs(db, _created_in_ledger(db, set(ids)), set(ids))
    if root_log is not None:
        extra += check_log(db, root_log, signatures, set(ids), whole=whole)
    _add_once(verifier.report, extra)
    return verifier.report


def _created_in_ledger(db: Database, ids: set[str]) -> set[str]:
    """Which of `ids` the ledger recorded as created (its events are hashed: a forged one
    shows in `verify --all`, which replays the whole ledger)."""
    marks = ", ".join("?" for _ in ids)
    rows = db.query(
        "SELECT json_extract(data, '$.run_id') AS run_id FROM ledger WHERE kind = 'run_created' "
        f"AND json_extract(data, '$.run_id') IN ({marks})",
        sorted(ids),
    )
    return {str(r["run_id"]) for r in rows}


def _ledger_runs(db: Database, ledger_runs: set[str], wanted: set[str] | None) -> list[Break]:
    """Runs the ledger saw created must exist or be pruned; existing runs must be in it."""
    runs = {r["run_id"] for r in db.query("SELECT run_id FROM runs")}
    pruned = {r["run_id"] for r in db.query("SELECT run_id FROM prunes")}
    everything = ledger_runs | runs
    found = []
    for run_id in sorted((ledger_runs - runs - pruned) & (wanted or everything)):
        found.append(Break(run_id, "run row", "run removed", "the ledger saw it created"))
    for run_id in sorted((runs - ledger_runs) & (wanted or everything)):
        found.append(Break(run_id, "run row", "row changed", "the ledger never saw it created"))
    return found


def _add_once(report: VerifyReport, found: Iterable[Break]) -> None:
    """Add breaks, one per run: the first found per run is the one worth reading."""
    broken = {b.run_id for b in report.breaks}
    for b in found:
        if b.run_id in (LEDGER, STORE, "@log") or b.run_id not in broken:
            report.breaks.append(b)
            broken.add(b.run_id)
