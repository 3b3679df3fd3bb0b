"""Content-addressed files: `objects/<first two hex>/<sha256>`, written once, never changed.

A write goes to `tmp/` first, is flushed to disk, then renamed into place, so a reader never
sees half a file and two processes storing the same bytes cannot corrupt each other (the
rename is atomic and both would write identical content).

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
from pathlib import Path

from agent.core.errors import EvidenceError

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


class ObjectFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.tmp = root / "tmp"

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
            return self.path_of(sha256).read_bytes()
        except OSError as exc:
            raise EvidenceError(
                f"evidence store {self.root}: artifact {sha256[:12]} cannot be read: {exc}",
                hint="run `aijia evidence verify --all` to see what is missing",
            ) from exc

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
