"""Fixtures for evidence blobs in S3: one moto S3 server for the session (tests/servers/s3.py),
a fresh bucket per test, and a config.yaml whose store keeps its blobs there.

Credentials go through secret references, as a deployment's would: `{$env: AIJIA_TEST_S3_KEY}`.
The recipe fixtures (`product`, the sandbox) come from tests/recipes/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.core.settings import BlobSettings
from tests.recipes.conftest import product  # noqa: F401  (a fixture, used by name)
from tests.servers.s3 import ACCESS_KEY, REGION, SECRET_KEY, S3Server, s3_fixture

s3 = s3_fixture(scope="session")


@pytest.fixture(autouse=True)
def _s3_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIJIA_TEST_S3_KEY", ACCESS_KEY)
    monkeypatch.setenv("AIJIA_TEST_S3_SECRET", SECRET_KEY)


def blob_settings(s3: S3Server, bucket: str, **extra: Any) -> dict[str, Any]:
    """`evidence.blobs` for `bucket` on the test server, as config.yaml would give it."""
    return {
        "kind": "s3",
        "bucket": bucket,
        "prefix": "evidence/test",
        "endpoint_url": s3.endpoint,
        "region": REGION,
        "access_key_id": {"$env": "AIJIA_TEST_S3_KEY"},
        "secret_access_key": {"$env": "AIJIA_TEST_S3_SECRET"},
        **extra,
    }


@pytest.fixture
def bucket(s3: S3Server) -> str:
    return s3.new_bucket()


@pytest.fixture
def write_config(tmp_path: Path, s3: S3Server) -> Callable[..., Path]:
    """`write_config(bucket, **blob_options)` -> a config.yaml (data_dir next to it) whose
    evidence blobs live in `bucket`; validated as the CLI will read it."""
    import yaml

    def write(bucket: str, name: str = "config.yaml", **extra: Any) -> Path:
        blobs = blob_settings(s3, bucket, **extra)
        BlobSettings.model_validate(blobs)
        path = tmp_path / name
        path.write_text(yaml.safe_dump({"data_dir": "var", "evidence": {"blobs": blobs}}))
        return path

    return write
