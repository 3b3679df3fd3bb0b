"""Hostile bundles are refused fast: exit 2, the file named, no traceback.

A corpus of files built to hurt a verifier (not a zip, truncated, zip bombs with honest and
with lying sizes, a member declaring 600 MB, 20 001 members, '..', absolute and control-
character names, a name twice, non-UTF-8, non-JSON, NaN and deeply nested manifests, binary
junk in actions.jsonl) goes through the bundle's own `python3 -I verify_bundle.py` and
through `aijia evidence verify-bundle`; each must be refused within two seconds of work.
"""

from __future__ import annotations

import io
import struct
import subprocess
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from evidence import verify_bundle as vb
from tests.conftest import aijia_command
from tests.evidence.bundles import VERIFIER, run_script

MANIFEST = b'{"format":"aijia-evidence-bundle/2"}'


def zipped(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return out.getvalue()


def lying_sizes(data: bytes, declared: int) -> bytes:
    """Patch every header of a one-member zip to declare `declared` uncompressed bytes."""
    out = bytearray(data)
    local = out.find(b"PK\x03\x04")
    struct.pack_into("<I", out, local + 22, declared)
    central = out.find(b"PK\x01\x02")
    struct.pack_into("<I", out, central + 24, declared)
    return bytes(out)


def bomb() -> bytes:
    return zipped({"manifest.json": MANIFEST, "actions.jsonl": b"\0" * (64 * 2**20)})


def many_members() -> bytes:
    return zipped({f"f/{i}": b"" for i in range(vb.MAX_MEMBERS + 1)}, zipfile.ZIP_STORED)


def twice() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("manifest.json", MANIFEST)
        with pytest.warns(UserWarning, match="Duplicate name"):
            zf.writestr("manifest.json", b"{}")
    return out.getvalue()


CORPUS: dict[str, Callable[[], bytes]] = {
    "not-a-zip": lambda: b"%PDF-1.7\n" + bytes(range(256)) * 40,
    "empty": lambda: b"",
    "truncated": lambda: zipped({"manifest.json": MANIFEST, "a.txt": bytes(range(256)) * 20})[:-40],
    "zip-bomb": bomb,
    "zip-bomb-lying-size": lambda: lying_sizes(zipped({"manifest.json": b"\0" * 2**24}), 100),
    "huge-member": lambda: lying_sizes(zipped({"manifest.json": MANIFEST}), 600 * 2**20),
    "many-members": many_members,
    "dot-dot": lambda: zipped({"manifest.json": MANIFEST, "../../etc/evil": b"x"}),
    "absolute": lambda: zipped({"manifest.json": MANIFEST, "/etc/cron.d/evil": b"x"}),
    "control-name": lambda: zipped({"manifest.json": MANIFEST, "a\x1b]0;pwned\x07": b"x"}),
    "name-twice": twice,
    "not-utf8": lambda: zipped({"manifest.json": b'{"format":"\xff\xfe"}'}),
    "not-json": lambda: zipped({"manifest.json": b"{format: bundle"}),
    "nan": lambda: zipped({"manifest.json": b'{"format":NaN}'}),
    "deep-json": lambda: zipped({"manifest.json": b"[" * 200000 + b"]" * 200000}),
    "deep-json-below-recursion": lambda: zipped({"manifest.json": b"[" * 500 + b"]" * 500}),
    "no-manifest": lambda: zipped({"README": b"hello"}),
    "binary-actions": lambda: zipped(
        {
            "manifest.json": vb.canonical(
                {"format": vb.FORMAT, "files": [], "runs": [], "omitted": []}
            ).encode(),
            "actions.jsonl": bytes(range(256)) + b"\n",
        }
    ),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    for name, make in CORPUS.items():
        (folder / f"{name}.zip").write_bytes(make())
    return folder


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_hostile_bundle_is_refused_fast(corpus: Path, name: str) -> None:
    bundle = corpus / f"{name}.zip"
    started = time.monotonic()
    with pytest.raises(vb.Unreadable) as refused:
        vb.check(str(bundle))
    assert time.monotonic() - started < 2, f"{name}: took too long to refuse"
    assert str(bundle) in str(refused.value)

    out = run_script(VERIFIER, bundle)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stdout.startswith("UNREADABLE: ") and str(bundle) in out.stdout, out.stdout
    assert "Traceback" not in out.stdout + out.stderr
    assert "\x1b" not in out.stdout and "\x07" not in out.stdout


@pytest.mark.parametrize("name", ["zip-bomb", "dot-dot", "deep-json", "control-name"])
def test_aijia_refuses_hostile_bundles(corpus: Path, name: str) -> None:
    bundle = corpus / f"{name}.zip"
    out = subprocess.run(
        [aijia_command(), "evidence", "verify-bundle", str(bundle), "--key", "SHA256:" + "0" * 64],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert "bundle refused" in out.stderr and bundle.name in out.stderr, out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert "\x1b" not in out.stderr
