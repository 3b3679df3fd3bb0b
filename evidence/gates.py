"""Cases, gates and approvals: the rows the runner and the gate logic record.

A case is the customer's ticket (`TICKET-123`: channel and ask); runs may belong to one. A gate
is a paused, bound action waiting for people; an approval is one person's signed decision on
the gate's bind hash. Deciding *whether* an approval is valid (roles, expiry, two approvers)
is the gate logic's job; the store records faithfully: gates and approvals in the run's
chain (every column of their rows is in a `gate_opened`, `gate_state_changed`, `approved` or
`rejected` event, which `verify` compares), cases in the store's ledger (`evidence.ledger`).

`CaseAndGateWrites` are the writes, as methods of `evidence.transaction.Transaction` so that
the gate logic composes them into one transaction (approval + gate + run, or nothing);
`CasesAndGates` is the store's side: one transaction per write, and the reads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.core.errors import EvidenceError
from evidence.hashing import canonical_json, sha256_hex
from evidence.ids import new_id, utc_now
from evidence.jsonvalue import dumps, loads

if TYPE_CHECKING:
    import sqlite3

    from sqlite_utils import Database
    from sqlite_utils.db import Table

    from evidence.api import ArtifactRef, EventRecord
    from evidence.redaction import Redactor
    from evidence.transaction import Transaction

GATE_STATES = ("pending", "approved", "rejected", "expired", "used")
_GATE_MOVES = {
    "pending": {"approved", "rejected", "expired"},
    "approved": {"used", "expired", "pending"},  # pending again: drift found on resume
    "rejected": set(),
    "expired": set(),
    "used": set(),
}


@dataclass(frozen=True)
class CaseRecord:
    case_id: str
    channel: str
    ask: str
    customer: str | None
    status: str  # open | closed
    created_at: str
    closed_at: str | None


@dataclass(frozen=True)
class GateRecord:
    gate_id: str
    run_id: str
    action: str
    summary: str
    binds: Mapping[str, Any]
    bind_hash: str
    state: str
    required_approvals: int
    created_at: str
    expires_at: str | None


@dataclass(frozen=True)
class ApprovalRecord:
    approval_id: str
    gate_id: str
    run_id: str
    approver: str
    decision: str  # approved | rejected
    bind_hash: str
    note: str
    at: str
    proof: str | None = None  # how the approver's identity was proven (None: older stores)


def compute_bind_hash(
    *, run_id: str, recipe: str, recipe_version: str, site: str, action: str, binds: Any
) -> str:
    """sha256 of the canonical JSON of what an approval signs."""
    return sha256_hex(
        canonical_json(
            {
                "run_id": run_id,
                "recipe": recipe,
                "recipe_version": recipe_version,
                "site": site,
                "action": action,
                "binds": binds,
            }
        )
    )


def gate_record(row: Mapping[str, Any]) -> GateRecord:
    return GateRecord(**{**row, "binds": loads(row["binds"])})


def _check_gate_move(gate_id: str, expected: str, target: str) -> None:
    if target not in _GATE_MOVES.get(expected, set()):
        raise EvidenceError(
            f"gate {gate_id}: cannot go from {expected} to {target}",
            hint=f"from {expected} a gate may go to: "
            + (", ".join(sorted(_GATE_MOVES.get(expected, set()))) or "nothing"),
        )


class CaseAndGateWrites:
    """Mixed into `evidence.transaction.Transaction`: each method writes inside its transaction."""

    if TYPE_CHECKING:
        root: Path
        redactor: Redactor

        def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor: ...
        def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None: ...
        def table(self, name: str) -> Table: ...
        def clean(self, value: Any, what: str) -> Any: ...
        def append_event(
            self,
            run_id: str,
            kind: str,
            data: Mapping[str, Any],
            artifacts: Sequence[ArtifactRef] = (),
            *,
            at: str | None = None,
        ) -> EventRecord: ...
        def ledger_row(self, kind: str, table: str, key: Mapping[str, Any]) -> None: ...

    # ------------------------------------------------------------------ cases

    def case(self, case_id: str) -> CaseRecord:
        row = self.one("SELECT * FROM cases WHERE case_id = ?", [case_id])
        if row is None:
            raise EvidenceError(f"no case {case_id!r} in the evidence store {self.root}")
        return CaseRecord(**row)

    def ensure_case(self, case_id: str, now: str | None = None) -> CaseRecord:
        """The case, created open (no channel or ask yet) when it does not exist."""
        cursor = self.execute(
            "INSERT OR IGNORE INTO cases (case_id, channel, ask, customer, status, created_at) "
            "VALUES (?, '', '', NULL, 'open', ?)",
            [case_id, now or utc_now()],
        )
        if cursor.rowcount:
            self.ledger_row("case_opened", "cases", {"case_id": case_id})
        return self.case(case_id)

    def open_case(
        self, case_id: str, *, channel: str, ask: str = "", customer: str | None = None
    ) -> CaseRecord:
        """Create the case, or fill in channel/ask/customer when it exists without them."""
        ask = self.redactor.mask_text(ask)
        case = self.ensure_case(case_id)
        filled = (case.channel or channel, case.ask or ask, case.customer or customer)
        if filled != (case.channel, case.ask, case.customer):
            self.execute(
                "UPDATE cases SET channel = ?, ask = ?, customer = ? WHERE case_id = ?",
                [*filled, case_id],
            )
            self.ledger_row("case_updated", "cases", {"case_id": case_id})
        return self.case(case_id)

    def close_case(self, case_id: str) -> CaseRecord:
        cursor = self.execute(
            "UPDATE cases SET status = 'closed', closed_at = ? WHERE case_id = ? "
            "AND status = 'open'",
            [utc_now(), case_id],
        )
        if cursor.rowcount:
            self.ledger_row("case_closed", "cases", {"case_id": case_id})
        return self.case(case_id)

    # ------------------------------------------------------------------ gates

    def gate(self, gate_id: str) -> GateRecord:
        """The gate as it is now, or EvidenceError when there is no such gate."""
        row = self.one("SELECT * FROM gates WHERE gate_id = ?", [gate_id])
        if row is None:
            raise EvidenceError(f"no gate {gate_id!r} in the evidence store {self.root}")
        return gate_record(row)

    def record_gate(
        self,
        run_id: str,
        *,
        action: str,
        summary: str,
        binds: Mapping[str, Any],
        bind_hash: str | None = None,
        required_approvals: int = 1,
        expires_at: str | None = None,
    ) -> GateRecord:
        """Record a gate (state `pending`) and its `gate_opened` event.

        `bind_hash` defaults to `compute_bind_hash` over the run's recipe, version, site,
        the action and the binds.
        """
        clean_binds = self.clean(dict(binds), "gate binds")
        summary = self.redactor.mask_text(summary)
        run = self.one("SELECT * FROM runs WHERE run_id = ?", [run_id])
        if run is None:
            raise EvidenceError(f"cannot record a gate: no run {run_id!r}")
        digest = bind_hash or compute_bind_hash(
            run_id=run_id,
            recipe=run["recipe"],
            recipe_version=run["recipe_version"] or "",
            site=run["site"],
            action=action,
            binds=clean_binds,
        )
        gate_id, now = new_id("g-"), utc_now()
        row = {
            "gate_id": gate_id,
            "run_id": run_id,
            "action": action,
            "summary": summary,
            "binds": dumps(clean_binds),
            "bind_hash": digest,
            "state": "pending",
            "required_approvals": required_approvals,
            "created_at": now,  # = the gate_opened event's time: verify compares them
            "expires_at": expires_at,
        }
        self.table("gates").insert(row)
        data = {k: row[k] for k in ("gate_id", "action", "summary", "bind_hash")}
        data |= {
            "binds": clean_binds,
            "required_approvals": required_approvals,
            "expires_at": expires_at,
        }
        self.append_event(run_id, "gate_opened", data, at=now)
        return self.gate(gate_id)

    def gate_transition(
        self, gate_id: str, expected: str, target: str, *, reason: str | None = None
    ) -> bool:
        """Compare-and-set a gate's state (+ a `gate_state_changed` event); False if it moved."""
        _check_gate_move(gate_id, expected, target)
        gate = self.gate(gate_id)
        cursor = self.execute(
            "UPDATE gates SET state = ? WHERE gate_id = ? AND state = ?",
            [target, gate_id, expected],
        )
        if cursor.rowcount == 0:
            return False
        data = {"gate_id": gate_id, "from_state": expected, "to_state": target}
        if reason:
            data["reason"] = self.redactor.mask_text(reason)
        self.append_event(gate.run_id, "gate_state_changed", data)
        return True

    def record_approval(
        self,
        gate_id: str,
        *,
        approver: str,
        decision: str,
        bind_hash: str,
        note: str = "",
        at: str | None = None,
        proof: str | None = None,
    ) -> ApprovalRecord:
        """Record one person's decision and its `approved`/`rejected` event.

        `at` (ISO 8601 UTC, default now) is when the decision was made: approvals expire
        from it (`policy.approval_ttl_hours`). `proof`: how the approver's identity was
        proven ("token t-…", "password", "os_user", "api", "policy:auto"); it goes into the
        event, which is sealed and signed with the transaction.
        """
        if decision not in ("approved", "rejected"):
            raise EvidenceError(
                f"gate {gate_id}: decision must be 'approved' or 'rejected', got {decision!r}"
            )
        note = self.redactor.mask_text(note)
        gate = self.gate(gate_id)
        row: dict[str, Any] = {
            "approval_id": new_id("a-"),
            "gate_id": gate_id,
            "run_id": gate.run_id,
            "approver": approver,
            "decision": decision,
            "bind_hash": bind_hash,
            "note": note,
            "at": at or utc_now(),
            "proof": proof,
        }
        self.table("approvals").insert(row)
        event = {k: row[k] for k in ("approval_id", "gate_id", "approver", "bind_hash", "at")}
        if note:
            event["note"] = note
        if proof is not None:
            event["proof"] = proof
        self.append_event(gate.run_id, decision, event)
        return ApprovalRecord(**row)

    def approvers(self, gate_id: str, bind_hash: str) -> set[str]:
        """Who has approved this gate's `bind_hash` so far (rejections are not counted)."""
        rows = self.execute(
            "SELECT approver FROM approvals WHERE gate_id = ? AND decision = 'approved' "
            "AND bind_hash = ?",
            [gate_id, bind_hash],
        ).fetchall()
        return {r[0] for r in rows}


