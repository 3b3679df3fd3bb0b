"""The store's own tests, run on both engines: imported from tests/evidence, where they run
on SQLite alone; here the `store` fixture (tests/pgstore/conftest.py) is parametrized over
SQLite and PostgreSQL, so each runs twice, unchanged. Only the tests that reach the rows
through the store are imported: the tampering ones edit the SQLite file directly."""

from __future__ import annotations

from tests.evidence.test_store import (  # noqa: F401 - collected here, on both engines
    test_any_json_data_round_trips_and_verifies,
    test_artifacts_are_content_addressed_and_deduplicated,
    test_cases,
    test_create_run_starts_pending_with_a_run_created_event,
    test_event_needs_its_artifacts_stored_first,
    test_events_cannot_be_updated_or_deleted,
    test_events_form_a_hash_chain,
    test_finish_run_writes_a_manifest_with_a_root_hash,
    test_gates_and_approvals,
    test_illegal_transition_raises_and_records_nothing,
    test_lone_surrogates_are_replaced_not_fatal,
    test_the_six_questions_are_in_the_trail,
    test_transition_is_compare_and_set_with_an_event,
    test_unknown_run_is_an_evidence_error,
)
from tests.evidence.test_transaction import (  # noqa: F401
    aijia,
    policy,
    test_a_composed_transaction_commits_every_write_together,
    test_a_refusal_inside_a_decision_rolls_back,
    test_an_approval_racing_the_same_users_is_refused_as_already_approved,
    test_an_exception_rolls_back_every_write,
    test_auto_approval_is_one_transaction,
    test_no_nesting_and_no_use_after_the_block,
)
from tests.evidence.test_verify import (  # noqa: F401
    sealed,
    test_a_final_state_seals_the_chain_whatever_the_order,
    test_events_after_the_manifest_are_unsealed_not_broken,
    test_untouched_store_verifies,
)
