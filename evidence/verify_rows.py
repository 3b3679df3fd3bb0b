"""The rows beside a run's chain, checked against it: the run row, gates, approvals, and which
events use which artifact. Every column that means something is in a chain event; each
function returns (where, what, detail) of the first disagreement, or None.

    runs             run_created (recipe, version, site, account, case, inputs, created_at),
                     state_changed (state), run_finished (outputs, error), the last event
                     (updated_at = its time, last_seq, head_hash)
    gates            gate_opened (every column; created_at = its time), gate_state_changed
    approvals        approved / rejected (approval_id, approver, bind_hash, note, at, proof)
    event_artifacts  each event's artifacts list
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlite_utils import Database

Problem = tuple[str, str, str]


def _json(text: Any) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return ValueError  # never equal to a JSON value


def check_run_row(run: dict[str, Any], events: Sequence[dict[str, Any]]) -> Problem | None:
    """`events`: the run's chain rows, already checked, with `data` parsed."""
    if not events or events[0]["kind"] != "run_created":
        return ("event 1", "row changed", "the chain does not start with run_created")
    created = events[0]["data"]
    for key in ("recipe", "recipe_version", "site", "account", "case_id"):
        if run[key] != created.get(key):
            return ("run row", "row changed", f"{key} differs from run_created")
    if _json(run["inputs"]) != created.get("inputs"):
        return ("run row", "row changed", "inputs differ from run_created")
    if run["created_at"] != events[0]["at"]:
        return ("run row", "row changed", "created_at differs from run_created's time")
    state, finished = "pending", None
    for e in events:
        if e["kind"] == "state_changed":
            state = e["data"].get("to_state", state)
        elif e["kind"] == "run_finished":
            finished = e["data"]
    if run["state"] != state:
        return (
            "run row",
            "row changed",
            f"state is {run['state']} but the chain's last state change is to {state}",
        )
    outputs = finished.get("outputs") if finished else {}
    if _json(run["outputs"]) != outputs:
        return ("run row", "row changed", "outputs differ from run_finished")
    if run["error"] != (finished.get("error") if finished else None):
        return ("run row", "row changed", "error differs from run_finished")
    if run["updated_at"] != events[-1]["at"]:
        return ("run row", "row changed", "updated_at differs from its last event's time")
    return None


def check_gates(db: Database, run_id: str, events: Sequence[dict[str, Any]]) -> Problem | None:
    expected: dict[str, dict[str, Any]] = {}
    for e in events:
        data = e["data"]
        if e["kind"] == "gate_opened":
            expected[data.get("gate_id")] = {
                "gate_id": data.get("gate_id"),
                "run_id": run_id,
                "action": data.get("action"),
                "summary": data.get("summary"),
                "binds": data.get("binds"),
                "bind_hash": data.get("bind_hash"),
                "state": "pending",
                "required_approvals": data.get("required_approvals", 1),
                "created_at": e["at"],
                "expires_at": data.get("expires_at"),
            }
        elif e["kind"] == "gate_state_changed":
            gate = expected.get(data.get("gate_id"))
            if gate is None or gate["state"] != data.get("from_state"):
                return (f"event {e['seq']}", "row changed", "a gate moves from a state it lacks")
            gate["state"] = data.get("to_state")
    rows = {r["gate_id"]: r for r in db.query("SELECT * FROM gates WHERE run_id = ?", [run_id])}
    for gate_id, want in expected.items():
        row = rows.pop(gate_id, None)
        if row is None:
            return (f"gate {gate_id}", "row removed", "gate_opened recorded it")
        if {**row, "binds": _json(row["binds"])} != want:
            changed = sorted(k for k in want if want[k] != {**row, "binds": _json(row["binds"])}[k])
            return (f"gate {gate_id}", "row changed", f"{', '.join(changed)} differ from the chain")
    for gate_id in rows:
        return (f"gate {gate_id}", "row changed", "no gate_opened event records it")
    return None


def check_approvals(db: Database, run_id: str, events: Sequence[dict[str, Any]]) -> Problem | None:
    expected: dict[Any, dict[str, Any]] = {}
    for e in events:
        if e["kind"] in ("approved", "rejected"):
            data = e["data"]
            expected[data.get("approval_id")] = {
                "approval_id": data.get("approval_id"),
                "gate_id": data.get("gate_id"),
                "run_id": run_id,
                "approver": data.get("approver"),
                "decision": e["kind"],
                "bind_hash": data.get("bind_hash"),
                "note": data.get("note", ""),
                "at": data.get("at"),
                "proof": data.get("proof"),
            }
    rows = {
        r["approval_id"]: r for r in db.query("SELECT * FROM approvals WHERE run_id = ?", [run_id])
    }
    for approval_id, want in expected.items():
        row = rows.pop(approval_id, None)
        if row is None:
            return (f"approval {approval_id}", "row removed", "an event records it")
        if row != want:
            changed = sorted(k for k in want if want[k] != row[k])
            return (
                f"approval {approval_id}",
                "row changed",
                f"{', '.join(changed)} differ from the chain",
            )
    for approval_id in rows:
        return (f"approval {approval_id}", "row changed", "no approved/rejected event records it")
    return None


def check_event_artifacts(
    db: Database, run_id: str, events: Sequence[dict[str, Any]]
) -> Problem | None:
    want = {(e["seq"], sha) for e in events for sha in e["shas"]}
    have = {
        (r["seq"], r["sha256"])
        for r in db.query("SELECT seq, sha256 FROM event_artifacts WHERE run_id = ?", [run_id])
    }
    if want - have:
        seq, sha = min(want - have)
        return (f"event {seq}", "row removed", f"its use of artifact {sha[:12]} is not recorded")
    if have - want:
        seq, sha = min(have - want)
        return (f"event {seq}", "row changed", f"artifact {str(sha)[:12]} is not in the event")
    return None
