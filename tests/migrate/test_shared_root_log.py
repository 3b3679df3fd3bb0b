"""The root log across machines: two store processes, each with its own data dir (its own
machine), on one PostgreSQL store, seal runs alternately. With local roots.log files each
file lacks the other's lines and verify fails; with `root_log_in_bucket` the log is one
object per entry in the blobs' bucket, verify passes from either, a changed entry is caught,
and object lock refuses to delete one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from agent.core.settings import PROJECT_ROOT
from tests.blobs.conftest import blob_settings
from tests.conftest import aijia_command
from tests.servers.s3 import S3Server


def machine(tmp_path: Path, name: str, pg_url: str, key: Path, **evidence: Any) -> Path:
    """A config.yaml for one machine: its own data dir, the shared database and key."""
    folder = tmp_path / name
    folder.mkdir()
    signing = {"key_file": str(key), **evidence.pop("signing", {})}
    config = {"data_dir": str(folder / "var"), "evidence": {"database": pg_url, **evidence}}
    config["evidence"]["signing"] = signing
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def seal_one(config: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tests.migrate.seal_one", str(config)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def verify(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [aijia_command(), "evidence", "verify", "--all", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_local_root_logs_disagree_across_machines(pg_url: str, tmp_path: Path) -> None:
    """The problem: each machine's file holds only the lines it flushed."""
    key = tmp_path / "signing.key"
    one, two = (machine(tmp_path, n, pg_url, key) for n in ("one", "two"))
    for config in (one, two, one, two):
        seal_one(config)
    broken = verify(one)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "root log" in broken.stdout


def test_the_bucket_root_log_is_shared_and_kept(pg_url: str, s3: S3Server, tmp_path: Path) -> None:
    bucket = s3.new_bucket(object_lock=True)
    blobs = blob_settings(s3, bucket, object_lock={"mode": "COMPLIANCE", "days": 1})
    key = tmp_path / "signing.key"
    shared = {"blobs": blobs, "signing": {"root_log_in_bucket": True}}
    one = machine(tmp_path, "one", pg_url, key, **dict(shared, signing=dict(shared["signing"])))
    two = machine(tmp_path, "two", pg_url, key, **dict(shared, signing=dict(shared["signing"])))
    runs = [seal_one(config) for config in (one, two, one, two)]
    assert len(set(runs)) == 4
    entries = [k for k in s3.keys(bucket) if "/roots/" in k]
    assert entries and entries[0].endswith("roots/000000000001")
    assert not (tmp_path / "one" / "var" / "roots.log").exists(), "no local file"
    for config in (one, two):
        checked = verify(config)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert f"s3://{bucket}/evidence/test/roots/" in checked.stdout

    client = s3.client()
    last = entries[-1]
    head = client.head_object(Bucket=bucket, Key=last)
    with pytest.raises(ClientError, match="AccessDenied"):  # object lock: not before its date
        client.delete_object(Bucket=bucket, Key=last, VersionId=head["VersionId"])

    # a new version over an entry (what a bucket without lock would allow outright)
    changed = client.get_object(Bucket=bucket, Key=entries[1])["Body"].read()
    client.put_object(Bucket=bucket, Key=entries[1], Body=changed.replace(b'"n":', b'"n": '))
    for config in (one, two):
        broken = verify(config)
        assert broken.returncode == 1, broken.stdout + broken.stderr
        assert "log edited" in broken.stdout, broken.stdout
