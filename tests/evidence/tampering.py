"""What an attacker with file access could do to a store, for the verify tests.

The attacker drops the append-only triggers first: they are a guard against mistakes, not
against someone who can edit the file; the hash chain is what catches that.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any


def log_of(root: Path) -> Path:
    """Where a store opened as `EvidenceStore(root)` keeps its root log."""
    return Path(f"{root}.roots.log")


def copy_store(source: Path, target: Path) -> None:
    """Copy a closed store and its root log (which lives beside it, never inside)."""
    shutil.copytree(source, target)
    if log_of(source).exists():
        shutil.copy2(log_of(source), log_of(target))


def connect(root: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(root / "evidence.db", isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")  # a throwaway copy: no need to wait for the disk
    for trigger in ("events_no_update", "events_no_delete", "manifests_no_update"):
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    return conn


def event_rows(conn: sqlite3.Connection, run_id: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT seq, kind, data, artifacts, at, prev_hash, hash FROM events "
        "WHERE run_id = ? ORDER BY seq",
        [run_id],
    ).fetchall()


def flip_byte(path: Path, offset: int) -> None:
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


def edit_event(root: Path, run_id: str, seq: int, column: str, value: Any) -> None:
    with connect(root) as conn:
        conn.execute(
            f"UPDATE events SET {column} = ? WHERE run_id = ? AND seq = ?", [value, run_id, seq]
        )


def delete_event(root: Path, run_id: str, seq: int) -> None:
    with connect(root) as conn:
        conn.execute("DELETE FROM events WHERE run_id = ? AND seq = ?", [run_id, seq])


def swap_events(root: Path, run_id: str, a: int, b: int) -> None:
    with connect(root) as conn:
        conn.execute("UPDATE events SET seq = -1 WHERE run_id = ? AND seq = ?", [run_id, a])
        conn.execute("UPDATE events SET seq = ? WHERE run_id = ? AND seq = ?", [a, run_id, b])
        conn.execute("UPDATE events SET seq = ? WHERE run_id = ? AND seq = -1", [b, run_id])


def edit_manifest(root: Path, run_id: str, key: str, value: Any) -> None:
    with connect(root) as conn:
        (text,) = conn.execute(
            "SELECT manifest FROM manifests WHERE run_id = ? ORDER BY n DESC LIMIT 1", [run_id]
        ).fetchone()
        manifest = json.loads(text)
        manifest[key] = value
        conn.execute(
            "UPDATE manifests SET manifest = ? WHERE run_id = ?", [json.dumps(manifest), run_id]
        )


# --------------------------------------------------------------------------- a whole rewrite


def rewrite_run(
    root: Path,
    run_id: str,
    old: str,
    new: str,
    *,
    signer: Any = None,
    log: Path | None = None,
) -> None:
    """What someone who can write the files but lacks the key does to change an amount for
    good: replace `old` by `new` in every row of the run (inputs, events, gate binds), recompute
    every bind hash, event hash, the run's head and every manifest and root. With `signer`
    (a key of their own) the manifests and the run's root log lines are signed again with it
    and the log's chain is recomputed; without, the old signatures stay."""
    from sqlite_utils import Database

    from evidence.gates import compute_bind_hash
    from evidence.hashing import GENESIS, canonical_json, event_hash, event_payload, sha256_hex
    from evidence.manifest import build_manifest
    from evidence.rootlog import log_message
    from evidence.signing import root_message

    conn = connect(root)
    for trigger in ("approvals_no_update", "ledger_no_update"):
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    db = Database(conn)
    swap = lambda text: None if text is None else text.replace(old, new)  # noqa: E731
    conn.execute(
        "UPDATE runs SET inputs = ? WHERE run_id = ?",
        [
            swap(conn.execute("SELECT inputs FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]),
            run_id,
        ],
    )
    run = next(iter(db.query("SELECT * FROM runs WHERE run_id = ?", [run_id])))
    new_hash: dict[str, str] = {}
    for gate in list(db.query("SELECT * FROM gates WHERE run_id = ?", [run_id])):
        binds = json.loads(swap(gate["binds"]))
        digest = compute_bind_hash(
            run_id=run_id,
            recipe=run["recipe"],
            recipe_version=run["recipe_version"] or "",
            site=run["site"],
            action=gate["action"],
            binds=binds,
        )
        new_hash[gate["bind_hash"]] = digest
        conn.execute(
            "UPDATE gates SET binds = ?, summary = ?, bind_hash = ? WHERE gate_id = ?",
            [canonical_json(binds), swap(gate["summary"]), digest, gate["gate_id"]],
        )
    for old_hash, digest in new_hash.items():
        conn.execute("UPDATE approvals SET bind_hash = ? WHERE bind_hash = ?", [digest, old_hash])
    prev = GENESIS
    for e in event_rows(conn, run_id):
        seq, kind, data, artifacts, at = e[:5]
        text = swap(data)
        for old_hash, digest in new_hash.items():
            text = text.replace(old_hash, digest)
        payload = event_payload(run_id, seq, kind, json.loads(text), json.loads(artifacts), at)
        digest = event_hash(prev, payload)
        conn.execute(
            "UPDATE events SET data = ?, prev_hash = ?, hash = ? WHERE run_id = ? AND seq = ?",
            [text, prev, digest, run_id, seq],
        )
        prev = digest
    conn.execute("UPDATE runs SET head_hash = ? WHERE run_id = ?", [prev, run_id])
    roots = {}
    for n, text in conn.execute(
        "SELECT n, manifest FROM manifests WHERE run_id = ? ORDER BY n", [run_id]
    ).fetchall():
        count = json.loads(text)["event_count"]
        manifest = build_manifest(db, run_id, upto_seq=count)
        roots[n] = manifest["root_hash"]
        signature = (
            canonical_json(signer.sign(root_message(run_id, n, manifest["root_hash"])))
            if signer
            else None
        )
        conn.execute(
            "UPDATE manifests SET manifest = ?, root_hash = ?, signature = COALESCE(?, "
            "signature) WHERE run_id = ? AND n = ?",
            [canonical_json(manifest), manifest["root_hash"], signature, run_id, n],
        )
    conn.close()
    if signer is None or log is None:
        return
    lines, prev = [], GENESIS
    for text in log.read_text().splitlines():
        body = json.loads(text)
        if body.get("run_id") == run_id and body.get("n") in roots:
            body["root_hash"] = roots[body["n"]]
            body["signature"] = signer.sign(log_message(body))
        body["prev"] = prev
        line = canonical_json(body)
        prev = sha256_hex(line)
        lines.append(line)
    log.write_text("".join(f"{line}\n" for line in lines))
