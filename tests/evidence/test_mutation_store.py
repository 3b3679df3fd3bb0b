"""Thousands of random single changes to a copy of a realistic store: `verify` catches each.

The store is built once per module through the store API (no browser): a finished run with
screenshots, DOM and an approved gate; a run approved by two people; a rejected gate; a
paused run; an in_doubt run; cases (one closed); a schedule fire with items; a pruned run;
accounts (an admin, a reviewer with a failed sign-in) and their tokens (one revoked);
approvals that record how their approver was proven.
Each mutation is applied to a fresh copy of the database and the root log (artifact files
are restored after the ones that change them), then the real `evidence.verify.verify` runs
on the copy in this process. MUTATIONS sets how many (AIJIA_MUTATIONS overrides it).

What is not mutated, and why it cannot mislead anyone:

    scheduler_lock, commit_leases   leases: they decide who may act next (a daemon, a
                                    committer), never what happened; a forged one at worst
                                    delays work until it expires, visibly
    root_timestamps                 TSA tokens are extra proof checked on their own
                                    (`evidence.timestamp`); a changed token fails that check
                                    and makes no forged root pass (this store has none)
    sqlite_sequence                 SQLite's counter for the next outbox entry number
    artifacts.created_at            only tells retention not to remove a just-written file
    deleting a root_log_outbox row  a line already appended to the log file (the outbox
                                    keeps it until the next transaction drops it)
    deleting a log line still in    the next open of the store appends it again, the same
    the outbox                      bytes: nothing is lost
    a running run                   none here: a running run's tail after its last seal is
                                    unsealed by design (only progress events, no decision)
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlite_utils import Database

from agent.core.states import RunState
from evidence.files import ObjectFiles
from evidence.schedules import ScheduleLedger
from evidence.signing import Signer, root_message
from evidence.store import EvidenceStore
from evidence.verify import VerifyReport, verify
from tests.evidence import tampering
from tests.evidence.conftest import full_run, make_png, new_run

MUTATIONS = int(os.environ.get("AIJIA_MUTATIONS", "2000"))
SEED = 2611
SKIPPED_TABLES = {"scheduler_lock", "commit_leases", "root_timestamps", "sqlite_sequence"}
SKIPPED_COLUMNS = {("artifacts", "created_at")}


@dataclass(frozen=True)
class Pristine:
    root: Path  # evidence dir (evidence.db checkpointed, objects/)
    log: Path
    trusted: set[str]
    runs: list[str]
    amount_run: str  # a sealed run with a gate over amount 12.50


def _gated(store: EvidenceStore, *, case: str | None, amount: str, approvals: int = 1) -> Any:
    run = new_run(store, case_id=case, inputs={"order_id": "2611ABCDEFGHIJ", "amount": amount})
    store.transition(run.run_id, RunState.PENDING, RunState.RUNNING)
    shot = store.put_screenshot(make_png(text=f"order {amount}"))
    store.append_event(run.run_id, "page_captured", {"url": "http://x/o"}, shot)
    gate = store.record_gate(
        run.run_id,
        action="refund",
        summary=f"Refund {amount} EUR",
        binds={"order_id": "2611", "amount": amount},
        required_approvals=approvals,
    )
    store.transition(run.run_id, RunState.RUNNING, RunState.PAUSED, reason="gate refund")
    return run, gate


def _accounts(store: EvidenceStore) -> None:
    """Accounts and tokens through the store API (hashes need not be real argon2 here:
    verify compares rows with the ledger, it never checks a password)."""
    store.add_user("ada", roles=["admin"], password_hash="$argon2id$ada", created_by="bootstrap")
    store.add_user("sam", roles=["reviewer"], password_hash="$argon2id$sam", created_by="ada")
    store.update_user("sam", "login_failed", by=None, failed_logins=1)
    for label in ("cli", "laptop"):
        token = store.add_token(
            "sam", token_sha256=label * 8, label=label, expires_at="2030-01-01T00:00:00Z", by="sam"
        )
    store.touch_token(token.token_id, "2026-11-26T06:00:00.000000Z")
    assert store.revoke_token(token.token_id, by="ada")


def build(root: Path) -> tuple[list[str], str]:
    with EvidenceStore(root) as store:
        gone = new_run(store)  # pruned at once: only the prune log and the ledger remain
        store.transition(gone.run_id, RunState.PENDING, RunState.FAILED)
        assert store.prune(timedelta(0), reason="test retention").pruned == [gone.run_id]

        done = full_run(store, case_id="TICKET-1")
        _accounts(store)
        two, gate = _gated(store, case="TICKET-2", amount="250.00", approvals=2)
        for who, proof in (("sam", "token t-1"), ("kim", None)):
            store.record_approval(
                gate.gate_id,
                approver=who,
                decision="approved",
                bind_hash=gate.bind_hash,
                proof=proof,
            )
        with store.transaction() as tx:
            tx.gate_transition(gate.gate_id, "pending", "approved")
            tx.transition(two.run_id, RunState.PAUSED, RunState.APPROVED)
        store.transition(two.run_id, RunState.APPROVED, RunState.COMMITTING)
        store.transition(two.run_id, RunState.COMMITTING, RunState.DONE)
        with store.transaction() as tx:
            tx.gate_transition(gate.gate_id, "approved", "used")
            tx.finish_run(two.run_id, outputs={"refund_id": "R-2"})

        rejected, gate = _gated(store, case="TICKET-3", amount="40.00")
        with store.transaction() as tx:
            tx.record_approval(
                gate.gate_id,
                approver="kim",
                decision="rejected",
                bind_hash=gate.bind_hash,
                note="not eligible",
            )
            tx.gate_transition(gate.gate_id, "pending", "rejected")
            tx.transition(rejected.run_id, RunState.PAUSED, RunState.REJECTED, reason="kim")
        store.close_case("TICKET-3")

        paused, _ = _gated(store, case=None, amount="12.50")
        doubt, gate = _gated(store, case="TICKET-4", amount="7.00")
        store.record_approval(
            gate.gate_id, approver="sam", decision="approved", bind_hash=gate.bind_hash
        )
        store.gate_transition(gate.gate_id, "pending", "approved")
        for a, b in (
            ("paused", "approved"),
            ("approved", "committing"),
            ("committing", "in_doubt"),
        ):
            store.transition(doubt.run_id, RunState(a), RunState(b))

        ledger = ScheduleLedger(store)
        fire = ledger.claim("hourly_returns", "2026-11-26T06:00:00Z", owner="1@test")
        assert fire is not None
        ledger.add_items(fire.fire_id, [{"order_id": "A1"}, {"order_id": "A2"}])
        ledger.set_item(fire.fire_id, 1, "done", run_id=done.run_id)
        ledger.set_item(fire.fire_id, 2, "skipped", reason="fresh evidence")
        ledger.finish_fire(fire.fire_id, "done")
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        runs = [done.run_id, two.run_id, rejected.run_id, paused.run_id, doubt.run_id]
        return runs, paused.run_id


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Pristine:
    root = tmp_path_factory.mktemp("pristine") / "evidence"
    runs, amount_run = build(root)
    with EvidenceStore(root) as store:
        trusted = store.trusted_keys
        report = store.verify()
        assert report.ok and not report.unsealed, report.breaks
    return Pristine(root, tampering.log_of(root), trusted, runs, amount_run)


@pytest.fixture(scope="module")
def workdir(pristine: Pristine, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("mutant") / "evidence"
    shutil.copytree(pristine.root, work)
    return work


def check(pristine: Pristine, work: Path) -> VerifyReport:
    conn = sqlite3.connect(work / "evidence.db")
    try:
        return verify(
            Database(conn),
            ObjectFiles(work),
            trusted=pristine.trusted,
            root_log=tampering.log_of(work),
        )
    finally:
        conn.close()


# --------------------------------------------------------------------------- mutations


class NotApplicable(Exception):
    """This mutation cannot be made on this pick (a constraint, nothing to pick): draw again."""


def tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return sorted(r[0] for r in rows if r[0] not in SKIPPED_TABLES)


def columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, bool]]:
    """(name, primary key?) of the table's columns."""
    return [(r[1], bool(r[5])) for r in conn.execute(f"PRAGMA table_info({table})")]


