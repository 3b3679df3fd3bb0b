"""Check a run's evidence before acting on it: the commit path trusts nothing unchecked.

    problems = evidence_problems(store, run_id)        # [] when everything agrees
    require_verified(store, run_id)                     # EvidenceError listing them

Someone with write access to the store's SQLite file can change a gate's amount (and
recompute its bind hash), a run's inputs or an approver's name. The commit path therefore
reads nothing from those rows as fact before checking it against the run's hash chain (and,
through `evidence.verify`, against the chain's signed manifests):

* `evidence.verify` over the run: every event hash, the run row against `run_created`
  (inputs, recipe, site), artifacts, manifests and their signatures;
* each gate row against its `gate_opened` event (action, binds, bind hash) and its
  `gate_state_changed` events (state), and its bind hash recomputed from the run as the
  chain recorded it (`compute_bind_hash`);
* each approval row against an `approved`/`rejected` event of the chain (gate, approver,
  decision, bind hash).

Approve and resume refuse with EvidenceError (exit 7) "evidence of run X does not verify: …"
and send nothing; `aijia gates show` lists the problems next to the data it could not verify.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from agent.core.errors import EvidenceError
from evidence.gates import compute_bind_hash
from evidence.hashing import canonical_json

if TYPE_CHECKING:
    from evidence.api import EventRecord
    from evidence.gates import ApprovalRecord, GateRecord
    from evidence.store import EvidenceStore

MAX_LISTED = 5  # problems named in one error message; `gates show` lists them all


def _same(a: Any, b: Any) -> bool:
    return canonical_json(a) == canonical_json(b)


def evidence_problems(store: EvidenceStore, run_id: str) -> list[str]:
    """Everything about the run's gates and approvals that its chain does not back, plus
    the chain verifier's findings; [] when the run's evidence holds together.

    The rows are read in several statements, so another process's approval can land between
    them and look, for a moment, like a row without its event. A tampered store stays wrong
    when read again; a concurrent write does not: only what a second reading confirms counts.
    """
    if not _problems(store, run_id):
        return []
    return _problems(store, run_id)


def _problems(store: EvidenceStore, run_id: str) -> list[str]:
    report = store.verify([run_id])
    problems = [f"{b.where}: {b.what}: {b.detail}" for b in report.breaks]
    events = store.events(run_id)
    created = next((e.data for e in events if e.kind == "run_created"), None)
    if created is None:
        return [*problems, "the chain has no run_created event"]
    for gate in store.list_gates(run_id=run_id):
        problems += gate_problems(gate, store.approvals(gate.gate_id), events, created)
    return problems


def gate_problems(
    gate: GateRecord,
    approvals: list[ApprovalRecord],
    events: list[EventRecord],
    created: Any,
) -> list[str]:
    """What in the gate row and its approval rows the chain (`events`) does not back."""
    where = f"gate {gate.gate_id}"
    opened = [
        e.data for e in events if e.kind == "gate_opened" and e.data.get("gate_id") == gate.gate_id
    ]
    if len(opened) != 1:
        return [f"{where}: {len(opened)} gate_opened events in the chain, expected 1"]
    chain = opened[0]
    problems: list[str] = []
    for name, key, row_value in (
        ("action", "action", gate.action),
        ("summary", "summary", gate.summary),
        ("bound values", "binds", dict(gate.binds)),
        ("bind hash", "bind_hash", gate.bind_hash),
        ("required approvals", "required_approvals", gate.required_approvals),
        ("expiry", "expires_at", gate.expires_at),
    ):
        if not _same(row_value, chain.get(key)):
            problems.append(f"{where}: {name} differ(s) from the gate_opened event")
    recomputed = compute_bind_hash(
        run_id=gate.run_id,
        recipe=str(created.get("recipe")),
        recipe_version=str(created.get("recipe_version") or ""),
        site=str(created.get("site")),
        action=str(chain.get("action")),
        binds=chain.get("binds"),
    )
    if gate.bind_hash != recomputed:
        problems.append(f"{where}: its bind hash is not the hash of what the run recorded")
    state = "pending"
    for e in events:
        if e.kind == "gate_state_changed" and e.data.get("gate_id") == gate.gate_id:
            state = str(e.data.get("to_state"))
    if gate.state != state:
        problems.append(f"{where}: state is {gate.state} but the chain says {state}")
    rows = Counter((a.approver, a.decision, a.bind_hash) for a in approvals)
    chained = Counter(
        (str(e.data.get("approver")), e.kind, str(e.data.get("bind_hash")))
        for e in events
        if e.kind in ("approved", "rejected") and e.data.get("gate_id") == gate.gate_id
    )
    for approver, decision, _ in sorted((rows - chained).elements()):
        problems.append(
            f"{where}: the {decision} decision by {approver!r} is not in the chain "
            "(the approver, decision or hash was changed)"
        )
    for approver, decision, _ in sorted((chained - rows).elements()):
        problems.append(f"{where}: the chain's {decision} decision by {approver!r} has no row")
    return problems


def require_verified(store: EvidenceStore, run_id: str) -> None:
    """EvidenceError (exit 7) when the run's evidence does not verify: nothing is sent."""
    problems = evidence_problems(store, run_id)
    if not problems:
        return
    listed = "; ".join(problems[:MAX_LISTED])
    more = f" (and {len(problems) - MAX_LISTED} more)" if len(problems) > MAX_LISTED else ""
    raise EvidenceError(
        f"evidence of run {run_id} does not verify: {listed}{more}; nothing was committed",
        hint=f"`aijia evidence verify {run_id}` shows the breaks; the store may have been "
        "tampered with: have it checked before anyone approves or resumes this run",
    )
