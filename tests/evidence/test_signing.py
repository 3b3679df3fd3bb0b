"""Seals are signed with a key kept outside the store; verify trusts only the keys it should;
`aijia keys init/show` manage the key."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from agent.core.errors import EvidenceError
from agent.core.settings import EvidenceSettings, SigningSettings
from agent.core.states import RunState
from cli import app
from evidence.signing import check_signature, fingerprint, read_key, root_message
from evidence.store import EvidenceStore
from tests.evidence import tampering
from tests.evidence.conftest import full_run, new_run

runner = CliRunner()


def settings_with(key: Path, **signing: object) -> EvidenceSettings:
    return EvidenceSettings(signing=SigningSettings(key_file=key, **signing))  # type: ignore[arg-type]


def test_every_manifest_is_signed_by_the_configured_key(store: EvidenceStore) -> None:
    run = full_run(store)
    rows = store.query("SELECT * FROM manifests WHERE run_id = ? ORDER BY n", [run.run_id])
    assert len(rows) >= 3  # sealed at creation, at each decision and at the end
    assert store.signer is not None
    for row in rows:
        record = json.loads(row["signature"])
        message = root_message(run.run_id, row["n"], row["root_hash"])
        assert check_signature(record, message, {store.signer.key_id}) is None
    # the latest covers the whole chain: a finished run is fully sealed
    assert json.loads(rows[-1]["manifest"])["event_count"] == len(store.events(run.run_id))
    report = store.verify()
    assert report.ok and report.trusted_keys == [store.signer.fingerprint]


def test_a_running_run_has_an_unsealed_tail_a_paused_one_has_none(store: EvidenceStore) -> None:
    run = new_run(store)
    store.transition(run.run_id, RunState.PENDING, RunState.RUNNING)
    store.append_event(run.run_id, "step_started", {"step": 1})
    assert store.verify().unsealed == [run.run_id]
    store.transition(run.run_id, RunState.RUNNING, RunState.PAUSED)
    report = store.verify()
    assert report.ok and report.unsealed == []


def test_a_paused_run_with_an_unsealed_tail_is_a_break(store: EvidenceStore) -> None:
    run = new_run(store)
    store.transition(run.run_id, RunState.PENDING, RunState.RUNNING)
    store.transition(run.run_id, RunState.RUNNING, RunState.PAUSED)
    with tampering.connect(store.root) as conn:  # the last seal removed
        conn.execute(
            "DELETE FROM manifests WHERE run_id = ? AND n = "
            "(SELECT MAX(n) FROM manifests WHERE run_id = ?)",
            [run.run_id, run.run_id],
        )
    [found] = [b for b in store.verify([run.run_id]).breaks if b.run_id == run.run_id]
    assert found.what == "not sealed"


def test_signatures_by_another_key_are_refused_unless_listed(tmp_path: Path) -> None:
    old_key, new_key = tmp_path / "keys" / "old.key", tmp_path / "keys" / "new.key"
    root = tmp_path / "evidence"
    with EvidenceStore(root, settings_with(old_key)) as store:
        run = full_run(store)
        old = store.signer
    assert old is not None and stat.S_IMODE(os.stat(old_key).st_mode) == 0o600
    with EvidenceStore(root, settings_with(new_key)) as store:  # the key was rotated
        report = store.verify([run.run_id])
    assert not report.ok and report.breaks[0].what == "signature invalid"
    assert "untrusted key" in report.breaks[0].detail and old.fingerprint in report.breaks[0].detail
    rotated = settings_with(new_key, trusted_keys=[old.fingerprint])
    with EvidenceStore(root, rotated) as store:
        report = store.verify()
        assert report.ok, report.breaks
        assert sorted(report.trusted_keys) == sorted(
            [old.fingerprint, fingerprint(read_key(new_key).key_id)]
        )


def test_trusted_keys_must_be_fingerprints() -> None:
    with pytest.raises(ValidationError, match="not a key fingerprint"):
        SigningSettings(trusted_keys=["SHA256:abcd"])
    assert SigningSettings(trusted_keys=["SHA256:" + "ab12" * 16]).trusted_keys


def test_without_a_key_a_store_reads_but_refuses_to_seal(tmp_path: Path) -> None:
    settings = settings_with(tmp_path / "none.key", create_key=False)
    with EvidenceStore(tmp_path / "evidence", settings) as store:
        assert store.verify().ok  # reading and verifying need no private key
        with pytest.raises(EvidenceError, match="cannot seal") as caught:
            new_run(store)
        assert "aijia keys init" in str(caught.value)
        assert store.list_runs() == []  # nothing half-written


def test_a_key_inside_the_store_or_readable_by_others_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "evidence"
    with pytest.raises(EvidenceError, match="inside the evidence store"):
        EvidenceStore(root, settings_with(root / "signing.key"))
    key = tmp_path / "open.key"
    with EvidenceStore(tmp_path / "other", settings_with(key)):
        pass
    os.chmod(key, 0o644)
    with pytest.raises(EvidenceError, match="readable by others"):
        EvidenceStore(tmp_path / "other", settings_with(key))


def test_keys_init_and_show(tmp_path: Path) -> None:
    key = tmp_path / "cfg" / "aijia" / "signing.key"
    config = tmp_path / "config.yaml"
    config.write_text(f"data_dir: var\nevidence:\n  signing:\n    key_file: {key}\n")
    result = runner.invoke(app, ["keys", "init", "--json", "-c", str(config)])
    assert result.exit_code == 0, result.output
    made = json.loads(result.output)
    assert made["path"] == str(key) and stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert made["fingerprint"] == fingerprint(read_key(key).key_id)
    again = runner.invoke(app, ["keys", "init", "-c", str(config)])
    assert again.exit_code == 7 and "never overwritten" in again.output
    shown = runner.invoke(app, ["keys", "show", "-c", str(config)])
    assert shown.exit_code == 0 and made["fingerprint"] in shown.output
    assert made["public_key"] in shown.output and "PRIVATE" not in shown.output
    key.unlink()
    missing = runner.invoke(app, ["keys", "show", "-c", str(config)])
    assert missing.exit_code == 7 and "aijia keys init" in missing.output