def pick_row(conn: sqlite3.Connection, table: str, rng: random.Random) -> int:
    rowids = [r[0] for r in conn.execute(f"SELECT rowid FROM {table}")]
    if not rowids:
        raise NotApplicable(f"{table} is empty")
    return rng.choice(rowids)


def different(value: Any, rng: random.Random) -> Any:
    if value is None:
        return rng.choice(["x", 1])
    if isinstance(value, int):
        return value + rng.choice([1, -1, 1000])
    if isinstance(value, bytes):
        return value + b"x"
    if not value:
        return "x"
    i = rng.randrange(len(value))
    return value[:i] + chr(ord(value[i]) ^ rng.choice([1, 2, 4])) + value[i + 1 :]


def change_value(conn: sqlite3.Connection, rng: random.Random, *, null: bool) -> str:
    table = rng.choice(tables(conn))
    name, _ = rng.choice(columns(conn, table))
    if (table, name) in SKIPPED_COLUMNS:
        raise NotApplicable("skipped column")
    rowid = pick_row(conn, table, rng)
    (old,) = conn.execute(f"SELECT {name} FROM {table} WHERE rowid = ?", [rowid]).fetchone()
    value = None if null else different(old, rng)
    if value == old:
        raise NotApplicable("same value")
    conn.execute(f"UPDATE {table} SET {name} = ? WHERE rowid = ?", [value, rowid])
    return f"{'null' if null else 'change'} {table}.{name} of row {rowid}"


