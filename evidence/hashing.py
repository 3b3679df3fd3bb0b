"""Canonical JSON and the per-run hash chain.

The rule, which `verify_bundle.py` repeats with the standard library alone::

    payload = {"run_id", "seq", "kind", "data", "artifacts": [sha256, ...], "at"}
    hash    = sha256_hex(prev_hash + canonical_json(payload))
    prev_hash of the first event of a run = GENESIS (64 zeros)

Canonical JSON: keys sorted, no whitespace, UTF-8, non-ASCII kept as is, no NaN/Infinity.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    """One spelling per value, so that hashes are reproducible anywhere."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def event_payload(
    run_id: str,
    seq: int,
    kind: str,
    data: Mapping[str, Any],
    artifacts: Sequence[str],
    at: str,
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "seq": seq,
        "kind": kind,
        "data": dict(data),
        "artifacts": list(artifacts),
        "at": at,
    }


def event_hash(prev_hash: str, payload: Mapping[str, Any]) -> str:
    return sha256_hex(prev_hash + canonical_json(payload))


def manifest_root_hash(manifest: Mapping[str, Any]) -> str:
    """The root hash seals a manifest: sha256 of its canonical JSON without `root_hash`."""
    body = {k: v for k, v in manifest.items() if k != "root_hash"}
    return sha256_hex(canonical_json(body))
