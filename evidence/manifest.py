"""A run's manifest: the chain (seq, kind, hash), every artifact (sha256, size) and a root hash.

It is computed from the stored chain alone, so `verify` can recompute it and compare, and the
root hash (sha256 of the manifest's canonical JSON without `root_hash`) seals it.
"""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database

from evidence.hashing import manifest_root_hash

FORMAT = "aijia-evidence-manifest/1"


def build_manifest(db: Database, run_id: str, upto_seq: int | None = None) -> dict[str, Any]:
    """The manifest of `run_id` over events 1..upto_seq (default: all)."""
    run = next(iter(db.query("SELECT * FROM runs WHERE run_id = ?", [run_id])))
    sql = "SELECT seq, kind, hash, artifacts, at FROM events WHERE run_id = ?"
    params: list[Any] = [run_id]
    if upto_seq is not None:
        sql += " AND seq <= ?"
        params.append(upto_seq)
    events = list(db.query(sql + " ORDER BY seq", params))
    shas = sorted({sha for e in events for sha in json.loads(e["artifacts"])})
    artifacts = []
    for sha in shas:
        row = next(
            iter(db.query("SELECT size, kind, media_type FROM artifacts WHERE sha256 = ?", [sha])),
            None,
        )
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
        "run_id": run_id,
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
    manifest["root_hash"] = manifest_root_hash(manifest)
    return manifest
