"""A real recipe run (real Chromium, the sandbox over HTTP) with its blobs in a real S3 API:
every screenshot and DOM snapshot lands in the bucket, the run verifies, and its exported
bundle checks offline."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from agent.core.settings import BlobSettings, Settings
from agent.core.states import RunState
from evidence.bundle import export_bundle
from evidence.store import EvidenceStore
from tests.blobs.conftest import blob_settings
from tests.recipes.conftest import Runner
from tests.servers.s3 import S3Server


def test_recipe_run_keeps_its_blobs_in_the_bucket(
    run: Any, chromium: Any, sandbox: Any, product: Settings, s3: S3Server, tmp_path: Path
) -> None:
    bucket = s3.new_bucket()
    product.evidence.capture = "every_page"
    product.evidence.blobs = BlobSettings.model_validate(blob_settings(s3, bucket))
    order = sandbox.find_orders("shoplane", "delayed", limit=1)[0]
    with EvidenceStore.open(product) as store:
        result = Runner("shoplane", run, chromium, product, store)(
            "capture_order_evidence", order_id=order.order_id
        )
        assert result.state is RunState.DONE, result.error
        assert result.run_id is not None
        rows = store.query("SELECT path, kind FROM artifacts")
        assert {"screenshot", "dom"} <= {r["kind"] for r in rows}
        assert s3.keys(bucket) == sorted(f"evidence/test/{r['path']}" for r in rows)
        assert not (store.root / "objects").exists()
        report = store.verify([result.run_id])
        assert report.ok and report.artifacts_checked >= 4, report
        export_bundle(store, [result.run_id], tmp_path / "bundle.zip")
    with zipfile.ZipFile(tmp_path / "bundle.zip") as zf:
        zf.extractall(tmp_path / "bundle")
    checked = subprocess.run(
        [sys.executable, "-I", "-S", "verify_bundle.py"],
        cwd=tmp_path / "bundle",
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
