"""Bundles: verifiable offline with the shipped stdlib-only script, and fit upload profiles."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import markupsafe
import pytest
from PIL import Image

from agent.core.errors import EvidenceError
from evidence.bundle import export_bundle, resolve_runs
from evidence.profiles import PROFILES, get_profile
from evidence.store import EvidenceStore
from tests.conftest import aijia_command
from tests.evidence import tampering
from tests.evidence.conftest import full_run, make_png


def run_verifier(bundle: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the bundle's own verify_bundle.py in isolated mode, away from the project."""
    with zipfile.ZipFile(bundle) as zf:
        script = cwd / "verify_bundle.py"
        script.write_bytes(zf.read("verify_bundle.py"))
    return subprocess.run(
        [sys.executable, "-I", "-S", str(script), str(bundle), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def rewrite(bundle: Path, change: dict[str, bytes | None]) -> None:
    """Replace (bytes) or remove (None) members of a zip."""
    with zipfile.ZipFile(bundle) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    for name, data in change.items():
        if data is None:
            members.pop(name)
        else:
            members[name] = data
    with zipfile.ZipFile(bundle, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


@pytest.fixture
def exported(store: EvidenceStore, tmp_path: Path) -> tuple[Path, str]:
    run = full_run(store)
    result = export_bundle(store, [run.run_id], tmp_path / "out" / "bundle.zip")
    return result.path, run.run_id


def test_fresh_bundle_verifies_with_plain_python(exported: tuple[Path, str], tmp_path: Path):
    bundle, _ = exported
    out = run_verifier(bundle, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("OK:")


def test_bundle_verifies_with_sha256sum_and_the_extracted_script(
    exported: tuple[Path, str], tmp_path: Path
) -> None:
    bundle, _ = exported
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(folder)
    if shutil.which("sha256sum"):
        sums = subprocess.run(
            ["sha256sum", "-c", "SHA256SUMS"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
        assert sums.returncode == 0, sums.stdout
    out = subprocess.run(
        [sys.executable, "-I", "-S", "verify_bundle.py"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout


def test_verifier_imports_nothing_from_the_project() -> None:
    source = (Path(__file__).parents[2] / "evidence" / "verify_bundle.py").read_text()
    imports = [
        line.split()[1].split(".")[0]
        for line in source.splitlines()
        if line.startswith(("import ", "from "))
    ]
    assert imports and set(imports) <= sys.stdlib_module_names | {"__future__"}, imports


def test_bundle_contents(exported: tuple[Path, str]) -> None:
    bundle, run_id = exported
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        report = zf.read("report.html").decode()
        actions = zf.read("actions.jsonl").decode().splitlines()
    assert {
        "manifest.json",
        "SHA256SUMS",
        "VERIFY.md",
        "verify_bundle.py",
        "report.html",
        "actions.jsonl",
    } <= names
    assert any(n.startswith("screenshots/") and n.endswith(".png") for n in names)
    assert any(n.startswith("dom/") and n.endswith(".html") for n in names)
    [run] = manifest["runs"]
    assert run["run_id"] == run_id and run["manifest"]["root_hash"] in report
    assert len(actions) == run["event_count"] == len(run["chain"])
    assert "Approved by sam" in report and "http://127.0.0.1:8700/order/2611" in report
    assert 'src="screenshots/' in report


@pytest.mark.parametrize(
    ("target", "how"),
    [
        ("screenshot", "flip"),
        ("actions.jsonl", "edit"),
        ("actions.jsonl", "drop_line"),
        ("actions.jsonl", "swap_lines"),
        ("manifest.json", "edit"),
        ("report.html", "remove"),
        ("extra.txt", "add"),
    ],
)
def test_tampered_bundle_fails(
    exported: tuple[Path, str], tmp_path: Path, target: str, how: str
) -> None:
    bundle, _ = exported
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        if target == "screenshot":
            target = next(n for n in names if n.startswith("screenshots/"))
        data = zf.read(target) if target in names else b""
    if how == "flip":
        change: bytes | None = data[:50] + bytes([data[50] ^ 1]) + data[51:]
    elif how == "edit" and target == "manifest.json":
        manifest = json.loads(data)
        manifest["runs"][0]["state"] = "failed"
        change = json.dumps(manifest).encode()
    elif how == "edit":
        change = data.replace(b"shipped", b"pending", 1)
    elif how == "drop_line":
        lines = data.splitlines(keepends=True)
        change = b"".join(lines[:3] + lines[4:])
    elif how == "swap_lines":
        lines = data.splitlines(keepends=True)
        lines[3], lines[4] = lines[4], lines[3]
        change = b"".join(lines)
    elif how == "remove":
        change = None
    else:
        change = b"smuggled in"
    rewrite(bundle, {target: change})
    out = run_verifier(bundle, tmp_path)
    assert out.returncode == 1, out.stdout
    assert "BROKEN" in out.stdout


def test_case_export_takes_every_run_of_the_case(store: EvidenceStore, tmp_path: Path) -> None:
    first, second = full_run(store, "T-7"), full_run(store, "T-7")
    full_run(store, "T-8")
    assert resolve_runs(store, case_id="T-7") == [first.run_id, second.run_id]
    result = export_bundle(store, resolve_runs(store, case_id="T-7"), tmp_path / "case.zip")
    assert result.run_ids == (first.run_id, second.run_id)
    assert run_verifier(result.path, tmp_path).returncode == 0
    with pytest.raises(EvidenceError, match="no runs"):
        resolve_runs(store, case_id="T-404")


def test_broken_store_is_not_exported(store: EvidenceStore, tmp_path: Path) -> None:
    run = full_run(store)
    tampering.delete_event(store.root, run.run_id, 3)
    with pytest.raises(EvidenceError, match=r"will not export.*row removed"):
        export_bundle(store, [run.run_id], tmp_path / "b.zip")
    assert not (tmp_path / "b.zip").exists()


def big_run(store: EvidenceStore, shots: int) -> str:
    """A run with several large screenshots; the first is noise, which compresses badly."""
    from evidence.events import PageReviewed

    run = full_run(store, case_id=None)
    for n in range(shots):
        if n == 0:
            image = Image.frombytes("RGB", (1280, 1600), os.urandom(1280 * 1600 * 3))
        else:
            image = Image.new("RGB", (1280, 1600), (n * 40 % 256, 120, 90))
        out = io.BytesIO()
        image.save(out, "PNG")
        refs = store.put_screenshot(out.getvalue())
        store.record(run.run_id, PageReviewed(url=f"http://x/{n}"), refs)
    return run.run_id


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profiles_fit_their_limits(store: EvidenceStore, tmp_path: Path, name: str) -> None:
    run_id = full_run(store, case_id=None).run_id
    profile = get_profile(name)
    result = export_bundle(store, [run_id], tmp_path / f"{name}.zip", profile=profile)
    with zipfile.ZipFile(result.path) as zf:
        uploads = {n: zf.read(n) for n in zf.namelist() if n.startswith("upload/")}
        manifest = json.loads(zf.read("manifest.json"))
    assert uploads
    assert sum(len(d) for d in uploads.values()) <= profile.max_total_bytes
    assert all(len(d) <= profile.max_file_bytes for d in uploads.values())
    types = {".pdf": "application/pdf", ".jpg": "image/jpeg", ".png": "image/png"}
    assert {types[Path(n).suffix] for n in uploads} <= set(profile.accepted)
    assert manifest["profile"]["name"] == name
    assert any("dom" in note for note in result.notes)
    assert run_verifier(result.path, tmp_path).returncode == 0


def test_tight_limits_downscale_then_drop_and_say_so(store: EvidenceStore, tmp_path: Path):
    run_id = big_run(store, shots=3)
    profile = replace(get_profile("shopee", max_file_mb=0.6, max_total_mb=1.2), max_files=4)
    result = export_bundle(store, [run_id], tmp_path / "tight.zip", profile=profile)
    assert any("downscaled" in n for n in result.notes)
    with zipfile.ZipFile(result.path) as zf:
        uploads = [zf.getinfo(n) for n in zf.namelist() if n.startswith("upload/")]
        report = zf.read("report.html").decode()
    assert sum(i.file_size for i in uploads) <= profile.max_total_bytes
    assert len(uploads) <= 4
    assert all(str(markupsafe.escape(n)) in report for n in result.notes)
    assert any(n.startswith("dropped screenshot") for n in result.notes), result.notes


def test_impossible_limits_are_an_error(store: EvidenceStore, tmp_path: Path) -> None:
    run_id = full_run(store, case_id=None).run_id
    with pytest.raises(EvidenceError, match="does not fit"):
        export_bundle(
            store, [run_id], tmp_path / "x.zip", profile=get_profile("stripe", max_total_mb=0.001)
        )


def test_unknown_profile() -> None:
    with pytest.raises(EvidenceError, match="unknown export profile"):
        get_profile("ebay")


def test_webp_store_exports_jpeg_uploads(tmp_path: Path) -> None:
    from agent.core.settings import EvidenceSettings

    with EvidenceStore(tmp_path / "ev", EvidenceSettings(screenshot_format="webp")) as store:
        run = full_run(store, case_id=None)
        store.put_screenshot(make_png())
        result = export_bundle(
            store, [run.run_id], tmp_path / "p.zip", profile=get_profile("paypal")
        )
    with zipfile.ZipFile(result.path) as zf:
        names = zf.namelist()
    assert any(n.startswith("screenshots/") and n.endswith(".webp") for n in names)
    assert any(n.startswith("upload/") and n.endswith(".jpg") for n in names)


def test_bundle_is_signed_and_names_its_key(
    store: EvidenceStore, exported: tuple[Path, str], tmp_path: Path
) -> None:
    bundle, _ = exported
    assert store.signer is not None
    with zipfile.ZipFile(bundle) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        verifier = zf.read("verify_bundle.py")
    assert manifest["signature"]["key"] == store.signer.key_id
    assert manifest["keys"] == [
        {
            "key": store.signer.key_id,
            "public_key": manifest["signature"]["public_key"],
            "fingerprint": store.signer.fingerprint,
        }
    ]
    assert manifest["verifier_sha256"] == hashlib.sha256(verifier).hexdigest()
    assert all(s["signature"] for s in manifest["runs"][0]["manifests"])
    out = run_verifier(bundle, tmp_path)
    assert store.signer.fingerprint in out.stdout and "compare this" in out.stdout
    good = run_verifier(bundle, tmp_path, "--key", store.signer.fingerprint)
    assert good.returncode == 0, good.stdout
    other = "SHA256:" + "ab12" * 16
    bad = run_verifier(bundle, tmp_path, "--key", other)
    assert bad.returncode == 1 and "not a key you trust" in bad.stdout, bad.stdout


def test_a_replaced_verifier_is_caught_by_aijia(
    store: EvidenceStore, exported: tuple[Path, str], tmp_path: Path
) -> None:
    """The bundle's own script cannot vouch for itself: a replaced one prints OK; the
    verifier of the recipient's own install names the replaced file."""
    bundle, _ = exported
    liar = b'print("OK: 9 file(s), 1 run(s); bundle root hash 0000")\n'
    rewrite(bundle, {"verify_bundle.py": liar})
    out = run_verifier(bundle, tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("OK")  # what the liar says
    assert store.signer is not None
    fp = store.signer.fingerprint
    checked = subprocess.run(
        [aijia_command(), "evidence", "verify-bundle", str(bundle), "--key", fp],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "verify_bundle.py: changed" in checked.stdout
    assert "not this install's" in checked.stdout


def test_a_running_run_is_exported_up_to_its_latest_seal(
    store: EvidenceStore, tmp_path: Path
) -> None:
    from agent.core.states import RunState
    from tests.evidence.conftest import new_run

    run = new_run(store)
    store.transition(run.run_id, RunState.PENDING, RunState.RUNNING)
    store.append_event(run.run_id, "step_started", {"step": 1})  # progress: not sealed
    result = export_bundle(store, [run.run_id], tmp_path / "running.zip")
    assert any("after its latest seal are not in this bundle" in n for n in result.notes)
    with zipfile.ZipFile(result.path) as zf:
        actions = zf.read("actions.jsonl").decode().splitlines()
    assert [json.loads(line)["kind"] for line in actions] == ["run_created", "state_changed"]
    assert run_verifier(result.path, tmp_path).returncode == 0
