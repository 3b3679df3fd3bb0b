"""A throwaway PostgreSQL server for tests: its own data directory, 127.0.0.1 on a free port.

Usage, as a fixture (skips, with the reason, only when PostgreSQL's binaries are absent)::

    from tests.servers.postgres import PostgresServer, postgres_fixture

    postgres = postgres_fixture(scope="session")      # in a conftest.py or a test module

    def test_store(postgres: PostgresServer) -> None:
        with psycopg.connect(postgres.url) as conn: ...
        postgres.restart()                              # e.g. a kill test: the data survives
        postgres.kill()                                 # SIGKILL the postmaster; restart() again

Or by hand: `server = PostgresServer.start()` … `server.stop()` (also `with PostgresServer.start()
as server:`). `url` is `postgresql://aijia@127.0.0.1:PORT/aijia` (trust authentication, only on
127.0.0.1 and the server's own socket directory inside its temp dir).

PostgreSQL refuses to run as root, so as root the server runs as `nobody` (setpriv), with the
temp dir chowned to it. The binaries are looked for in $AIJIA_PG_BIN, then
/usr/lib/postgresql/<newest>/bin, then PATH; `make test` installs Debian's when missing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

USER = "aijia"  # the database superuser the tests connect as
DATABASE = "aijia"
RUN_AS = "nobody"  # who runs the server when the tests run as root
DROP_ROOT = ("setpriv", "--reuid", RUN_AS, "--regid", "nogroup", "--clear-groups")


def find_pg_bin() -> Path | None:
    """The directory holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    candidates: list[Path] = []
    if os.environ.get("AIJIA_PG_BIN"):
        candidates.append(Path(os.environ["AIJIA_PG_BIN"]))
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(versions)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    """One PostgreSQL cluster in a temp dir; `start()` returns once it accepts connections."""

    def __init__(self, bin_dir: Path, root: Path, port: int) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data_dir = root / "data"
        self.socket_dir = root / "sock"
        self.log_file = root / "server.log"
        self.port = port
        self._as_root = hasattr(os, "geteuid") and os.geteuid() == 0

    @property
    def url(self) -> str:
        """`postgresql://aijia@127.0.0.1:PORT/aijia`, for psycopg and the store settings."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    @classmethod
    def start(cls) -> PostgresServer:
        """initdb a new cluster in a temp dir, start it, create the database; wait until it
        answers. RuntimeError (with the server log) when it does not start."""
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (no initdb/pg_ctl found)")
        server = cls(bin_dir, Path(tempfile.mkdtemp(prefix="aijia-pg-")), free_port())
        try:
            server._init()
            server._pg_ctl("start", "-w", "-t", "30", "-l", str(server.log_file))
            server._wait_ready()
            server._create_database()
        except BaseException:
            server.stop()
            raise
        return server

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def restart(self) -> None:
        """Stop (fast) and start again on the same port and data; returns once it answers.
        After `kill()` it starts the server again (crash recovery)."""
        if self.running():
            self._pg_ctl("stop", "-m", "fast", "-w", "-t", "30")
        self._pg_ctl("start", "-w", "-t", "30", "-l", str(self.log_file))
        self._wait_ready()

    def kill(self) -> None:
        """SIGKILL the postmaster (a crash, for tests of what a lost database does)."""
        pid = self._postmaster_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self._alive(pid):
                time.sleep(0.05)
        # children notice their postmaster died and exit; the stale pid file is handled by
        # pg_ctl start, which checks whether that pid still runs
        time.sleep(0.2)

    def stop(self) -> None:
        """Fast shutdown, then remove the temp dir. Idempotent."""
        if self.running():
            with contextlib.suppress(Exception):
                self._pg_ctl("stop", "-m", "fast", "-w", "-t", "30")
        shutil.rmtree(self.root, ignore_errors=True)

    def running(self) -> bool:
        pid = self._postmaster_pid()
        return pid is not None and self._alive(pid)

    def log(self) -> str:
        """The server log (for failure messages)."""
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    # ------------------------------------------------------------------ internals

    def _init(self) -> None:
        self.root.chmod(0o700)
        self.socket_dir.mkdir(mode=0o700)
        if self._as_root:
            entry = pwd.getpwnam(RUN_AS)
            for path in (self.root, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",  # a throwaway cluster: skip fsync on creation (much faster)
        )
        conf = (
            "\n# tests/servers/postgres.py\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {self.port}\n"
            f"unix_socket_directories = '{self.socket_dir}'\n"
            # fsync off only loses data when the machine crashes; synchronous_commit stays on,
            # so a committed row survives kill() (the store's kill tests rely on it)
            "fsync = off\nfull_page_writes = off\n"
            "max_connections = 50\nshared_buffers = 32MB\n"
        )
        with (self.data_dir / "postgresql.conf").open("a") as fh:
            fh.write(conf)

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(self._admin_url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def _admin_url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def _wait_ready(self, timeout_s: float = 30) -> None:
        import psycopg

        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self._admin_url(), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                last = exc
                time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not answer on port {self.port}: {last}\n{self.log()}")

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), *args)

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]
        if self._as_root:
            command = [*DROP_ROOT, *command]
        out = subprocess.run(
            command, capture_output=True, text=True, timeout=60, check=False, cwd=self.root
        )
        if out.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args[:2])} failed ({out.returncode}): "
                f"{out.stderr.strip() or out.stdout.strip()}\n{self.log()}"
            )

    def _postmaster_pid(self) -> int | None:
        try:
            first = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
            return int(first)
        except (OSError, ValueError, IndexError):
            return None

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # a zombie is not running; the server's children are not ours, so this is rare
        return True


def postgres_fixture(scope: Any = "session") -> Callable[[], Iterator[PostgresServer]]:
    """A pytest fixture (named by the variable it is assigned to) giving a started server,
    stopped after its scope; skips with a reason when PostgreSQL is not installed."""

    @pytest.fixture(scope=scope)
    def _postgres() -> Iterator[PostgresServer]:
        if find_pg_bin() is None:
            pytest.skip(
                "PostgreSQL is not installed (no initdb/pg_ctl in $AIJIA_PG_BIN, "
                "/usr/lib/postgresql/*/bin or PATH): `make test` installs it"
            )
        server = PostgresServer.start()
        try:
            yield server
        finally:
            server.stop()

    return _postgres
