"""Who holds the store's write lock: a small file written at every BEGIN IMMEDIATE.

SQLite says only "database is locked". A writer that waited `evidence.busy_timeout_s` in vain
reads `<store>/writer` (pid, host, since when; written by whoever took the lock last) and
says who it waited for and how long that process has held the lock: a stopped or hung
process is then easy to find and end.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from pathlib import Path

from agent.core.errors import EvidenceError

WRITER_FILE = "writer"


def note_writer(root: Path) -> None:
    """Record this process as the lock holder (best effort: never fails a write)."""
    text = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})
    try:
        fd = os.open(root / WRITER_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError:
        return
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def pid_alive(pid: int) -> bool:
    """Whether process `pid` on this host still exists (True when it is another user's)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder(root: Path) -> str | None:
    """'pid 123 on host h has held the write lock for 41 s', when the last recorded writer
    is a live process of this host (or of another host: then it cannot be checked)."""
    try:
        noted = json.loads((root / WRITER_FILE).read_text())
        pid, host, since = int(noted["pid"]), str(noted["host"]), float(noted["since"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid() or (host == socket.gethostname() and not pid_alive(pid)):
        return None
    held = max(0, round(time.time() - since))
    return f"process {pid} on {host} has held the write lock for {held} s"


def lock_error(root: Path, exc: sqlite3.OperationalError) -> EvidenceError:
    """The error a writer that could not get the lock raises (exit 7), naming the holder."""
    who = holder(root)
    if who is None:
        return EvidenceError(
            f"evidence store {root}: could not get the write lock: {exc}; another process holds it",
            hint="another process holds it for too long; raise evidence.busy_timeout_s, or "
            "find it with `fuser` on the store's evidence.db",
        )
    return EvidenceError(
        f"evidence store {root}: could not get the write lock: {who}",
        hint="if that process is stopped or hung, end it (kill <pid>); if it is only slow, "
        "raise evidence.busy_timeout_s",
    )