def delete_row(conn: sqlite3.Connection, rng: random.Random) -> str:
    table = rng.choice(tables(conn))
    if table == "root_log_outbox":
        raise NotApplicable("an outbox line is already in the log")
    rowid = pick_row(conn, table, rng)
    conn.execute(f"DELETE FROM {table} WHERE rowid = ?", [rowid])
    return f"delete {table} row {rowid}"


def insert_row(conn: sqlite3.Connection, rng: random.Random) -> str:
    """A forged row: a copy of a real one under a new key."""
    table = rng.choice(tables(conn))
    rowid = pick_row(conn, table, rng)
    cols = columns(conn, table)
    row = dict(
        zip(
            [c for c, _ in cols],
            conn.execute(f"SELECT * FROM {table} WHERE rowid = ?", [rowid]).fetchone(),
            strict=True,
        )
    )
    keys = [c for c, pk in cols if pk] or [cols[0][0]]
    key = rng.choice(keys)
    if isinstance(row[key], int):
        row[key] = conn.execute(f"SELECT MAX({key}) FROM {table}").fetchone()[0] + 1
    else:
        row[key] = f"{row[key]}-forged"
    marks = ", ".join("?" * len(row))
    conn.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks})", list(row.values()))
    return f"insert into {table} a copy of row {rowid} as {key}={row[key]}"


def swap_events(conn: sqlite3.Connection, rng: random.Random, p: Pristine) -> str:
    run_id = rng.choice(p.runs)
    count = conn.execute("SELECT COUNT(*) FROM events WHERE run_id = ?", [run_id]).fetchone()[0]
    a, b = rng.sample(range(1, count + 1), 2)
    conn.execute("UPDATE events SET seq = -1 WHERE run_id = ? AND seq = ?", [run_id, a])
    conn.execute("UPDATE events SET seq = ? WHERE run_id = ? AND seq = ?", [a, run_id, b])
    conn.execute("UPDATE events SET seq = ? WHERE run_id = ? AND seq = -1", [b, run_id])
    return f"swap events {a} and {b} of {run_id}"


def delete_manifest(conn: sqlite3.Connection, rng: random.Random) -> str:
    rowid = pick_row(conn, "manifests", rng)
    conn.execute("DELETE FROM manifests WHERE rowid = ?", [rowid])
    return f"delete manifest row {rowid}"


def delete_run(conn: sqlite3.Connection, rng: random.Random, p: Pristine) -> str:
    run_id = rng.choice(p.runs)
    for table in ("approvals", "gates", "event_artifacts", "events", "manifests", "runs"):
        conn.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
    return f"delete run {run_id} whole"


def edit_log(work: Path, rng: random.Random) -> str:
    log = tampering.log_of(work)
    data = bytearray(log.read_bytes())
    if rng.random() < 0.5:
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
        log.write_bytes(bytes(data))
        return f"flip byte {i} of the root log"
    lines = data.decode().splitlines(keepends=True)
    conn = sqlite3.connect(work / "evidence.db")
    (waiting,) = conn.execute("SELECT MIN(entry) FROM root_log_outbox").fetchone()
    conn.close()
    # Lines still in the outbox are appended again by the next open: not a loss to detect.
    removable = [i for i, line in enumerate(lines) if json.loads(line)["entry"] < (waiting or 1e9)]
    i = rng.choice(removable)
    del lines[i]
    log.write_text("".join(lines))
    return f"delete root log line {i + 1}"


