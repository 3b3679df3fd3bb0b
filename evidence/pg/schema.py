"""The store's schema on PostgreSQL: what `evidence.migrations` builds on SQLite, at its
latest version, written once as DDL.

SQLite stores grow migration by migration (PRAGMA user_version); a PostgreSQL store is new
with this version, so it is created whole and `schema_version` records which SQLite
migration count it equals. When a migration is added to `evidence/migrations.py`, add the
same change here and raise VERSION (tests/pgstore/test_schema.py compares the two schemas,
table by table and column by column, and fails until both agree).

Text is `COLLATE "C"` (byte order, as SQLite compares), integers are BIGINT (SQLite's are 64
bit). The append-only rules are triggers that RAISE, as on SQLite, plus TRUNCATE guards
(SQLite has no TRUNCATE).
"""

from __future__ import annotations

VERSION = 8  # == len(evidence.migrations.MIGRATIONS) that this DDL equals

SCHEMA = """
CREATE TABLE schema_version (version BIGINT NOT NULL);

CREATE TABLE cases (
    case_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    channel TEXT COLLATE "C" NOT NULL,
    ask TEXT COLLATE "C",
    customer TEXT COLLATE "C",
    status TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    closed_at TEXT COLLATE "C"
);

CREATE TABLE runs (
    run_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    recipe TEXT COLLATE "C" NOT NULL,
    recipe_version TEXT COLLATE "C",
    site TEXT COLLATE "C" NOT NULL,
    account TEXT COLLATE "C",
    case_id TEXT COLLATE "C",
    state TEXT COLLATE "C" NOT NULL,
    inputs TEXT COLLATE "C",
    outputs TEXT COLLATE "C",
    error TEXT COLLATE "C",
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    last_seq BIGINT,
    head_hash TEXT COLLATE "C"
);
CREATE INDEX idx_runs_state ON runs (state);
CREATE INDEX idx_runs_case_id ON runs (case_id);
CREATE INDEX idx_runs_created_at ON runs (created_at);

CREATE TABLE events (
    run_id TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    data TEXT COLLATE "C" NOT NULL,
    artifacts TEXT COLLATE "C" NOT NULL,
    at TEXT COLLATE "C" NOT NULL,
    prev_hash TEXT COLLATE "C" NOT NULL,
    hash TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX idx_events_kind ON events (kind);

CREATE TABLE artifacts (
    sha256 TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    kind TEXT COLLATE "C" NOT NULL,
    media_type TEXT COLLATE "C" NOT NULL,
    size BIGINT NOT NULL,
    path TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE event_artifacts (
    run_id TEXT COLLATE "C",
    seq BIGINT,
    sha256 TEXT COLLATE "C",
    PRIMARY KEY (run_id, seq, sha256)
);
CREATE INDEX idx_event_artifacts_sha256 ON event_artifacts (sha256);

CREATE TABLE manifests (
    run_id TEXT COLLATE "C" NOT NULL,
    n BIGINT NOT NULL,
    root_hash TEXT COLLATE "C" NOT NULL,
    manifest TEXT COLLATE "C" NOT NULL,
    at TEXT COLLATE "C" NOT NULL,
    signature TEXT COLLATE "C",
    PRIMARY KEY (run_id, n)
);

CREATE TABLE gates (
    gate_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    run_id TEXT COLLATE "C" NOT NULL,
    action TEXT COLLATE "C" NOT NULL,
    summary TEXT COLLATE "C",
    binds TEXT COLLATE "C" NOT NULL,
    bind_hash TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL,
    required_approvals BIGINT,
    created_at TEXT COLLATE "C" NOT NULL,
    expires_at TEXT COLLATE "C"
);
CREATE INDEX idx_gates_run_id ON gates (run_id);
CREATE INDEX idx_gates_state ON gates (state);

CREATE TABLE approvals (
    approval_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    gate_id TEXT COLLATE "C" NOT NULL,
    run_id TEXT COLLATE "C" NOT NULL,
    approver TEXT COLLATE "C" NOT NULL,
    decision TEXT COLLATE "C" NOT NULL,
    bind_hash TEXT COLLATE "C" NOT NULL,
    note TEXT COLLATE "C",
    at TEXT COLLATE "C" NOT NULL,
    proof TEXT COLLATE "C"
);
CREATE INDEX idx_approvals_gate_id ON approvals (gate_id);

CREATE TABLE prunes (
    run_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    recipe TEXT COLLATE "C",
    case_id TEXT COLLATE "C",
    created_at TEXT COLLATE "C",
    event_count BIGINT,
    head_hash TEXT COLLATE "C",
    root_hash TEXT COLLATE "C",
    reason TEXT COLLATE "C",
    pruned_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE schedule_fires (
    fire_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    schedule TEXT COLLATE "C" NOT NULL,
    slot TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL,
    reason TEXT COLLATE "C",
    owner TEXT COLLATE "C",
    rows BIGINT,
    done BIGINT,
    failed BIGINT,
    skipped BIGINT,
    claimed_at TEXT COLLATE "C" NOT NULL,
    finished_at TEXT COLLATE "C"
);
CREATE UNIQUE INDEX schedule_fires_slot ON schedule_fires (schedule, slot);
CREATE INDEX idx_schedule_fires_schedule_claimed_at ON schedule_fires (schedule, claimed_at);

CREATE TABLE schedule_items (
    fire_id TEXT COLLATE "C" NOT NULL,
    n BIGINT NOT NULL,
    inputs TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL,
    run_id TEXT COLLATE "C",
    reason TEXT COLLATE "C",
    updated_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (fire_id, n)
);
CREATE INDEX idx_schedule_items_run_id ON schedule_items (run_id);

CREATE TABLE scheduler_lock (
    name TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    owner TEXT COLLATE "C" NOT NULL,
    pid BIGINT NOT NULL,
    host TEXT COLLATE "C" NOT NULL,
    token TEXT COLLATE "C" NOT NULL,
    acquired_at TEXT COLLATE "C" NOT NULL,
    expires_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE commit_leases (
    run_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    holder TEXT COLLATE "C" NOT NULL,
    token TEXT COLLATE "C" NOT NULL,
    acquired_at TEXT COLLATE "C" NOT NULL,
    renewed_at TEXT COLLATE "C" NOT NULL,
    expires_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE root_timestamps (
    run_id TEXT COLLATE "C" NOT NULL,
    n BIGINT NOT NULL,
    root_hash TEXT COLLATE "C" NOT NULL,
    tsa_url TEXT COLLATE "C" NOT NULL,
    token TEXT COLLATE "C" NOT NULL,
    at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (run_id, n)
);

CREATE TABLE ledger (
    seq BIGINT NOT NULL PRIMARY KEY,
    kind TEXT COLLATE "C" NOT NULL,
    data TEXT COLLATE "C" NOT NULL,
    at TEXT COLLATE "C" NOT NULL,
    prev_hash TEXT COLLATE "C" NOT NULL,
    hash TEXT COLLATE "C" NOT NULL
);

CREATE TABLE ledger_seals (
    n BIGINT NOT NULL PRIMARY KEY,
    event_count BIGINT NOT NULL,
    root_hash TEXT COLLATE "C" NOT NULL,
    signature TEXT COLLATE "C" NOT NULL,
    at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE root_log_outbox (
    entry BIGINT NOT NULL PRIMARY KEY,
    line TEXT COLLATE "C" NOT NULL
);

-- SQLite's AUTOINCREMENT counter, which evidence/rootlog.py reads for the next outbox entry:
-- the highest entry ever inserted, kept when the outbox is emptied after a flush.
CREATE TABLE sqlite_sequence (name TEXT COLLATE "C" NOT NULL PRIMARY KEY, seq BIGINT NOT NULL);

CREATE TABLE users (
    name TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    roles TEXT COLLATE "C" NOT NULL,
    password_hash TEXT COLLATE "C" NOT NULL,
    disabled BIGINT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    created_by TEXT COLLATE "C",
    failed_logins BIGINT NOT NULL,
    locked_until TEXT COLLATE "C"
);

CREATE TABLE api_tokens (
    token_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    "user" TEXT COLLATE "C" NOT NULL,
    token_sha256 TEXT COLLATE "C" NOT NULL,
    label TEXT COLLATE "C",
    created_at TEXT COLLATE "C" NOT NULL,
    last_used_at TEXT COLLATE "C",
    expires_at TEXT COLLATE "C",
    revoked_at TEXT COLLATE "C"
);
CREATE UNIQUE INDEX idx_api_tokens_token_sha256 ON api_tokens (token_sha256);
CREATE INDEX idx_api_tokens_user ON api_tokens ("user");

-- Append-only, as the SQLite triggers of forbid_event_changes / add_ledger_and_root_log.
CREATE FUNCTION aijia_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'integrity_constraint_violation';
END $$;

-- Deleting events is allowed only for runs recorded in `prunes` first (retention).
CREATE FUNCTION aijia_events_no_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM prunes WHERE prunes.run_id = OLD.run_id) THEN
        RAISE EXCEPTION 'evidence events are append-only'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
END $$;

CREATE FUNCTION aijia_count_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sqlite_sequence (name, seq) VALUES ('root_log_outbox', NEW.entry)
    ON CONFLICT (name) DO UPDATE SET seq = GREATEST(sqlite_sequence.seq, EXCLUDED.seq);
    RETURN NEW;
END $$;
CREATE TRIGGER root_log_outbox_counter AFTER INSERT ON root_log_outbox
    FOR EACH ROW EXECUTE FUNCTION aijia_count_outbox();

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION aijia_refuse('evidence events are append-only');
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION aijia_events_no_delete();
CREATE TRIGGER approvals_no_update BEFORE UPDATE ON approvals
    FOR EACH ROW EXECUTE FUNCTION aijia_refuse('approvals are append-only');
CREATE TRIGGER manifests_no_update BEFORE UPDATE ON manifests
    FOR EACH ROW EXECUTE FUNCTION aijia_refuse('manifests are append-only');
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
    FOR EACH ROW EXECUTE FUNCTION aijia_refuse('the evidence ledger is append-only');
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION aijia_refuse('the evidence ledger is append-only');
CREATE TRIGGER ledger_seals_no_update BEFORE UPDATE ON ledger_seals
    FOR EACH ROW EXECUTE FUNCTION aijia_refuse('ledger seals are append-only');
CREATE TRIGGER ledger_seals_no_delete BEFORE DELETE ON ledger_seals
    FOR EACH ROW EXECUTE FUNCTION aijia_refuse('ledger seals are append-only');

-- TRUNCATE fires no row trigger: refuse it on every append-only table.
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION aijia_refuse('evidence events are append-only');
CREATE TRIGGER approvals_no_truncate BEFORE TRUNCATE ON approvals
    FOR EACH STATEMENT EXECUTE FUNCTION aijia_refuse('approvals are append-only');
CREATE TRIGGER manifests_no_truncate BEFORE TRUNCATE ON manifests
    FOR EACH STATEMENT EXECUTE FUNCTION aijia_refuse('manifests are append-only');
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger
    FOR EACH STATEMENT EXECUTE FUNCTION aijia_refuse('the evidence ledger is append-only');
CREATE TRIGGER ledger_seals_no_truncate BEFORE TRUNCATE ON ledger_seals
    FOR EACH STATEMENT EXECUTE FUNCTION aijia_refuse('ledger seals are append-only');
"""
