"""An evidence store whose blobs live in a real S3 API (moto's server) on 127.0.0.1.

Rows stay in SQLite; screenshots and DOM go to `<prefix>objects/<aa>/<sha256>` in the bucket.
`aijia evidence verify` and `export` work through the bucket, a blob changed there is named,
object lock refuses deletion (and prune keeps such runs), a missing bucket is exit code 7.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.core.errors import EvidenceError
from agent.core.settings import load_config
from agent.doctor import run_checks
from cli import app
from evidence.store import EvidenceStore
from tests.evidence.conftest import full_run
from tests.servers.s3 import S3Server

runner = CliRunner()


def aijia(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def artifact_keys(store: EvidenceStore) -> list[str]:
    return sorted(f"evidence/test/{r['path']}" for r in store.query("SELECT path FROM artifacts"))


def test_blobs_land_in_the_bucket_verify_and_export(
    s3: S3Server, bucket: str, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config(bucket)
    with EvidenceStore.open(load_config(config)) as store:
        run = full_run(store, case_id="T-1")
        keys = artifact_keys(store)
        assert len(keys) >= 3 and s3.keys(bucket) == keys
        assert not (store.root / "objects").exists()  # nothing on local disk
        store.put_artifact(b"same bytes", kind="file", media_type="text/plain")
        store.put_artifact(b"same bytes", kind="file", media_type="text/plain")
        assert len(s3.keys(bucket)) == len(keys) + 1  # idempotent: one object
        screenshot = next(store.artifact(s) for e in store.events(run.run_id) for s in e.artifacts)

    code, out = aijia("evidence", "verify", "--all", "-c", str(config))
    assert code == 0, out
    code, out = aijia(
        "evidence", "export", run.run_id, "-o", str(tmp_path / "b.zip"), "-c", str(config)
    )
    assert code == 0, out
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        zf.extractall(tmp_path / "bundle")
    checked = subprocess.run(  # the bundle's own stdlib-only verifier, isolated from the project
        [sys.executable, "-I", "-S", "verify_bundle.py"],
        cwd=tmp_path / "bundle",
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # Tampering in the bucket: same key, other bytes.
    key = f"evidence/test/{screenshot.path}"
    original = s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.client().put_object(Bucket=bucket, Key=key, Body=original[:-1] + b"\x00")
    code, out = aijia("evidence", "verify", run.run_id, "-c", str(config))
    assert code == 1, out
    assert f"artifact {screenshot.path}" in out.replace("\n", "") and "file changed" in out
    with EvidenceStore.open(load_config(config)) as store, pytest.raises(EvidenceError) as err:
        store.read_artifact(screenshot.sha256)
    assert key in err.value.message and "changed after it was stored" in err.value.message


def test_object_lock_refuses_deletion_and_prune_keeps_the_run(
    s3: S3Server, write_config: Callable[..., Path]
) -> None:
    locked = s3.new_bucket(object_lock=True)
    lock = {"mode": "COMPLIANCE", "days": 1}
    config = write_config(locked, object_lock=lock, server_side_encryption={"algorithm": "AES256"})
    with EvidenceStore.open(load_config(config)) as store:
        run = full_run(store, case_id=None)
        sha = next(s for e in store.events(run.run_id) for s in e.artifacts)
        key = f"evidence/test/{store.files.relative_path(sha)}"
        head = s3.client().head_object(Bucket=locked, Key=key)
        assert head["ObjectLockMode"] == "COMPLIANCE" and head["ServerSideEncryption"] == "AES256"

        with pytest.raises(EvidenceError, match=r"under object lock \(COMPLIANCE\) until"):
            store.files.remove(sha)
        result = store.prune(timedelta(0))
        assert result.pruned == [] and "under object lock until" in result.kept[run.run_id]
        assert store.get_run(run.run_id) is not None and key in s3.keys(locked)
        assert store.verify([run.run_id]).ok
    doctor = {c.name: c for c in run_checks(config)}["evidence blobs"]
    assert doctor.ok and "object lock COMPLIANCE" in doctor.detail


def test_missing_bucket_is_a_clear_error_and_exit_7(
    bucket: str, write_config: Callable[..., Path]
) -> None:
    config = write_config(bucket)
    with EvidenceStore.open(load_config(config)) as store:
        run = full_run(store, case_id=None)
    missing = write_config("aijia-no-such-bucket", name="missing.yaml")
    with EvidenceStore.open(load_config(missing)) as store:
        with pytest.raises(EvidenceError, match="bucket 'aijia-no-such-bucket' does not exist"):
            store.put_artifact(b"never stored", kind="file", media_type="text/plain")
        # nothing lost, nothing pretended: no row for a blob that was not written
        assert len(store.query("SELECT * FROM artifacts")) == len(artifact_keys(store))
        assert store.query("SELECT * FROM artifacts WHERE size = 12") == []
    code, out = aijia("evidence", "verify", run.run_id, "-c", str(missing))
    assert code == 7, out
    assert "does not exist" in out and "aijia-no-such-bucket" in out
    doctor = {c.name: c for c in run_checks(missing)}["evidence blobs"]
    assert not doctor.ok and "does not exist" in doctor.detail and doctor.fix
