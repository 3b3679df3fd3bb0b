"""A run's manifest: the chain (seq, kind, hash), every artifact (sha256, size) and a root hash.

It is computed from the stored chain alone, so `verify` can recompute it and compare, and the
root hash (sha256 of the manifest's canonical JSON without `root_hash`) seals it. It is built
at every seal (`evidence.sealing`), so it takes three queries whatever the run's size.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlite_utils import Database

from evidence.hashing import manifest_root_hash

FORMAT = "aijia-evidence-manifest/1"


def build_manifest(db: Database, run_id: str, upto_seq: int | None = None) -> dict[str, Any]:
    """The manifest of `run_id` over events 1..upto_seq (default: all)."""
    run = next(iter(db.query("SELECT * FROM runs WHERE run_id = ?", [run_id])))
    limit = upto_seq if upto_seq is not None else (1 << 62)
    events = list(
        db.query(
            "SELECT seq, kind, hash, artifacts, at FROM events WHERE run_id = ? AND seq <= ? "
            "ORDER BY seq",
            [run_id, limit],
        )
    )
    rows = db.query(
        "SELECT a.sha256, a.size, a.kind, a.media_type FROM artifacts a WHERE a.sha256 IN "
        "(SELECT DISTINCT sha256 FROM event_artifacts WHERE run_id = ? AND seq <= ?)",
        [run_id, limit],
    )
    shas = [json.loads(e["artifacts"]) for e in events]
    return manifest_of(run, events, shas, {r["sha256"]: r for r in rows})


def manifest_of(
    run: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    shas: Sequence[Sequence[str]],
    artifact_rows: Mapping[str, Mapping[str, Any]],
    *,
    with_root: bool = True,
) -> dict[str, Any]:
    """The manifest over `events` (rows with seq, kind, hash, at; `shas[i]` the artifacts
    of events[i]), the run row and the artifacts' rows by sha256: no query, so that `verify`
    rebuilds every manifest of a run from one read of its chain (without `root_hash` when
    not `with_root`: verify hashes the stored manifest and compares the rest)."""
    artifacts = []
    for sha in sorted({sha for names in shas for sha in names}):
        row = artifact_rows.get(sha)
        artifacts.append(
            {
                "sha256": sha,
                "size": row["size"] if row else None,
                "kind": row["kind"] if row else None,
                "media_type": row["media_type"] if row else None,
            }
        )
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "run_id": run["run_id"],
        "recipe": run["recipe"],
        "recipe_version": run["recipe_version"],
        "site": run["site"],
        "case_id": run["case_id"],
        "event_count": len(events),
        "head_hash": events[-1]["hash"] if events else None,
        "sealed_at": events[-1]["at"] if events else None,
        "chain": [{"seq": e["seq"], "kind": e["kind"], "hash": e["hash"]} for e in events],
        "artifacts": artifacts,
    }
    if with_root:
        manifest["root_hash"] = manifest_root_hash(manifest)
    return manifest
