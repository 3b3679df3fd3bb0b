"""A throwaway S3 API server for tests: moto's server mode on 127.0.0.1, a free port.

Usage, as a fixture (skips, with the reason, only when `moto_server` is not installed)::

    from tests.servers.s3 import S3Server, s3_fixture

    s3 = s3_fixture(scope="session")                # in a conftest.py or a test module

    def test_blobs(s3: S3Server) -> None:
        bucket = s3.new_bucket()                     # a fresh, empty bucket per call
        locked = s3.new_bucket(object_lock=True)     # created with Object Lock enabled
        s3.client().list_objects_v2(Bucket=bucket)

Or by hand: `server = S3Server.start()` … `server.stop()`. `endpoint` is `http://127.0.0.1:PORT`;
moto takes any credentials (`ACCESS_KEY` / `SECRET_KEY` below) and keeps everything in memory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ACCESS_KEY = "aijia-test"
SECRET_KEY = "aijia-test-secret"
REGION = "us-east-1"


def find_moto_server() -> str | None:
    """`moto_server` next to this Python (a venv's bin/), else on PATH."""
    return shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which(
        "moto_server"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class S3Server:
    """One `moto_server` process; `start()` returns once it answers HTTP."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log_file = log
        self.endpoint = f"http://127.0.0.1:{port}"

    @classmethod
    def start(cls, timeout_s: float = 30) -> S3Server:
        exe = find_moto_server()
        if exe is None:
            raise RuntimeError("moto_server is not installed (pip install 'moto[server]')")
        port = free_port()
        log = Path(tempfile.mkstemp(prefix="aijia-moto-", suffix=".log")[1])
        with log.open("wb") as out:
            process = subprocess.Popen(
                [exe, "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"},
            )
        server = cls(process, port, log)
        try:
            server._wait_ready(timeout_s)
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited ({self.process.returncode}):\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # it answered, whatever it said
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"moto_server did not answer within {timeout_s}s:\n{self.log()}")

    def stop(self) -> None:
        """Terminate (then kill) the server and drop its log. Idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        with contextlib.suppress(OSError):
            self.log_file.unlink()

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def client(self) -> Any:
        """A boto3 S3 client on this server (boto3 imported here, when a test asks)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def new_bucket(self, *, object_lock: bool = False) -> str:
        """Create a fresh bucket with a unique name; with Object Lock enabled when asked."""
        name = f"aijia-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=object_lock)
        return name

    def keys(self, bucket: str) -> list[str]:
        """Every key in `bucket` (current versions)."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def s3_fixture(scope: Any = "session") -> Callable[..., Iterator[S3Server]]:
    """A pytest fixture named where it is assigned: one moto server for `scope`."""

    @pytest.fixture(scope=scope)
    def s3() -> Iterator[S3Server]:
        if find_moto_server() is None:
            pytest.skip("moto_server is not installed: pip install -e '.[dev]' (moto[server])")
        server = S3Server.start()
        yield server
        server.stop()

    return s3
