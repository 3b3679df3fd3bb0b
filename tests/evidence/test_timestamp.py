"""RFC 3161 timestamps on sealed roots, against a real local TSA (`tests/evidence/tsa_server`).

Every seal of a store with `tsa_url` gets a token over SHA-256(root_message); the tokens
verify with rfc3161-client against the TSA's root and with the OpenSSL command VERIFY.md
gives; a TSA that fails or hangs costs a warning, never a write; a bundle carries the tokens
and `aijia evidence verify-bundle --tsa-ca` checks their signatures.
"""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from agent.core.settings import EvidenceSettings
from agent.core.states import RunState
from evidence.bundle import export_bundle
from evidence.signing import root_message
from evidence.store import EvidenceStore
from evidence.timestamp import check_token, load_roots
from tests.conftest import aijia_command
from tests.evidence.bundles import (
    VERIFIER,
    run_script,
    timestamped_store,
    tsa,  # noqa: F401 (a fixture)
)
from tests.evidence.conftest import full_run, new_run
from tests.evidence.tsa_server import OPENSSL, LocalTSA


def stamps(store: EvidenceStore) -> list[dict[str, object]]:
    return store.query("SELECT * FROM root_timestamps ORDER BY run_id, n")


def test_every_seal_is_timestamped_and_verifies(tsa: LocalTSA, tmp_path: Path) -> None:  # noqa: F811
    with timestamped_store(tmp_path / "evidence", tsa.url) as store:
        run = full_run(store)
        seals = store.query("SELECT n, root_hash FROM manifests WHERE run_id = ?", [run.run_id])
        rows = stamps(store)
    assert [(r["n"], r["root_hash"]) for r in rows] == [(s["n"], s["root_hash"]) for s in seals]
    assert tsa.answered == len(seals)
    roots = load_roots(tsa.ca_pem)
    for row in rows:
        token = base64.b64decode(str(row["token"]))
        found = check_token(token, run.run_id, int(str(row["n"])), str(row["root_hash"]))
        assert found.ok and not found.signature_checked and found.gen_time is not None
        found = check_token(
            token, run.run_id, int(str(row["n"])), str(row["root_hash"]), roots=roots
        )
        assert found.ok and found.signature_checked, found.problem
    first = rows[0]
    token = base64.b64decode(str(first["token"]))
    other = check_token(token, run.run_id, int(str(first["n"])) + 1, str(first["root_hash"]))
    assert other.problem == "it is a timestamp on another root"
    with LocalTSA(tmp_path / "another-tsa") as stranger:
        wrong = check_token(
            token,
            run.run_id,
            int(str(first["n"])),
            str(first["root_hash"]),
            roots=load_roots(stranger.ca_pem),
        )
    assert wrong.problem is not None and "signature" in wrong.problem


def test_openssl_verifies_a_token_as_verify_md_says(tsa: LocalTSA, tmp_path: Path) -> None:  # noqa: F811
    with timestamped_store(tmp_path / "evidence", tsa.url) as store:
        run = new_run(store)
        [row] = stamps(store)
    message = tmp_path / "root.txt"
    message.write_bytes(root_message(run.run_id, 1, str(row["root_hash"])))
    token = tmp_path / "token.tsr"
    token.write_bytes(base64.b64decode(str(row["token"])))
    command = [OPENSSL, "ts", "-verify", "-data", str(message), "-in", str(token)]
    good = subprocess.run([*command, "-CAfile", str(tsa.ca_pem)], capture_output=True, text=True)
    assert good.returncode == 0 and "Verification: OK" in good.stdout, good.stdout + good.stderr
    message.write_bytes(root_message(run.run_id, 2, str(row["root_hash"])))
    bad = subprocess.run([*command, "-CAfile", str(tsa.ca_pem)], capture_output=True, text=True)
    assert bad.returncode != 0


@pytest.mark.parametrize("mode", ["fail", "hang"])
def test_a_tsa_that_fails_costs_a_warning_not_a_write(
    tsa: LocalTSA,  # noqa: F811
    tmp_path: Path,
    mode: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tsa.mode = mode
    settings = EvidenceSettings()
    settings.signing.tsa_url = tsa.url
    settings.signing.tsa_timeout_s = 0.5
    started = time.monotonic()
    with caplog.at_level(logging.WARNING), EvidenceStore(tmp_path / "ev", settings) as store:
        run = new_run(store)
        store.transition(run.run_id, RunState.PENDING, RunState.RUNNING)
        assert store.verify([run.run_id]).ok
        assert len(store.query("SELECT * FROM manifests")) == 2
        assert stamps(store) == []
    assert time.monotonic() - started < 10
    assert "no timestamp for run" in caplog.text and tsa.url in caplog.text


def test_bundle_carries_tokens_and_aijia_checks_their_signatures(
    tsa: LocalTSA,  # noqa: F811
    tmp_path: Path,
) -> None:
    with timestamped_store(tmp_path / "evidence", tsa.url) as store:
        run = full_run(store)
        bundle = export_bundle(store, [run.run_id], tmp_path / "bundle.zip").path
        fingerprint = store.signer.fingerprint if store.signer else ""
    with zipfile.ZipFile(bundle) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        tokens = [n for n in zf.namelist() if n.startswith("timestamps/")]
    seals = manifest["runs"][0]["manifests"]
    assert len(tokens) == len(seals) and all(s["timestamp"]["path"] in tokens for s in seals)
    out = run_script(VERIFIER, bundle)
    assert out.returncode == 0 and f"{len(seals)} timestamped" in out.stdout, out.stdout

    def aijia(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                aijia_command(),
                "evidence",
                "verify-bundle",
                str(bundle),
                "--key",
                fingerprint,
                *args,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    good = aijia("--tsa-ca", str(tsa.ca_pem))
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"{len(seals)} timestamp token(s) verified" in good.stdout
    with LocalTSA(tmp_path / "another-tsa") as stranger:
        bad = aijia("--tsa-ca", str(stranger.ca_pem))
    assert bad.returncode == 1 and "signature does not verify" in bad.stdout, bad.stdout
