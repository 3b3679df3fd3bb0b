"""The few SQLite-only forms of the store's SQL, as PostgreSQL reads them; and the setting
that chooses PostgreSQL (no server needed for these)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent.core.settings import EvidenceSettings
from evidence.pg import safe_url
from evidence.pg.dialect import translate


@pytest.mark.parametrize(
    ("sqlite", "postgres"),
    [
        ("SELECT * FROM runs WHERE run_id = ?", "SELECT * FROM runs WHERE run_id = %s"),
        (  # a literal % is psycopg's escape %%; a ? inside a literal stays
            "SELECT 1 FROM t WHERE a NOT LIKE 'manual:%' AND b = '?' AND c = ?",
            "SELECT 1 FROM t WHERE a NOT LIKE 'manual:%%' AND b = '?' AND c = %s",
        ),
        (
            "INSERT OR IGNORE INTO cases (case_id) VALUES (?)",
            "INSERT INTO cases (case_id) VALUES (%s) ON CONFLICT DO NOTHING",
        ),
        (
            "SELECT 1 FROM ledger WHERE json_extract(data, '$.run_id') = ?",
            "SELECT 1 FROM ledger WHERE (data::jsonb ->> 'run_id') = %s",
        ),
        (
            "SELECT * FROM artifacts WHERE sha256 IN ()",
            "SELECT * FROM artifacts WHERE sha256 IN (SELECT NULL WHERE FALSE)",
        ),
    ],
)
def test_translate(sqlite: str, postgres: str) -> None:
    assert translate(sqlite) == postgres


def test_the_database_setting_takes_only_a_postgresql_url() -> None:
    url = "postgresql://aijia@db.internal:5432/evidence"
    assert EvidenceSettings(database=url).database == url
    with pytest.raises(ValidationError, match="not a PostgreSQL URL"):
        EvidenceSettings(database="/var/lib/aijia/evidence.db")


def test_messages_never_show_the_password() -> None:
    assert safe_url("postgresql://u:s3cret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert safe_url("postgresql://u@h/db") == "postgresql://u@h/db"
