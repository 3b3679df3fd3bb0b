"""What an attacker with file access could do to a store, for the verify tests.

The attacker drops the append-only triggers first: they are a guard against mistakes, not
against someone who can edit the file; the hash chain is what catches that.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any


def connect(root: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(root / "evidence.db", isolation_level=None)
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
