"""Retention: remove whole finished runs older than a cutoff, and say so in the `prunes` log.

A run is kept, whatever its age, when it is not finished (pending, running, paused, approved,
committing, in_doubt), when its case is still open, or when one of its gates is still pending
or approved. A run is removed whole (never part of a chain): events, manifests, gates,
approvals and the run row, in one transaction that first records the run's sealed hashes in
`prunes` (a row the store's ledger chains) and writes a signed line to the root log: a pruned
run is told apart from a deleted one. Artifact files go once no remaining event references them.
A blob under S3 object lock cannot go before its date: its run is kept whole until then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from agent.core.states import TERMINAL
from evidence.ids import cutoff_iso, parse_age, utc_now

__all__ = ["PruneResult", "parse_age", "prune"]

if TYPE_CHECKING:
    from evidence.store import EvidenceStore


@dataclass
class PruneResult:
    cutoff: str
    pruned: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)  # run id -> why it stays
    files_removed: int = 0
    bytes_freed: int = 0
    dry_run: bool = False


def _why_kept(store: EvidenceStore, run: dict[str, object]) -> str | None:
    if run["state"] not in {s.value for s in TERMINAL}:
        return f"not finished ({run['state']})"
    if run["case_id"]:
        case = store.query_one("SELECT status FROM cases WHERE case_id = ?", [run["case_id"]])
        if case and case["status"] == "open":
            return f"case {run['case_id']} is open"
    gate = store.query_one(
        "SELECT gate_id, state FROM gates WHERE run_id = ? AND state IN ('pending', 'approved')",
        [run["run_id"]],
    )
    if gate:
        return f"gate {gate['gate_id']} is {gate['state']}"
    shas = store.query(
        "SELECT DISTINCT sha256 FROM event_artifacts WHERE run_id = ?", [run["run_id"]]
    )
    for row in shas:  # object lock: the bucket keeps the blob, so the run stays whole too
        until = store.files.retained_until(row["sha256"])
        if until is not None:
            name = store.files.relative_path(row["sha256"])
            return f"artifact {name} is under object lock until {until}"
    return None


def prune(
    store: EvidenceStore, older_than: timedelta, *, dry_run: bool = False, reason: str = ""
) -> PruneResult:
    result = PruneResult(cutoff=cutoff_iso(older_than), dry_run=dry_run)
    old = store.query("SELECT * FROM runs WHERE created_at < ?", [result.cutoff])
    for run in old:
        why = _why_kept(store, run)
        if why:
            result.kept[run["run_id"]] = why
        else:
            result.pruned.append(run["run_id"])
    if dry_run:
        return result
    why_removed = reason or f"older than {older_than.days} days (cutoff {result.cutoff})"
    for run_id in result.pruned:
        with store.transaction() as tx:
            row = tx.one("SELECT * FROM runs WHERE run_id = ?", [run_id])
            if row is None:  # another prune removed it meanwhile
                continue
            manifest = tx.one(
                "SELECT root_hash FROM manifests WHERE run_id = ? ORDER BY n DESC LIMIT 1",
                [run_id],
            )
            tx.table("prunes").insert(
                {
                    "run_id": run_id,
                    "recipe": row["recipe"],
                    "case_id": row["case_id"],
                    "created_at": row["created_at"],
                    "event_count": row["last_seq"],
                    "head_hash": row["head_hash"],
                    "root_hash": manifest["root_hash"] if manifest else None,
                    "reason": why_removed,
                    "pruned_at": utc_now(),
                },
                replace=True,
            )
            tx.ledger_row("run_pruned", "prunes", {"run_id": run_id})
            root = manifest["root_hash"] if manifest else None
            tx.log_pruned(run_id, root, row["last_seq"], why_removed)
            for sql in (
                "DELETE FROM approvals WHERE run_id = ?",
                "DELETE FROM gates WHERE run_id = ?",
                "DELETE FROM event_artifacts WHERE run_id = ?",
                "DELETE FROM events WHERE run_id = ?",
                "DELETE FROM manifests WHERE run_id = ?",
                "DELETE FROM runs WHERE run_id = ?",
            ):
                tx.execute(sql, [run_id])
    _remove_unreferenced_files(store, result)
    return result


def _remove_unreferenced_files(store: EvidenceStore, result: PruneResult) -> None:
    # Only artifacts older than the cutoff: a newer one may be about to be referenced by an
    # event a runner is writing right now (put_artifact comes before append_event).
    unreferenced = (
        "SELECT sha256, size FROM artifacts WHERE created_at < ? AND sha256 NOT IN "
        "(SELECT sha256 FROM event_artifacts)"
    )
    # Asked outside the transaction (a bucket may be slow): blobs under object lock stay,
    # rows included, until their date.
    free = {
        row["sha256"]
        for row in store.query(unreferenced, [result.cutoff])
        if store.files.retained_until(row["sha256"]) is None
    }
    with store.transaction() as tx:
        orphans = [r for r in tx.query(unreferenced, [result.cutoff]) if r["sha256"] in free]
        for row in orphans:
            tx.execute("DELETE FROM artifacts WHERE sha256 = ?", [row["sha256"]])
    for row in orphans:
        store.files.remove(row["sha256"])
        result.files_removed += 1
        result.bytes_freed += row["size"]
    # Half-written temp files of processes that died mid-write (a day old: surely abandoned).
    count, size = store.files.remove_stale(86_400)
    result.files_removed += count
    result.bytes_freed += size
