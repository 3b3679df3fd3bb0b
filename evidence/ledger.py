"""The store's ledger: a hash chain, signed like a run's, for what belongs to no single run.

    cases            a customer's ticket; runs of many days may share it
    schedule_fires   one per schedule slot acted on
    schedule_items   one per input row of a fire
    prunes           what retention removed, when and why
    runs             which runs were created (kind `run_created`, data {"run_id"})
    users            accounts: roles, password hash, disabled, lock-out (`evidence.accounts`)
    api_tokens       personal tokens: owner, sha256, expiry, revocation, last use

Each write of one of those tables appends an event with the row as it is after the write
(`{"table", "key", "row"}`, row null when deleted; account changes add `"by"`, who made
them) in the same transaction (`evidence.sealing.Sealing.ledger_row`, `evidence.accounts`);
the ledger is sealed (signed, logged) at the end of every transaction in which it grew.
`check_ledger` replays it: every row of those tables must be exactly the last image the
ledger holds for its key, and every run the ledger saw created must still be in the store,
unless a prune removed it.

The chain rule is a run's (`evidence.hashing`) with run_id "@ledger" and no artifacts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from evidence.hashing import GENESIS, canonical_json, event_hash, event_payload

LEDGER = "@ledger"
# table -> its key columns: the tables whose rows are replayed from the ledger.
LEDGER_TABLES: dict[str, tuple[str, ...]] = {
    "cases": ("case_id",),
    "schedule_fires": ("fire_id",),
    "schedule_items": ("fire_id", "n"),
    "prunes": ("run_id",),
    "users": ("name",),
    "api_tokens": ("token_id",),
}


@dataclass
class LedgerCheck:
    """What `check_ledger` found: (where, what, detail) problems, and what the ledger says."""

    problems: list[tuple[str, str, str]] = field(default_factory=list)
    runs: set[str] = field(default_factory=set)  # every run the ledger saw created
    seals: dict[int, dict[str, Any]] = field(default_factory=dict)  # n -> ledger_seals row
    events: int = 0


def _plain(row: dict[str, Any]) -> Any:
    return json.loads(canonical_json(row))


def _key(table: str, row: dict[str, Any]) -> str:
    return canonical_json([row.get(c) for c in LEDGER_TABLES[table]])


def check_ledger(db: Database, check_signature: Any) -> LedgerCheck:
    """Replay the ledger and compare. `check_signature(record_json, run_id, n, root)` returns
    None or what is wrong with a seal's signature (the caller knows the trusted keys)."""
    found = LedgerCheck()
    problem = found.problems.append
    rows = list(db.query("SELECT * FROM ledger ORDER BY seq"))
    images: dict[str, dict[str, Any]] = {t: {} for t in LEDGER_TABLES}
    prev, hashes = GENESIS, [GENESIS]
    for expected, row in enumerate(rows, start=1):
        where = f"ledger event {expected}"
        if row["seq"] != expected:
            problem((where, "row removed", f"ledger event {row['seq']} follows {expected - 1}"))
            break
        try:
            data = json.loads(row["data"])
        except ValueError:
            problem((where, "row changed", "its stored JSON no longer parses"))
            break
        payload = event_payload(LEDGER, row["seq"], row["kind"], data, [], row["at"])
        if event_hash(row["prev_hash"], payload) != row["hash"]:
            problem((where, "row changed", f"{row['kind']} no longer matches its hash"))
            break
        if row["prev_hash"] != prev:
            problem((where, "row changed", "it does not extend the event before it"))
            break
        prev = row["hash"]
        hashes.append(prev)
        found.events += 1
        if row["kind"] == "run_created":
            found.runs.add(str(data.get("run_id")))
        elif isinstance(data, dict) and data.get("table") in images:
            table = data["table"]
            image = data.get("row")
            images[table][_key(table, {**data.get("key", {}), **(image or {})})] = image
    _check_seals(db, found, hashes, check_signature)
    for table in LEDGER_TABLES:
        _compare(table, db.query(f"SELECT * FROM {table}"), images[table], found)
    return found


def _check_seals(db: Database, found: LedgerCheck, hashes: list[str], check_signature: Any) -> None:
    seals = list(db.query("SELECT * FROM ledger_seals ORDER BY n"))
    covered = 0
    for expected, seal in enumerate(seals, start=1):
        where = f"ledger seal {seal['n']}"
        found.seals[seal["n"]] = seal
        if seal["n"] != expected:
            found.problems.append((where, "manifest removed", f"ledger seal {expected} is gone"))
            return
        count = seal["event_count"]
        if not isinstance(count, int) or not 0 < count < len(hashes):
            found.problems.append((where, "manifest edited", "it covers events that do not exist"))
            return
        if hashes[count] != seal["root_hash"]:
            found.problems.append((where, "manifest edited", "its root is not the ledger's head"))
            return
        why = check_signature(seal["signature"], LEDGER, seal["n"], seal["root_hash"])
        if why is not None:
            what = "not signed" if why == "it is not signed" else "signature invalid"
            found.problems.append((where, what, why))
            return
        covered = max(covered, count)
    if covered < len(hashes) - 1:
        found.problems.append(
            (
                f"ledger event {covered + 1}",
                "not sealed",
                f"the ledger has {len(hashes) - 1} events, its last seal covers {covered}",
            )
        )


def _compare(
    table: str, actual_rows: Iterable[dict[str, Any]], images: dict[str, Any], found: LedgerCheck
) -> None:
    seen = set()
    for row in actual_rows:
        key = _key(table, row)
        seen.add(key)
        where = f"{table} {key}"
        if key not in images or images[key] is None:
            found.problems.append((where, "row changed", "the ledger never recorded this row"))
        elif _plain(row) != images[key]:
            found.problems.append((where, "row changed", "it differs from the ledger's record"))
    for key, image in images.items():
        if image is not None and key not in seen:
            found.problems.append((f"{table} {key}", "row removed", "the ledger recorded it"))
