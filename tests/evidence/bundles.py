"""Bundles for the bundle tests: a realistic signed, timestamped one, and the tools of someone
who holds a copy and no key (unzip, edit, recompute every hash, re-sign with their own key).

The attacker works on a bundle as a dict of member name -> bytes, and zips it back.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.core.settings import EvidenceSettings
from agent.core.states import RunState
from evidence import verify_bundle as vb
from evidence.bundle import export_bundle
from evidence.signing import Signer
from evidence.store import EvidenceStore
from tests.evidence.conftest import full_run, new_run
from tests.evidence.tsa_server import LocalTSA

VERIFIER = Path(__file__).resolve().parents[2] / "evidence" / "verify_bundle.py"
Members = dict[str, bytes]


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[LocalTSA]:
    with LocalTSA(tmp_path / "tsa") as authority:
        yield authority


def timestamped_store(root: Path, tsa_url: str) -> EvidenceStore:
    settings = EvidenceSettings()
    settings.signing.tsa_url = tsa_url
    return EvidenceStore(root, settings)


def realistic_bundle(store: EvidenceStore, output: Path) -> tuple[Path, list[str]]:
    """Two runs of one case: a refund with a screenshot, a DOM snapshot, a gate, an approval
    and its outputs; and a lookup that ended early. Exported and signed."""
    first = full_run(store, "TICKET-9")
    second = new_run(store, case_id="TICKET-9")
    store.transition(second.run_id, RunState.PENDING, RunState.RUNNING)
    store.transition(second.run_id, RunState.RUNNING, RunState.FAILED, reason="site down")
    run_ids = [first.run_id, second.run_id]
    return export_bundle(store, run_ids, output).path, run_ids


def read_members(path: Path) -> Members:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def zip_members(members: Members) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def run_script(script: Path, bundle: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A verifier script in a fresh isolated Python, as a recipient would run it."""
    return subprocess.run(
        [sys.executable, "-I", str(script), str(bundle), *args],
        cwd=bundle.parent,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def detected(members: Members, key_id: str) -> bool:
    """Does the verifier (in process) refuse or flag this bundle?"""
    try:
        report = vb.check(io.BytesIO(zip_members(members)), (key_id,))
    except vb.Unreadable:
        return True
    return not report.ok


# --------------------------------------------------------------------- the attacker


def recompute(members: Members, signer: Signer | None = None) -> Members:
    """Make the bundle consistent again after an edit of actions.jsonl or any file, without
    the sender's key: re-chain every run, re-seal every manifest, update the file list, the
    roots and SHA256SUMS. With `signer` (the attacker's key) re-sign everything with it."""
    members = dict(members)
    manifest = json.loads(members["manifest.json"])
    lines = members["actions.jsonl"].decode().splitlines()
    events = [json.loads(line) for line in lines if line.strip()]
    out = []
    for run in manifest["runs"]:
        mine = [e for e in events if e.get("run_id") == run["run_id"]]
        prev = vb.GENESIS
        for seq, event in enumerate(mine, 1):
            event["seq"], event["prev_hash"] = seq, prev
            body = vb.canonical({k: event.get(k) for k in vb.PAYLOAD})
            event["hash"] = prev = vb.sha256_hex(prev + body)
        chain = [{"seq": e["seq"], "kind": e["kind"], "hash": e["hash"]} for e in mine]
        run.update(
            chain=chain, event_count=len(mine), head_hash=chain[-1]["hash"] if chain else None
        )
        for index, seal in enumerate(run["manifests"]):
            body = seal["manifest"]
            last = index == len(run["manifests"]) - 1
            count = len(mine) if last else min(body["event_count"], len(mine))
            shas = {sha for e in mine[:count] for sha in listed_artifacts(e)}
            body.update(
                event_count=count,
                chain=chain[:count],
                head_hash=chain[count - 1]["hash"] if count else None,
                artifacts=[a for a in body["artifacts"] if a["sha256"] in shas],
            )
            body["root_hash"] = seal["root_hash"] = vb.root_hash(body)
            if signer is not None:
                message = vb.root_message(run["run_id"], seal["n"], body["root_hash"])
                seal["signature"] = signer.sign(message)
        run["manifest"] = run["manifests"][-1]["manifest"] if run["manifests"] else None
        out += mine
    members["actions.jsonl"] = "".join(vb.canonical(e) + "\n" for e in out).encode()
    return reseal(members, manifest, signer)


def listed_artifacts(event: dict[str, Any]) -> list[str]:
    """The artifact hashes an event names, whatever an edit left in their place."""
    found = event.get("artifacts")
    return [sha for sha in found if isinstance(sha, str)] if isinstance(found, list) else []


def reseal(members: Members, manifest: dict[str, Any], signer: Signer | None = None) -> Members:
    """Write `manifest` back with every file entry, the root and SHA256SUMS recomputed (and,
    with `signer`, the keys list and the bundle signature)."""
    members = dict(members)
    files = manifest.get("files")
    entries = [e for e in files if isinstance(e, dict)] if isinstance(files, list) else []
    for entry in entries:
        if isinstance(entry.get("path"), str) and entry["path"] in members:
            data = members[entry["path"]]
            entry.update(sha256=vb.sha256_hex(data), size=len(data))
            if entry["path"] == "verify_bundle.py":
                manifest["verifier_sha256"] = entry["sha256"]
    if signer is not None:
        public = signer.sign(b"")["public_key"]
        manifest["keys"] = [
            {"key": signer.key_id, "public_key": public, "fingerprint": signer.fingerprint}
        ]
    manifest["root_hash"] = vb.bundle_root(manifest)
    if signer is not None:
        manifest["signature"] = signer.sign(vb.bundle_message(manifest["root_hash"]))
    members["manifest.json"] = vb.canonical(manifest).encode()
    members.pop("SHA256SUMS", None)
    members["SHA256SUMS"] = "".join(
        f"{vb.sha256_hex(data)}  {name}\n" for name, data in sorted(members.items())
    ).encode()
    return members
