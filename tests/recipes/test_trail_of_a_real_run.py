"""A real run of a shipped recipe leaves a trail that verifies, exports, and shows tampering.

One `capture_order_evidence` run in real Chromium against the sandbox, then: `verify` is clean;
the exported bundle checks with its own stdlib-only verifier in a separate Python that has no
access to the project; and each kind of tampering is named by `verify` (screenshot byte, event
edited, deleted, reordered, manifest edited), each on a fresh copy of the store.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.core.states import RunState
from evidence.bundle import export_bundle
from evidence.store import EvidenceStore
from tests.evidence import tampering
from tests.recipes.conftest import Runner


@pytest.fixture
def recorded(run: Any, chromium: Any, product: Any, store: Any, sandbox: Any) -> tuple[Any, str]:
    product.evidence.capture = "every_page"
    order = sandbox.find_orders("shoplane", "delayed", limit=1)[0]
    result = Runner("shoplane", run, chromium, product, store)(
        "capture_order_evidence", order_id=order.order_id
    )
    assert result.state is RunState.DONE, result.error
    assert result.run_id is not None
    return product, result.run_id


def test_trail_verifies_and_exports_for_offline_checking(recorded, store, tmp_path: Path):
    _settings, run_id = recorded
    report = store.verify([run_id])
    assert report.ok and report.runs_checked == 1 and report.artifacts_checked >= 4
    kinds = [e.kind for e in store.events(run_id)]
    assert "page_reviewed" in kinds and kinds.count("step_finished") >= 8
    bundle = tmp_path / "bundle.zip"
    export_bundle(store, [run_id], bundle)
    out = tmp_path / "unzipped"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(out)
    # -I -S: isolated, no site-packages: the project and its dependencies cannot be imported
    checked = subprocess.run(
        [sys.executable, "-I", "-S", "verify_bundle.py"], cwd=out, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _first_screenshot(root: Path, store: Any, run_id: str) -> Path:
    for event in store.events(run_id):
        for sha in event.artifacts:
            ref = store.artifact(sha)
            if ref.kind == "screenshot":
                return root / ref.path
    raise AssertionError("no screenshot in the run")


TAMPERS: dict[str, tuple[Callable[[Path, Any, str], None], str]] = {
    "screenshot byte": (
        lambda root, store, run: tampering.flip_byte(_first_screenshot(root, store, run), 100),
        "artifact",
    ),
    "event edited": (
        lambda root, store, run: tampering.edit_event(root, run, 5, "data", '{"url": "x"}'),
        "event 5",
    ),
    "event deleted": (lambda root, store, run: tampering.delete_event(root, run, 6), "event"),
    "events reordered": (lambda root, store, run: tampering.swap_events(root, run, 4, 7), "event"),
    "manifest edited": (
        lambda root, store, run: tampering.edit_manifest(root, run, "root_hash", "0" * 64),
        "manifest",
    ),
}


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_tampering_with_a_real_trail_is_named(recorded, store, tmp_path: Path, tamper: str):
    settings, run_id = recorded
    store.close()
    root = tmp_path / "copy"
    shutil.copytree(Path(store.root), root)
    change, where = TAMPERS[tamper]
    with EvidenceStore(root, settings.evidence) as original:
        change(root, original, run_id)
    with EvidenceStore(root, settings.evidence) as tampered:
        report = tampered.verify([run_id])
    assert not report.ok, f"{tamper} was not detected"
    assert where in str(report.breaks[0]), str(report.breaks[0])
