"""The root log in the blobs' S3 bucket: one object per entry, shared by every machine.

With one PostgreSQL store shared by several machines, a root log file per machine does not
work: each process appends the outbox lines it flushed to its own file and drops them from
the (shared) outbox, so each file lacks the others' lines and `verify` reports a mismatch.
`evidence.signing.root_log_in_bucket` puts the log where all of them write and read, and
where a rewrite of the database cannot reach it:

    <evidence.blobs.prefix>roots/<entry, 12 digits>     the line, as in roots.log, + "\\n"

Entry numbers come from the shared store (`rootlog.next_entry`), so every machine names
the same line the same way, and the line's bytes (with `prev`, the hash of the line before
it) are the same whoever writes it: two machines flushing at once write identical objects.
Put end to end, in key order, the objects are exactly a roots.log file, and `verify` reads
them so (`rootlog.read_lines`): a deleted or changed object breaks the `prev` chain or a
signature. With `evidence.blobs.object_lock` every entry is written under retention, so the
bucket refuses to delete it in the first place.

boto3 comes from `evidence.blobs_s3`; this module is imported only when the setting is on.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent.core.errors import EvidenceError
from evidence.blobs_s3 import MISSING, S3Objects, _code
from evidence.hashing import GENESIS, canonical_json, sha256_hex

if TYPE_CHECKING:
    from pathlib import Path

    from sqlite_utils import Database

    from agent.core.settings import BlobSettings

log = logging.getLogger(__name__)


class BucketRootLog:
    """The root log as objects under `<prefix>roots/` (see the module docstring)."""

    def __init__(self, settings: BlobSettings) -> None:
        if settings.kind != "s3":
            raise EvidenceError(
                "evidence.signing.root_log_in_bucket: evidence.blobs is not an S3 bucket",
                hint="configure evidence.blobs (kind: s3) or turn root_log_in_bucket off",
            )
        self.objects = S3Objects(settings)
        self.client = self.objects.client
        self.bucket = self.objects.bucket
        self.folder = f"{settings.prefix}roots/"
        self.lock = settings.object_lock

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.folder}"

    def key(self, entry: int) -> str:
        return f"{self.folder}{entry:012d}"

    # ------------------------------------------------------------------ reading

    def _keys(self) -> list[str]:
        with self.objects._talking(f"list the root log {self}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.folder
            )
            return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def _get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        with self.objects._talking(f"read the root log entry {key}"):
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            except ClientError as exc:
                if _code(exc) in MISSING:
                    return None
                raise
            data: bytes = body.read()
        return data

    def exists(self) -> bool:
        return bool(self._keys())

    def read_bytes(self) -> bytes:
        """Every entry, in order, end to end: the log as a file would hold it."""
        return b"".join(self._get(key) or b"" for key in self._keys())

    # ------------------------------------------------------------------ writing

    def _put(self, entry: int, text: str) -> None:
        extra: dict[str, Any] = {}
        if self.lock is not None:
            extra["ObjectLockMode"] = self.lock.mode
            extra["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(days=self.lock.days)
        with self.objects._talking(f"write the root log entry {self.key(entry)}"):
            self.client.put_object(
                Bucket=self.bucket, Key=self.key(entry), Body=text.encode("utf-8"), **extra
            )

    def flush(self, db: Database) -> int | None:
        """Write the outbox lines the bucket lacks; the highest entry now there (None: the
        outbox was empty, or the bucket could not be written: the lines stay in the outbox
        for the next flush, as with a file). Never raises."""
        rows = db.execute("SELECT entry, line FROM root_log_outbox ORDER BY entry").fetchall()
        if not rows:
            return None
        try:
            return self._write(rows)
        except (EvidenceError, ValueError, KeyError, TypeError) as exc:
            log.warning("root log %s: cannot append: %s (kept in the store's outbox)", self, exc)
            return None

    def _write(self, rows: list[Any]) -> int | None:
        first = int(rows[0][0])
        if first == 1:
            prev = GENESIS
        else:
            before = self._get(self.key(first - 1))
            if before is None:
                log.warning(
                    "root log %s: entry %d is missing, so entry %d cannot be chained to it "
                    "(kept in the store's outbox)",
                    self,
                    first - 1,
                    first,
                )
                return None
            prev = sha256_hex(before.decode("utf-8").rstrip("\n"))
        logged = None
        for entry, line in rows:
            there = self._get(self.key(entry))  # written by another machine already
            if there is None:
                written = canonical_json({**json.loads(line), "prev": prev})
                self._put(entry, written + "\n")
            else:
                written = there.decode("utf-8").rstrip("\n")
            prev, logged = sha256_hex(written), int(entry)
        return logged

    def import_file(self, path: Path) -> int:
        """Put the lines of a roots.log file into the bucket (those it lacks), so that a
        store moved to PostgreSQL + S3 (`aijia evidence migrate`) goes on chaining after
        them; the number of lines written."""
        written = 0
        if not path.exists():
            return 0
        for text in path.read_text("utf-8").splitlines():
            entry = int(json.loads(text)["entry"])
            if self._get(self.key(entry)) is None:
                self._put(entry, text + "\n")
                written += 1
        return written
