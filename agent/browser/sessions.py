"""Saved logins: Playwright storage state per site and account, reused until it expires.

Files live in `<data_dir>/sessions/<site>__<account>.json`, mode 0600 (they are as good as a
password while they last). A saved state older than the site's `session_lifetime_s` is not
used. Whether a reused state still works is the login recipe's `logged_in` check; the runner
logs in again once, transparently, when it does not.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@-]+", "_", part) or "_"


class SessionStore:
    def __init__(self, data_dir: Path) -> None:
        self.folder = Path(data_dir) / "sessions"

    def path(self, site: str, account: str) -> Path:
        return self.folder / f"{_safe(site)}__{_safe(account)}.json"

    def load(self, site: str, account: str, *, lifetime_s: float) -> dict[str, Any] | None:
        """The saved storage state, or None when there is none or it is too old."""
        path = self.path(site, account)
        try:
            age = time.time() - path.stat().st_mtime
            if age > lifetime_s:
                return None
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def save(self, site: str, account: str, state: dict[str, Any]) -> Path:
        """Write atomically with mode 0600 (never readable by others, not even briefly), in
        a 0700 folder of a 0700 data dir, whatever the umask."""
        self.folder.parent.parent.mkdir(parents=True, exist_ok=True)
        for folder in (self.folder.parent, self.folder):  # the data dir, then sessions/
            with contextlib.suppress(FileExistsError):
                folder.mkdir(mode=0o700)
            os.chmod(folder, 0o700)
        path = self.path(site, account)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(state, fh)
        os.replace(tmp, path)
        return path

    def forget(self, site: str, account: str) -> None:
        self.path(site, account).unlink(missing_ok=True)
