"""The store against its root log (`evidence.rootlog`): what was sealed must still be there.

- every line must parse, be canonical, chain to the line before it, and carry a valid
  signature by a trusted key ("log edited");
- every seal line must match the store's manifest (or ledger seal) of the same run and
  number: same root, count and time ("log mismatch"); one the store lacks is a removed
  manifest, or a removed run when the run is gone too and no prune explains it;
- every manifest, ledger seal and prune in the store must be in the log, or still waiting in
  the outbox for the append after its COMMIT ("log mismatch").
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from evidence.ledger import LEDGER
from evidence.rootlog import LogHome, log_message, next_entry, read_log

if TYPE_CHECKING:
    from evidence.verify import Break, Signatures

LOG = "@log"


def _event_count(manifest: Any) -> Any:
    """The manifest's `event_count`, None when it is not a JSON object (an edited manifest:
    the comparison with the log then reports it). Read here, not with SQLite's json_extract,
    so that the same check runs on PostgreSQL."""
    try:
        value = json.loads(manifest)
    except (TypeError, ValueError):
        return None
    count = value.get("event_count") if isinstance(value, dict) else None
    if isinstance(count, bool):
        return int(count)  # as json_extract reads true/false
    if isinstance(count, dict | list):
        return json.dumps(count, separators=(",", ":"))
    return count


def _stored(db: Database, ids: set[str] | None) -> dict[tuple[str, Any], dict[str, Any]]:
    """(run_id, n) -> {root_hash, event_count, at} of every manifest (of the runs `ids`, or
    all when None) and ledger seal."""
    found: dict[tuple[str, Any], dict[str, Any]] = {}
    sql = "SELECT run_id, n, root_hash, at, manifest FROM manifests"
    params: list[str] = []
    if ids is not None:
        sql += f" WHERE run_id IN ({', '.join('?' for _ in ids)})"
        params = sorted(ids)
    for row in db.query(sql, params):
        found[(row["run_id"], row["n"])] = {
            "root_hash": row["root_hash"],
            "event_count": _event_count(row["manifest"]),
            "at": row["at"],
        }
    ledger_seals = "SELECT n, root_hash, event_count, at FROM ledger_seals"
    for row in db.query(ledger_seals if ids is None else ledger_seals + " WHERE 1 = 0"):
        found[(LEDGER, row["n"])] = {
            "root_hash": row["root_hash"],
            "event_count": row["event_count"],
            "at": row["at"],
        }
    return found


def _outbox(db: Database, signatures: Signatures) -> tuple[set[tuple[Any, ...]], list[Break]]:
    """Lines waiting for the append after COMMIT (or appended, until the next transaction
    drops them): each must be signed like a log line, or it could excuse a missing one."""
    from evidence.verify import Break

    pending, breaks = set(), []
    for row in db.query("SELECT entry, line FROM root_log_outbox"):
        where = f"root log outbox entry {row['entry']}"
        try:
            body = json.loads(row["line"])
            why = signatures.why_not_message(body.get("signature"), log_message(body))
        except (TypeError, ValueError, AttributeError):
            why = "it does not parse"
        if why is None and body.get("entry") != row["entry"]:
            why = "its entry number is not the line's"
        if why is not None:
            breaks.append(Break(LOG, where, "log edited", why))
            continue
        pending.add((body.get("kind"), body.get("run_id"), body.get("n")))
    return pending, breaks


def check_log(
    db: Database, path: LogHome, signatures: Signatures, ids: set[str], *, whole: bool
) -> list[Break]:
    """Breaks between the store and the log at `path` (for runs in `ids`; all when `whole`)."""
    from evidence.verify import Break

    def wanted(run_id: str) -> bool:
        return whole or run_id in ids

    stored = _stored(db, None if whole else ids)
    pruned = {r["run_id"]: r for r in db.query("SELECT * FROM prunes")}
    runs = {r["run_id"] for r in db.query("SELECT run_id FROM runs")}
    pending, breaks = _outbox(db, signatures)
    if not whole:
        breaks = []
    upto = next_entry(db) - 1  # lines after this were written after the snapshot we read
    if not path.exists():
        missing = [k for k in stored if ("seal", *k) not in pending and wanted(k[0])]
        if missing:
            breaks.append(
                Break(LOG, "root log", "log mismatch", f"{path} is missing; the store has seals")
            )
        return breaks
    read = read_log(path, None if whole else ids)
    if whole:
        breaks += [Break(LOG, f"root log line {n}", "log edited", why) for n, why in read.problems]
    logged: set[tuple[Any, ...]] = set()
    for line in read.lines:
        body, where = line.body, f"root log line {line.number}"
        run_id, kind = str(body.get("run_id")), body.get("kind")
        why = signatures.why_not_message(body.get("signature"), log_message(body))
        if why is not None:
            if whole or wanted(run_id):
                breaks.append(Break(LOG, where, "log edited", why))
            continue
        logged.add((kind, run_id, body.get("n")))
        if not wanted(run_id) or not isinstance(body.get("entry"), int) or body["entry"] > upto:
            continue  # another run's; or sealed after our snapshot of the store
        if kind == "pruned":
            if run_id not in pruned or run_id in runs:
                breaks.append(Break(run_id, where, "log mismatch", "the store has no such prune"))
            continue
        if kind != "seal":
            breaks.append(Break(LOG, where, "log edited", f"unknown kind {kind!r}"))
            continue
        mine = stored.get((run_id, body.get("n")))
        if mine is None:
            if run_id in pruned:
                continue
            if run_id == LEDGER or run_id in runs:
                what, detail = "manifest removed", f"the log has its manifest {body.get('n')}"
            else:
                what, detail = "run removed", "the root log has its seals and no prune says why"
            breaks.append(Break(run_id, where, what, detail))
            continue
        for field in ("root_hash", "event_count", "at"):
            if mine[field] != body.get(field):
                breaks.append(
                    Break(run_id, f"manifest {body.get('n')}", "log mismatch", f"{field} differs")
                )
                break
    for run_id, n in stored:
        seal = ("seal", run_id, n)
        if wanted(run_id) and seal not in logged and seal not in pending:
            breaks.append(
                Break(run_id, f"manifest {n}", "log mismatch", "it is not in the root log")
            )
    for run_id in pruned:
        prune = ("pruned", run_id, None)
        if wanted(run_id) and prune not in logged and prune not in pending:
            breaks.append(Break(run_id, "prune", "log mismatch", "it is not in the root log"))
    return breaks
