"""Content-addressed files: `objects/<first two hex>/<sha256>`, written once, never changed.

A write goes to `tmp/` first, is flushed to disk, then renamed into place, so a reader never
sees half a file and two processes storing the same bytes cannot corrupt each other (the
rename is atomic and both would write identical content). Files are made read-only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path

from agent.core.errors import EvidenceError


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
            final.parent.mkdir(parents=True, exist_ok=True)
            self.tmp.mkdir(parents=True, exist_ok=True)
            temp = self.tmp / f"{sha}.{os.getpid()}.{secrets.token_hex(4)}"
            with open(temp, "wb") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(temp, 0o444)
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
