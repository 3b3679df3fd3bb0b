"""What the AI end-to-end tests share: a facade on a fresh store per run, all closed at the
end (the fixture calls `close()`), and the sandbox's secrets in the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_USERS, aijia_for


class FacadeRuns:
    """Opens a facade on the store of each settings given; `close()` ends them all."""

    def __init__(self, run: Any, chromium: Any, sandbox: Any, tmp_path: Path) -> None:
        self.run, self.chromium, self.sandbox, self.tmp_path = run, chromium, sandbox, tmp_path
        self.opened: list[tuple[Any, Any]] = []

    def open(self, settings: Any) -> tuple[Any, Any]:
        """(facade, store) for `settings`, closed by `close()`."""
        from evidence.store import EvidenceStore

        store = EvidenceStore.open(settings)
        facade = aijia_for(settings, store, self.chromium, users=TEST_USERS)
        self.opened.append((facade, store))
        return facade, store

    def close(self) -> None:
        for facade, store in self.opened:
            self.run(facade.close())
            store.close()


def sandbox_env(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox's site secrets (passwords, TOTP seeds) as the recipes' $env references."""
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
