"""The evidence store on both engines: `store_url` is None (SQLite in the store directory)
or the URL of a new, empty PostgreSQL database on the session's throwaway server
(tests/servers/postgres.py; the PostgreSQL tests skip, saying why, only when its binaries are
absent). `store` overrides tests/evidence' fixture of that name, so the tests imported from
there run on both engines unchanged."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.core.settings import EvidenceSettings
from evidence.store import EvidenceStore
from tests.recipes.conftest import product  # noqa: F401 - the fixture, for test_recipe_run
from tests.servers.postgres import PostgresServer, postgres_fixture

postgres = postgres_fixture(scope="session")
_numbers = itertools.count(1)


def new_database(server: PostgresServer) -> str:
    """A fresh database on `server`; its URL."""
    import psycopg

    name = f"store{next(_numbers)}"
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None
    return new_database(request.getfixturevalue("postgres"))


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """A fresh PostgreSQL database, for the tests that are about PostgreSQL only."""
    return new_database(postgres)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "evidence"


@pytest.fixture
def open_store(store_dir: Path, store_url: str | None) -> Callable[[], EvidenceStore]:
    """Another connection to the same store (as another process would open it)."""
    return lambda: EvidenceStore(store_dir, EvidenceSettings(database=store_url))


@pytest.fixture
def store(open_store: Callable[[], EvidenceStore]) -> Iterator[EvidenceStore]:
    with open_store() as opened:
        yield opened
