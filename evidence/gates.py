"""Cases, gates and approvals: the rows the runner and the gate logic record.

A case is the customer's ticket (`TICKET-123`: channel and ask); runs may belong to one. A gate
is a paused, bound action waiting for people; an approval is one person's signed decision on
the gate's bind hash. Deciding *whether* an approval is valid (roles, expiry, two approvers)
is the gate logic's job; the store records faithfully, in the run's chain, in one transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.errors import EvidenceError
from evidence.hashing import canonical_json, sha256_hex
from evidence.ids import new_id, utc_now
from evidence.jsonvalue import dumps, loads
from evidence.migrations import table

if TYPE_CHECKING:
    from sqlite_utils import Database

    from evidence.api import EventRecord
    from evidence.redaction import Redactor

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


class CasesAndGates:
    """Mixed into EvidenceStore; uses its transaction and append plumbing."""

    if TYPE_CHECKING:
        root: Path
        db: Database
        redactor: Redactor

        def _write(self) -> contextlib.AbstractContextManager[Database]: ...
        def _clean(self, value: Any, what: str) -> Any: ...
        def _one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None: ...
        def _append(
            self,
            db: Database,
            run_id: str,
            kind: str,
            data: Mapping[str, Any],
            artifacts: Sequence[str],
        ) -> EventRecord: ...

    # ------------------------------------------------------------------ cases

    def open_case(
        self, case_id: str, *, channel: str, ask: str = "", customer: str | None = None
    ) -> CaseRecord:
        """Create the case, or fill in channel/ask/customer when it exists without them."""
        ask = self.redactor.mask_text(ask)
        with self._write() as db:
            row = self._ensure_case(db, case_id, utc_now())
            db.execute(
                "UPDATE cases SET channel = ?, ask = ?, customer = ? WHERE case_id = ?",
                [
                    row["channel"] or channel,
                    row["ask"] or ask,
                    row["customer"] or customer,
                    case_id,
                ],
            )
        return self.get_case(case_id)

    def _ensure_case(self, db: Database, case_id: str, now: str) -> dict[str, Any]:
        db.execute(
            "INSERT OR IGNORE INTO cases (case_id, channel, ask, customer, status, created_at) "
            "VALUES (?, '', '', NULL, 'open', ?)",
            [case_id, now],
        )
        return dict(next(iter(db.query("SELECT * FROM cases WHERE case_id = ?", [case_id]))))

    def get_case(self, case_id: str) -> CaseRecord:
        row = self._one("SELECT * FROM cases WHERE case_id = ?", [case_id])
        if row is None:
            raise EvidenceError(f"no case {case_id!r} in the evidence store {self.root}")
        return CaseRecord(**row)

    def close_case(self, case_id: str) -> CaseRecord:
        with self._write() as db:
            db.execute(
                "UPDATE cases SET status = 'closed', closed_at = ? WHERE case_id = ? "
                "AND status = 'open'",
                [utc_now(), case_id],
            )
        return self.get_case(case_id)

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
        """Record a gate (state `pending`) and its `gate_opened` event in one transaction.

        `bind_hash` defaults to `compute_bind_hash` over the run's recipe, version, site,
        the action and the binds.
        """
        clean_binds = self._clean(dict(binds), "gate binds")
        summary = self.redactor.mask_text(summary)
        gate_id = new_id("g-")
        with self._write() as db:
            run = next(iter(db.query("SELECT * FROM runs WHERE run_id = ?", [run_id])), None)
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
            row = {
                "gate_id": gate_id,
                "run_id": run_id,
                "action": action,
                "summary": summary,
                "binds": dumps(clean_binds),
                "bind_hash": digest,
                "state": "pending",
                "required_approvals": required_approvals,
                "created_at": utc_now(),
                "expires_at": expires_at,
            }
            table(db, "gates").insert(row)
            data = {k: row[k] for k in ("gate_id", "action", "summary", "bind_hash")}
            data |= {
                "binds": clean_binds,
                "required_approvals": required_approvals,
                "expires_at": expires_at,
            }
            self._append(db, run_id, "gate_opened", data, ())
        return self.get_gate(gate_id)

    def get_gate(self, gate_id: str) -> GateRecord:
        row = self._one("SELECT * FROM gates WHERE gate_id = ?", [gate_id])
        if row is None:
            raise EvidenceError(f"no gate {gate_id!r} in the evidence store {self.root}")
        return GateRecord(**{**row, "binds": loads(row["binds"])})

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
        rows = self.db.query(sql + " ORDER BY created_at", params)
        return [GateRecord(**{**r, "binds": loads(r["binds"])}) for r in rows]

    def gate_transition(
        self, gate_id: str, expected: str, target: str, *, reason: str | None = None
    ) -> bool:
        """Compare-and-set a gate's state (+ a `gate_state_changed` event); False if it moved."""
        if target not in _GATE_MOVES.get(expected, set()):
            raise EvidenceError(
                f"gate {gate_id}: cannot go from {expected} to {target}",
                hint=f"from {expected} a gate may go to: "
                + (", ".join(sorted(_GATE_MOVES.get(expected, set()))) or "nothing"),
            )
        with self._write() as db:
            gate = self.get_gate(gate_id)
            cursor = db.execute(
                "UPDATE gates SET state = ? WHERE gate_id = ? AND state = ?",
                [target, gate_id, expected],
            )
            if cursor.rowcount == 0:
                return False
            data = {"gate_id": gate_id, "from_state": expected, "to_state": target}
            if reason:
                data["reason"] = self.redactor.mask_text(reason)
            self._append(db, gate.run_id, "gate_state_changed", data, ())
        return True

    def record_approval(
        self, gate_id: str, *, approver: str, decision: str, bind_hash: str, note: str = ""
    ) -> ApprovalRecord:
        """Record one person's decision and its `approved`/`rejected` event atomically."""
        if decision not in ("approved", "rejected"):
            raise EvidenceError(
                f"gate {gate_id}: decision must be 'approved' or 'rejected', got {decision!r}"
            )
        note = self.redactor.mask_text(note)
        approval_id = new_id("a-")
        with self._write() as db:
            gate = self.get_gate(gate_id)
            row = {
                "approval_id": approval_id,
                "gate_id": gate_id,
                "run_id": gate.run_id,
                "approver": approver,
                "decision": decision,
                "bind_hash": bind_hash,
                "note": note,
                "at": utc_now(),
            }
            table(db, "approvals").insert(row)
            event = {"gate_id": gate_id, "approver": approver, "bind_hash": bind_hash}
            if note:
                event["note"] = note
            self._append(db, gate.run_id, decision, event, ())
        return ApprovalRecord(**row)

    def approvals(self, gate_id: str) -> list[ApprovalRecord]:
        rows = self.db.query("SELECT * FROM approvals WHERE gate_id = ? ORDER BY at", [gate_id])
        return [ApprovalRecord(**r) for r in rows]
