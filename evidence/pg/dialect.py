"""The store's SQL, written for SQLite, as PostgreSQL reads it.

The store keeps one set of queries. Most are already portable; the few SQLite-only forms it
uses are rewritten here, one rule each, rather than kept twice:

    ?                           -> %s  (and a literal % -> %%, psycopg's escape)
    INSERT OR IGNORE INTO …     -> INSERT INTO … ON CONFLICT DO NOTHING
    json_extract(col, '$.key')  -> (col::jsonb ->> 'key')
    IN ()                       -> IN (SELECT NULL WHERE FALSE)  (an empty list; NOT IN stays true)

Anything else SQLite-only is a bug in the query: write it portably instead.
"""

from __future__ import annotations

import re

_JSON_EXTRACT = re.compile(r"json_extract\((\w+),\s*'\$\.(\w+)'\)")
_EMPTY_IN = re.compile(r"\bIN \(\s*\)", re.IGNORECASE)
_INSERT_OR_IGNORE = re.compile(r"^\s*INSERT OR IGNORE INTO\b", re.IGNORECASE)


def placeholders(sql: str) -> str:
    """`?` outside string literals -> `%s`; every `%` -> `%%` (psycopg reads % everywhere)."""
    out: list[str] = []
    quoted = False
    for char in sql:
        if char == "'":
            quoted = not quoted  # '' inside a literal toggles twice: still right
        if char == "%":
            out.append("%%")
        elif char == "?" and not quoted:
            out.append("%s")
        else:
            out.append(char)
    return "".join(out)


def translate(sql: str) -> str:
    """The PostgreSQL form of one of the store's statements (always run with parameters)."""
    sql = _EMPTY_IN.sub("IN (SELECT NULL WHERE FALSE)", sql)
    sql = _JSON_EXTRACT.sub(r"(\1::jsonb ->> '\2')", sql)
    if _INSERT_OR_IGNORE.match(sql):
        sql = _INSERT_OR_IGNORE.sub("INSERT INTO", sql) + " ON CONFLICT DO NOTHING"
    return placeholders(sql)
