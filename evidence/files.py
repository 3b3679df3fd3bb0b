"""Content-addressed files: `objects/<first two hex>/<sha256>`, written once, never changed.

A write goes to `tmp/` first, is flushed to disk, then renamed into place, so a reader never
sees half a file and two processes storing the same bytes cannot corrupt each other (the
rename is atomic and both would write identical content).

`BlobStore` is what the rest of the store uses: `ObjectFiles` (these local files, the
default) and `S3Objects` (evidence/blobs_s3.py, an S3-compatible bucket, same names under a
prefix) implement it; `blob_store` picks one from `evidence.blobs`. Every blob is named by
its sha256, so a reader can always tell a changed one from the one it asked for.

Nobody but the owner may read the evidence (a trace or a page may hold what a session looked
like): directories are 0700, files 0600 — content-addressed files 0400, as they are never
written again — whatever the umask (`private_dir`, `private_file`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from agent.core.errors import EvidenceError

if TYPE_CHECKING:
    from agent.core.settings import BlobSettings

DIR_MODE = 0o700
FILE_MODE = 0o600
OBJECT_MODE = 0o400  # written once, read by the owner only


def private_dir(path: Path) -> Path:
    """Create `path` and its missing parents as 0700; make `path` 0700 if it already was
    there (an older store, a data dir created by hand)."""
    missing = []
    folder = Path(path)
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        with contextlib.suppress(FileExistsError):
            created.mkdir(mode=DIR_MODE)
        os.chmod(created, DIR_MODE)  # mkdir's mode passes through the umask
    if stat.S_IMODE(os.stat(path).st_mode) != DIR_MODE:
        os.chmod(path, DIR_MODE)
    return Path(path)


def private_file(path: Path, *, create: bool = True) -> None:
    """Make `path` 0600, creating it empty first when `create` and it is missing (so that
    SQLite, which gives its WAL and shared-memory files the database's mode, never makes a
    readable one).

    An existing file is changed by path, never opened: closing any descriptor of a file
    drops every POSIX lock this process holds on it, and SQLite's locks on the database and
    its -shm file are such locks. Opening and closing them here let another process think
    it was the first to open the store and reset the shared memory under a live connection
    ("locking protocol" errors, SIGBUS)."""
    try:
        os.chmod(path, FILE_MODE)
        return
    except FileNotFoundError:
        if not create:
            return
    try:  # missing: nobody in this process can have it open, so a descriptor is harmless
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:  # another process created it just now
        os.chmod(path, FILE_MODE)
        return
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


class BlobStore(Protocol):
    """Content-addressed blobs: written once under their sha256, never changed."""

    where: str  # for messages and `aijia doctor`: a folder, or s3://bucket/prefix

    def relative_path(self, sha256: str) -> str:
        """The blob's name as artifact rows and bundles record it: objects/<aa>/<sha256>."""
        ...

    def put(self, content: bytes) -> tuple[str, str]:
        """Store `content` (nothing happens when it is there already); (sha256, name)."""
        ...

    def read(self, sha256: str) -> bytes:
        """The blob's bytes; EvidenceError when missing, unreadable or not matching its name."""
        ...

    def hash_file(self, sha256: str) -> tuple[str, int] | None:
        """(actual sha256, size) of the stored blob, or None when it is missing."""
        ...

    def remove(self, sha256: str) -> None:
        """Delete the blob (gone already: nothing); EvidenceError while it is retained."""
        ...

    def retained_until(self, sha256: str) -> str | None:
        """ISO time before which the blob cannot be deleted (object lock), else None."""
        ...

    def remove_stale(self, older_than_s: float) -> tuple[int, int]:
        """Drop half-written leftovers of dead writers; (count, bytes) removed."""
        ...

    def check(self) -> str:
        """Probe that blobs can be stored here; a description, EvidenceError when not."""
        ...


def checked_blob(data: bytes, sha256: str, where: str) -> bytes:
    """`data` when it hashes to its name; EvidenceError naming the blob when it does not."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise EvidenceError(
            f"evidence blob {where}: its bytes hash to {actual[:12]}…, not to its name "
            f"{sha256[:12]}…: it was changed after it was stored",
            hint="run `aijia evidence verify --all` to see which runs it breaks",
        )
    return data


def blob_store(root: Path, settings: BlobSettings | None = None) -> BlobStore:
    """The blob store `evidence.blobs` asks for; local files under `root` by default.
    boto3 is imported only for kind s3: the default store does not need it."""
    if settings is None or settings.kind == "local":
        return ObjectFiles(root)
    from evidence.blobs_s3 import S3Objects

    return S3Objects(settings)


class ObjectFiles:
    """Blobs as local files under `<root>/objects/` (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.tmp = root / "tmp"
        self.where = str(root)

    def relative_path(self, sha256: str) -> str:
        return f"objects/{sha256[:2]}/{sha256}"

    def path_of(self, sha256: str) -> Path:
        return self.root / self.relative_path(sha256)

    def put(self, content: bytes) -> tuple[str, str]:
        """Store `content`; returns (sha256, path relative to the store root)."""
        sha = hashlib.sha256(content).hexdigest()
        final = self.path_of(sha)
        if final.exists():  # deduplicated: same bytes, same name
            return sha, self.relative_path(sha)
        try:
            private_dir(final.parent)
            private_dir(self.tmp)
            temp = self.tmp / f"{sha}.{os.getpid()}.{secrets.token_hex(4)}"
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
                os.fchmod(fh.fileno(), OBJECT_MODE)
            os.replace(temp, final)
        except OSError as exc:
            raise EvidenceError(
                f"evidence store {self.root}: could not write artifact {sha[:12]}: {exc}",
                hint="check that the evidence location exists, is writable and has free space",
            ) from exc
        return sha, self.relative_path(sha)

    def read(self, sha256: str) -> bytes:
        try:
            data = self.path_of(sha256).read_bytes()
        except OSError as exc:
            raise EvidenceError(
                f"evidence store {self.root}: artifact {sha256[:12]} cannot be read: {exc}",
                hint="run `aijia evidence verify --all` to see what is missing",
            ) from exc
        return checked_blob(data, sha256, str(self.path_of(sha256)))

    def remove(self, sha256: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path_of(sha256).unlink()

    def hash_file(self, sha256: str) -> tuple[str, int] | None:
        """(actual sha256, size) of the stored file, or None when it is missing."""
        path = self.path_of(sha256)
        digest = hashlib.sha256()
        size = 0
        try:
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
                    size += len(chunk)
        except FileNotFoundError:
            return None
        return digest.hexdigest(), size

    def retained_until(self, sha256: str) -> str | None:
        return None  # local files carry no retention of their own

    def remove_stale(self, older_than_s: float) -> tuple[int, int]:
        count = size = 0
        stale = time.time() - older_than_s
        for temp in self.tmp.glob("*") if self.tmp.is_dir() else []:
            with contextlib.suppress(OSError):
                if temp.stat().st_mtime < stale:
                    found = temp.stat().st_size
                    temp.unlink()
                    count, size = count + 1, size + found
        return count, size

    def check(self) -> str:
        return f"local files under {self.objects}"
