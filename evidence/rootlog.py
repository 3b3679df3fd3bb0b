"""The root log: every sealed root, one signed JSON line each, in a file outside the store.

Ship it elsewhere (a WORM bucket, syslog, another machine): someone who later rewrites the
store cannot rewrite the copy, and `verify` compares the store with the log it can read.

A line (canonical JSON, keys sorted, one per line)::

    {"kind": "seal", "entry": 12, "run_id": "…", "n": 3, "root_hash": "…",
     "event_count": 41, "at": "…", "signature": {…}, "prev": "<sha256 of the line before>"}
    {"kind": "pruned", "entry": 13, "run_id": "…", "root_hash": "…", "event_count": 41,
     "reason": "…", "at": "…", "signature": {…}, "prev": "…"}

`signature` is an Ed25519 signature (`evidence.signing`) over `log_message(body)`: the line
without `signature` and `prev`. `prev` chains the lines (GENESIS for the first), so removing,
reordering or editing a line shows. `run_id` "@ledger" is the store's ledger
(`evidence.ledger`). `entry` counts the store's lines: writing a line is two steps,

1. inside the sealing transaction: the line goes into the `root_log_outbox` table;
2. after COMMIT (never while holding SQLite's write lock): `flush` appends every outbox line
   newer than the log's last entry, under an exclusive lock on the file, then fsyncs.

A crash between the two leaves the line in the outbox; the next `flush` (every store open
flushes) appends it. One log per store: two stores must not share a file.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlite_utils import Database

from evidence.hashing import GENESIS, canonical_json, sha256_hex

LOG_FORMAT = "aijia-log/1"
log = logging.getLogger(__name__)


def log_message(body: dict[str, Any]) -> bytes:
    """The bytes a log line's signature covers: the line without `signature` and `prev`."""
    rest = {k: v for k, v in body.items() if k not in ("signature", "prev")}
    return f"{LOG_FORMAT}\n{canonical_json(rest)}".encode()


def next_entry(db: Database) -> int:
    """The entry number the next outbox line gets (inside the write transaction)."""
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'root_log_outbox'").fetchone()
    return (row[0] if row else 0) + 1


def _last_line(fd: int) -> str | None:
    """The file's last complete line, read backwards in chunks; None for an empty file."""
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    chunk, end = 4096, size
    tail = b""
    while True:
        start = max(0, end - chunk)
        tail = os.pread(fd, end - start, start) + tail
        end = start
        body = tail.rstrip(b"\n")
        if b"\n" in body or start == 0:
            return body.rsplit(b"\n", 1)[-1].decode("utf-8")


def flush(db: Database, path: Path) -> int | None:
    """Append the outbox lines the log lacks; the highest entry now in the log (None: the
    outbox was empty). Never raises: a log that cannot be written is logged as a warning and
    its lines stay in the outbox for the next flush."""
    rows = db.execute("SELECT entry, line FROM root_log_outbox ORDER BY entry").fetchall()
    if not rows:
        return None
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as exc:
        log.warning("root log %s: cannot open it: %s (kept in the store's outbox)", path, exc)
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another process may be flushing the same lines
        last = _last_line(fd)
        if last is None:
            prev, logged = GENESIS, 0
        else:
            prev, logged = sha256_hex(last), int(json.loads(last)["entry"])
        text = ""
        for entry, line in rows:
            if entry <= logged:
                continue
            written = canonical_json({**json.loads(line), "prev": prev})
            text += written + "\n"
            prev, logged = sha256_hex(written), entry
        if text:
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        return logged
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("root log %s: cannot append: %s (kept in the store's outbox)", path, exc)
        return None
    finally:
        os.close(fd)  # closing releases the lock


@dataclass(frozen=True)
class LogLine:
    number: int  # 1-based line number in the file
    body: dict[str, Any]


@dataclass
class LogRead:
    lines: list[LogLine]
    problems: list[tuple[int, str]]  # (line number, what is wrong), in file order


class LogHome(Protocol):
    """Where the log is read from: a `Path`, or `evidence.rootlog_s3.BucketRootLog`."""

    def exists(self) -> bool: ...
    def read_bytes(self) -> bytes: ...


def read_log(path: LogHome, only: set[str] | None = None) -> LogRead:
    """Every line of the log, parsed, with what is structurally wrong: a line that does not
    parse, is not canonical, or whose `prev` is not the hash of the line before it.
    Signatures are checked by the caller (`evidence.verify`), which knows the trusted keys.

    `only`: parse just the lines of these runs (the chain of `prev` is still followed over
    every line, by hashing its bytes); what a one-run check before a commit needs, at the cost
    of hashing the file rather than parsing and checking all of it."""
    return read_lines(path.read_bytes(), only)


def read_lines(raw: bytes, only: set[str] | None = None) -> LogRead:
    """`read_log` over the log's bytes, wherever they were read from (a file, or the
    entries of a bucket's root log put end to end: `evidence.rootlog_s3`)."""
    result = LogRead([], [])
    if raw and not raw.endswith(b"\n"):
        result.problems.append((raw.count(b"\n") + 1, "the last line is cut short"))
    prev = GENESIS
    marks = None if only is None else [canonical_json({"run_id": r})[1:-1].encode() for r in only]
    for number, chunk in enumerate(raw.split(b"\n")[:-1] if raw else [], start=1):
        if marks is not None and not any(m in chunk for m in marks):
            prev = sha256_hex(chunk)
            continue
        try:
            text = chunk.decode("utf-8")
            body = json.loads(text)
        except (UnicodeDecodeError, ValueError):
            result.problems.append((number, "it does not parse"))
            prev = sha256_hex(chunk)
            continue
        if not isinstance(body, dict) or canonical_json(body) != text:
            result.problems.append((number, "it is not a canonical JSON object"))
        elif body.get("prev") != prev:
            result.problems.append((number, "its prev does not hash the line before it"))
        else:
            result.lines.append(LogLine(number, body))
        prev = sha256_hex(text)
    return result