class CasesAndGates:
    """Mixed into EvidenceStore: each write is one transaction around the method above."""

    if TYPE_CHECKING:
        root: Path
        db: Database

        def transaction(self) -> contextlib.AbstractContextManager[Transaction]: ...
        def query_one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None: ...

    # ------------------------------------------------------------------ cases

    def open_case(
        self, case_id: str, *, channel: str, ask: str = "", customer: str | None = None
    ) -> CaseRecord:
        """Create the case, or fill in channel/ask/customer when it exists without them."""
        with self.transaction() as tx:
            return tx.open_case(case_id, channel=channel, ask=ask, customer=customer)

    def get_case(self, case_id: str) -> CaseRecord:
        row = self.query_one("SELECT * FROM cases WHERE case_id = ?", [case_id])
        if row is None:
            raise EvidenceError(f"no case {case_id!r} in the evidence store {self.root}")
        return CaseRecord(**row)

    def close_case(self, case_id: str) -> CaseRecord:
        with self.transaction() as tx:
            return tx.close_case(case_id)

    def list_cases(self, *, status: str | None = None) -> list[CaseRecord]:
        sql, params = "SELECT * FROM cases", []
        if status:
            sql, params = sql + " WHERE status = ?", [status]
        return [CaseRecord(**r) for r in self.db.query(sql + " ORDER BY created_at DESC", params)]

    # ------------------------------------------------------------------ gates

    def record_gate(
        self,
        run_id: str,
        *,
        action: str,
        summary: str,
        binds: Mapping[str, Any],
        bind_hash: str | None = None,
        required_approvals: int = 1,
        expires_at: str | None = None,
    ) -> GateRecord:
        """Record a gate (state `pending`) and its `gate_opened` event in one transaction
        (`bind_hash` defaults to `compute_bind_hash`)."""
        with self.transaction() as tx:
            return tx.record_gate(
                run_id,
                action=action,
                summary=summary,
                binds=binds,
                bind_hash=bind_hash,
                required_approvals=required_approvals,
                expires_at=expires_at,
            )

    def get_gate(self, gate_id: str) -> GateRecord:
        row = self.query_one("SELECT * FROM gates WHERE gate_id = ?", [gate_id])
        if row is None:
            raise EvidenceError(f"no gate {gate_id!r} in the evidence store {self.root}")
        return gate_record(row)

    def list_gates(
        self, *, run_id: str | None = None, state: str | None = None
    ) -> list[GateRecord]:
        where, params = [], []
        if run_id:
            where.append("run_id = ?")
            params.append(run_id)
        if state:
            where.append("state = ?")
            params.append(state)
        sql = "SELECT * FROM gates" + (" WHERE " + " AND ".join(where) if where else "")
        return [gate_record(r) for r in self.db.query(sql + " ORDER BY created_at", params)]

    def gate_transition(
        self, gate_id: str, expected: str, target: str, *, reason: str | None = None
    ) -> bool:
        """Compare-and-set a gate's state (+ a `gate_state_changed` event); False if it moved."""
        _check_gate_move(gate_id, expected, target)  # before waiting for the write lock
        with self.transaction() as tx:
            return tx.gate_transition(gate_id, expected, target, reason=reason)

    def record_approval(
        self,
        gate_id: str,
        *,
        approver: str,
        decision: str,
        bind_hash: str,
        note: str = "",
        at: str | None = None,
        proof: str | None = None,
    ) -> ApprovalRecord:
        """Record one person's decision and its `approved`/`rejected` event atomically."""
        with self.transaction() as tx:
            return tx.record_approval(
                gate_id,
                approver=approver,
                decision=decision,
                bind_hash=bind_hash,
                note=note,
                at=at,
                proof=proof,
            )

    def approvals(self, gate_id: str) -> list[ApprovalRecord]:
        rows = self.db.query("SELECT * FROM approvals WHERE gate_id = ? ORDER BY at", [gate_id])
        return [ApprovalRecord(**r) for r in rows]