def other_signer() -> Signer:
    return Signer(Path("/nonexistent/attacker.key"), Ed25519PrivateKey.generate())


def resign_manifest(conn: sqlite3.Connection, rng: random.Random) -> str:
    rowid = pick_row(conn, "manifests", rng)
    run_id, n, root = conn.execute(
        "SELECT run_id, n, root_hash FROM manifests WHERE rowid = ?", [rowid]
    ).fetchone()
    signature = json.dumps(other_signer().sign(root_message(run_id, n, root)))
    conn.execute("UPDATE manifests SET signature = ? WHERE rowid = ?", [signature, rowid])
    return f"re-sign manifest {n} of {run_id} with an untrusted key"


def flip_file(work: Path, rng: random.Random, restore: list[Callable[[], None]]) -> str:
    files = sorted((work / "objects").rglob("*"))
    path = rng.choice([f for f in files if f.is_file()])
    original = path.read_bytes()

    def put_back() -> None:
        if path.exists():
            os.chmod(path, 0o600)
        path.write_bytes(original)

    restore.append(put_back)
    if rng.random() < 0.2:
        path.unlink()
        return f"delete file {path.name[:12]}"
    tampering.flip_byte(path, rng.randrange(len(original)))
    return f"flip a byte of file {path.name[:12]}"


KINDS = (
    "change",
    "null",
    "delete_row",
    "insert_row",
    "swap_events",
    "delete_manifest",
    "delete_run",
    "edit_log",
    "rewrite_without_key",
    "rewrite_with_other_key",
    "resign_untrusted",
    "file",
)


def mutate(p: Pristine, work: Path, rng: random.Random, restore: list[Callable[[], None]]) -> str:
    kind = rng.choice(KINDS)
    if kind == "file":
        return flip_file(work, rng, restore)
    if kind == "edit_log":
        return edit_log(work, rng)
    if kind.startswith("rewrite"):
        signer = other_signer() if kind == "rewrite_with_other_key" else None
        tampering.rewrite_run(
            work, p.amount_run, "12.50", "99.50", signer=signer, log=tampering.log_of(work)
        )
        return f"{kind} of {p.amount_run}: 12.50 -> 99.50"
    conn = tampering.connect(work)
    for trigger in (
        "approvals_no_update",
        "ledger_no_update",
        "ledger_no_delete",
        "ledger_seals_no_update",
        "ledger_seals_no_delete",
    ):
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    try:
        if kind in ("change", "null"):
            return change_value(conn, rng, null=kind == "null")
        if kind == "delete_row":
            return delete_row(conn, rng)
        if kind == "insert_row":
            return insert_row(conn, rng)
        if kind == "swap_events":
            return swap_events(conn, rng, p)
        if kind == "delete_manifest":
            return delete_manifest(conn, rng)
        if kind == "delete_run":
            return delete_run(conn, rng, p)
        return resign_manifest(conn, rng)
    except sqlite3.IntegrityError as exc:
        raise NotApplicable(str(exc)) from exc
    finally:
        conn.close()


@pytest.fixture
def fresh(pristine: Pristine, workdir: Path) -> Iterator[Callable[[], None]]:
    def reset() -> None:
        shutil.copyfile(pristine.root / "evidence.db", workdir / "evidence.db")
        shutil.copyfile(pristine.log, tampering.log_of(workdir))

    yield reset


def test_untouched_copy_verifies(pristine: Pristine, workdir: Path, fresh: Any) -> None:
    fresh()
    report = check(pristine, workdir)
    assert report.ok, report.breaks
    assert report.unsealed == [] and report.runs_checked == len(pristine.runs)


def test_every_single_mutation_is_detected(pristine: Pristine, workdir: Path, fresh: Any) -> None:
    rng = random.Random(SEED)
    missed, seen = [], set()
    done = 0
    while done < MUTATIONS:
        fresh()
        restore: list[Callable[[], None]] = []
        try:
            what = mutate(pristine, workdir, rng, restore)
        except NotApplicable:
            continue
        try:
            report = check(pristine, workdir)
        finally:
            for undo in restore:
                undo()
        done += 1
        seen.add(what.split(" ")[0])
        if report.ok:
            missed.append(what)
    assert not missed, f"{len(missed)} of {done} mutations not detected: {missed[:20]}"
    assert {"change", "null", "delete", "insert", "swap", "flip"} <= seen
