"""The data dir is private whatever the umask: the store (database, WAL, shared memory,
artifacts), saved sessions and exported bundles; an older store's loose folders are tightened
when it is opened. (The runner's own files are checked in test_secret_canary.py.)"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.browser.sessions import SessionStore
from agent.core.settings import Settings
from agent.core.states import RunState
from evidence.bundle import export_bundle
from evidence.store import EvidenceStore
from tests.evidence.conftest import make_png, new_run
from tests.security.private import assert_private, assert_unreadable_by_others, loose_modes


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Everything written in the test would be world-readable and -writable by default."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_everything_written_is_private_even_with_an_open_umask(
    exposed_data_dir: Path, open_umask: None
) -> None:
    settings = Settings(data_dir=exposed_data_dir)
    with EvidenceStore.open(settings) as store:
        run = new_run(store)
        store.transition(run.run_id, RunState.PENDING, RunState.RUNNING)
        shots = store.put_screenshot(make_png())
        log = store.put_artifact(b"typed", kind="log", media_type="text/plain")
        store.append_event(run.run_id, "step_finished", {"ok": True}, [*shots, log])
        store.finish_run(run.run_id, outputs={})
        SessionStore(exposed_data_dir).save("shop", "lead", {"cookies": [], "origins": []})
        bundle = exposed_data_dir.parent / "run.zip"  # wherever the user exports to
        export_bundle(store, [run.run_id], bundle)
        assert (store.root / "evidence.db-wal").exists(), "checked with the WAL present"
        assert_private(exposed_data_dir, bundle)


def test_an_older_store_is_tightened_when_opened(exposed_data_dir: Path) -> None:
    root = exposed_data_dir / "evidence"
    with EvidenceStore(root) as store:
        store.put_artifact(b"old", kind="log", media_type="text/plain")
    for folder in (exposed_data_dir, root, root / "objects"):
        os.chmod(folder, 0o755)
    for suffix in ("", "-wal", "-shm"):
        if (root / f"evidence.db{suffix}").exists():
            os.chmod(root / f"evidence.db{suffix}", 0o644)
    with EvidenceStore.open(Settings(data_dir=exposed_data_dir)):
        tightened = [exposed_data_dir, root, *sorted(root.glob("evidence.db*"))]
        assert loose_modes(tightened) == []
        # the old artifact files keep their mode, behind a folder nobody else may enter
        assert_unreadable_by_others([exposed_data_dir, *sorted(exposed_data_dir.rglob("*"))])
