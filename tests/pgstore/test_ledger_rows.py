"""What belongs to no single run, on both engines: accounts and tokens, schedule fires
(exactly once per slot), prunes; each written with its ledger event, so the store verifies
after, and an edit of such a row is named by `verify`."""

from __future__ import annotations

from datetime import UTC, datetime

from evidence.schedules import ScheduleLedger
from evidence.store import EvidenceStore
from tests.evidence.test_prune import (  # noqa: F401 - collected here, on both engines
    test_files_shared_with_a_kept_run_stay,
    test_prune_removes_whole_finished_runs_and_logs_them,
)


def test_accounts_and_tokens(store: EvidenceStore) -> None:
    store.add_user("sam", roles=["reviewer"], password_hash="$argon2id$x", created_by="root")
    token = store.add_token(
        "sam", token_sha256="ab" * 32, label="laptop", expires_at=None, by="sam"
    )
    assert [t.token_id for t in store.tokens_of("sam")] == [token.token_id]
    assert store.token_by_hash("ab" * 32) == token
    assert store.revoke_token(token.token_id, by="sam") is True
    assert store.revoke_token(token.token_id, by="sam") is False  # once
    assert store.verify().ok

    with store.transaction() as tx:  # behind the ledger's back
        tx.execute("UPDATE users SET roles = ? WHERE name = ?", ['["admin"]', "sam"])
    report = store.verify()
    assert not report.ok and any("users" in b.what or "users" in b.where for b in report.breaks)


def test_a_schedule_slot_is_claimed_once(store: EvidenceStore) -> None:
    ledger = ScheduleLedger(store)
    slot = datetime(2026, 1, 1, 9, tzinfo=UTC).isoformat()
    first = ledger.claim("nightly", slot, owner="a")
    assert first is not None
    assert ledger.claim("nightly", slot, owner="b") is None  # the unique claim held
    ledger.add_items(first.fire_id, [{"order_id": "1"}, {"order_id": "2"}])
    ledger.finish_fire(first.fire_id, "done")
    assert ledger.last_slot("nightly") == slot
    assert [f.fire_id for f in ledger.fires("nightly")] == [first.fire_id]
    assert store.verify().ok
