"""Export runs as a bundle a third party can verify offline with plain Python, and trust.

Layout of the zip::

    manifest.json      every file (path, sha256, size); each run's chain and every sealed
                       manifest with its Ed25519 signature (and RFC 3161 token, if any); the
                       public keys with their fingerprints; the verifier's sha256; the
                       bundle's root hash, and the bundle signature over it
    SHA256SUMS         `sha256sum -c SHA256SUMS` checks every other file
    VERIFY.md          how to check it, step by step, and what to compare over another channel
    verify_bundle.py   a standard-library-only verifier (imports nothing from Aijia)
    report.html        the timeline: steps, screenshots, URLs, values, gates, approvals
    actions.jsonl      every event up to each run's latest seal, one JSON object a line
    timestamps/        <run_id>-<n>.tsr: the TSA's reply (RFC 3161) for sealed manifest n
    screenshots/ thumbnails/ dom/ files/    the artifacts, named <sha256>.<ext>
    upload/            with --for PLATFORM: the files that fit that platform's limits

What is trusted is the chain: gates, approvals and outputs are in it as events, and every
copy elsewhere (the run's recipe, site, case and state in manifest.json) is checked against
it. A run is exported up to its latest sealed manifest, so that manifest covers every event
in the bundle; events after it (a run still working) are left out and named in the notes.

    bundle root = sha256(canonical JSON of manifest.json without `root_hash`, `signature`)
    signature   = Ed25519 over "aijia-bundle/1\n<bundle root>" (`verify_bundle.bundle_message`)

Captured pages are inert in a bundle. A DOM snapshot is stored with the site's markup as it
was, scripts included, and that is what its event's hash covers; opened in a browser it would
run them. So each HTML artifact ships twice:

    dom/<sha256>.html.txt    the stored bytes, unchanged: their sha256 is the name and the one
                             the chain records (a .txt file a browser shows as text, never runs)
    dom/<sha256>.view.html   a copy to look at (`evidence.dom.inert_dom`): allow-list
                             sanitised, under a CSP forbidding scripts and every load; listed in
                             manifest.json with `derived_from` the snapshot's sha256

report.html links the views. Every HTML file in the bundle (the views, report.html) opens
with a Content-Security-Policy meta tag; report.html may load only its own screenshots.
Before it returns, `export_bundle` checks the zip it wrote with the verifier it ships.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from agent.core.errors import EvidenceError
from evidence import verify_bundle
from evidence.api import ArtifactRef, EventRecord
from evidence.artifacts import extension_for
from evidence.bundle_check import compiled_verify
from evidence.dom import inert_dom
from evidence.hashing import canonical_json, sha256_hex
from evidence.ids import utc_now
from evidence.profiles import Profile, fit_uploads
from evidence.report import render_report
from evidence.signing import fingerprint
from evidence.timeline import RunTimeline, build_timeline
from evidence.verify_bundle import bundle_message, bundle_root

if TYPE_CHECKING:
    from evidence.signing import Signer
    from evidence.store import EvidenceStore

FORMAT = verify_bundle.FORMAT
# Files next to this module, found by path: importlib.resources mistakes the package for a
# namespace package under setuptools' editable installs when run outside the project.
HERE = Path(__file__).resolve().parent
FOLDERS = {
    "screenshot": "screenshots",
    "screenshot_annotated": "screenshots",
    "thumbnail": "thumbnails",
    "dom": "dom",
}
STORED = (".png", ".webp", ".jpg", ".zip", ".pdf")  # already compressed: not deflated again


@dataclass(frozen=True)
class ExportResult:
    path: Path
    root_hash: str  # the bundle manifest's root hash
    run_ids: tuple[str, ...]
    files: int
    size: int  # bytes of the zip
    profile: str | None
    notes: tuple[str, ...]  # what was dropped, converted or downscaled, and why
    fingerprint: str = ""  # of the key that signed the bundle, to send over another channel


def is_page(ref: ArtifactRef) -> bool:
    """An artifact a browser would render as a web page (and run its scripts)."""
    return extension_for(ref.media_type) == ".html"


def bundle_path(ref: ArtifactRef) -> str:
    """Where the artifact's stored bytes go; a page as text, so nothing renders it."""
    extension = ".html.txt" if is_page(ref) else extension_for(ref.media_type)
    return f"{FOLDERS.get(ref.kind, 'files')}/{ref.sha256}{extension}"


def view_path(ref: ArtifactRef) -> str:
    """Where the inert copy of a page goes, next to its stored bytes."""
    return f"{FOLDERS.get(ref.kind, 'files')}/{ref.sha256}.view.html"


def _page_view(ref: ArtifactRef, data: bytes) -> bytes:
    note = (
        f"Inert copy of a page captured by Aijia: scripts, styles, frames, forms and remote "
        f"content removed, links kept only to web pages. The snapshot as recorded (its SHA-256 "
        f"is in the evidence chain) is {bundle_path(ref).rsplit('/', 1)[-1]}, as plain text."
    )
    return inert_dom(data.decode("utf-8", errors="replace"), note=note).encode("utf-8")


def resolve_runs(
    store: EvidenceStore, run_ids: Sequence[str] = (), case_id: str | None = None
) -> list[str]:
    """The runs to export: the given ones, or every run of the case, oldest first."""
    if case_id:
        runs = store.list_runs(case_id=case_id)
        if not runs:
            raise EvidenceError(
                f"case {case_id!r} has no runs in the evidence store {store.root}",
                hint="`aijia evidence list --case ID` shows a case's runs",
            )
        return [r.run_id for r in reversed(runs)]
    if not run_ids:
        raise EvidenceError("nothing to export", hint="name a RUN or pass --case ID")
    for run_id in run_ids:
        store.get_run(run_id)
    return list(run_ids)


def _verify_md(profile: Profile | None) -> str:
    text = (HERE / "templates" / "VERIFY.md").read_text("utf-8")
    if profile is not None:
        text += (
            f"\n## upload/\n\nThe files in `upload/` are made for {profile.title}'s upload "
            f"limits (about {profile.max_file_bytes / 2**20:.1f} MB a file, "
            f"{profile.max_total_bytes / 2**20:.1f} MB in all"
            + (f", {profile.max_files} files" if profile.max_files else "")
            + "). They are derived copies (summary pages, downscaled screenshots) and are\n"
            "listed in manifest.json with the artifacts they were made from; the originals "
            "are in this bundle for verification.\n"
        )
    return text


def export_bundle(
    store: EvidenceStore,
    run_ids: Sequence[str],
    output: Path,
    *,
    profile: Profile | None = None,
) -> ExportResult:
    """Write the bundle for `run_ids` to `output` (atomically), signed with the store's key;
    refuses a store that does not verify, and a bundle that would not."""
    report = store.verify(list(run_ids))
    if not report.ok:
        raise EvidenceError(
            f"will not export: {report.breaks[0]}",
            hint="run `aijia evidence verify` and investigate before exporting",
        )
    signer = _signer(store)
    timelines = [build_timeline(store, run_id) for run_id in run_ids]
    contents: dict[str, bytes] = {}
    files: list[dict[str, Any]] = []
    notes: list[str] = []

    def add(path: str, data: bytes, **extra: Any) -> None:
        contents[path] = data
        files.append({"path": path, "sha256": sha256_hex(data), "size": len(data), **extra})

    runs, actions, tokens, tails = _chains(store, run_ids)
    notes += tails
    for path, token in tokens.items():
        add(path, token, kind="timestamp")
    shas = list(dict.fromkeys(sha for line in actions for sha in json.loads(line)["artifacts"]))
    refs = {sha: store.artifact(sha) for sha in shas}
    for sha, ref in refs.items():
        data = store.read_artifact(sha)
        add(bundle_path(ref), data, artifact=sha, kind=ref.kind)
        if is_page(ref):
            add(view_path(ref), _page_view(ref, data), derived_from=[sha], kind=f"{ref.kind}_view")
    add("actions.jsonl", ("\n".join(actions) + "\n").encode("utf-8"))
    verifier = (HERE / "verify_bundle.py").read_bytes()
    add("verify_bundle.py", verifier)
    add("VERIFY.md", _verify_md(profile).encode("utf-8"))

    profile_info = None
    if profile is not None:
        profile_info = _fit_profile(store, profile, timelines, refs, add, notes)

    html = render_report(
        timelines,
        image_src=lambda ref: bundle_path(ref) if ref.sha256 in refs else None,
        link_src=lambda ref: _link(ref) if ref.sha256 in refs else None,
        title=f"Evidence for {', '.join(run_ids)}"
        if len(run_ids) < 4
        else f"Evidence for {len(run_ids)} runs",
        notes=[*notes, f"signed with the key {signer.fingerprint}"],
        local_images=True,
    )
    add("report.html", html.encode("utf-8"))
    keys = {
        seal["signature"]["key"]: seal["signature"]["public_key"]
        for run in runs
        for seal in run["manifests"]
        if seal["signature"]
    }
    keys[signer.key_id] = base64.b64encode(signer.public_raw).decode("ascii")
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created_at": utc_now(),
        "generator": "aijia",
        "hash_rule": "hash = sha256(prev_hash + canonical_json({run_id, seq, kind, data, "
        "artifacts, at})); first prev_hash = 64 zeros; canonical_json = json.dumps(value, "
        "sort_keys=True, separators=(',', ':'), ensure_ascii=False)",
        "signature_rule": "Ed25519; a sealed manifest signs 'aijia-root/1\\n<run_id>\\n<n>"
        "\\n<root_hash>', the bundle 'aijia-bundle/1\\n<root_hash>'; an RFC 3161 token's "
        "message imprint is the SHA-256 of its manifest's signed message",
        "keys": [
            {"key": kid, "public_key": public, "fingerprint": fingerprint(kid)}
            for kid, public in sorted(keys.items())
        ],
        "verifier_sha256": sha256_hex(verifier),
        "runs": runs,
        "files": sorted(files, key=lambda f: f["path"]),
        "omitted": [],
        "profile": profile_info,
        "notes": notes,
    }
    manifest["root_hash"] = bundle_root(manifest)
    manifest["signature"] = signer.sign(bundle_message(manifest["root_hash"]))
    contents["manifest.json"] = canonical_json(manifest).encode("utf-8")
    sums = "".join(f"{sha256_hex(data)}  {path}\n" for path, data in sorted(contents.items()))
    contents["SHA256SUMS"] = sums.encode("utf-8")
    size = _write_zip(output, contents)
    _check_written(output)
    return ExportResult(
        output,
        manifest["root_hash"],
        tuple(run_ids),
        len(contents),
        size,
        profile.name if profile else None,
        tuple(notes),
        signer.fingerprint,
    )


def _signer(store: EvidenceStore) -> Signer:
    """The store's signing key, which signs the bundle as it signs seals."""
    signer = getattr(store, "signer", None)
    if signer is None:
        problem = getattr(store, "signer_problem", None) or "no signing key"
        raise EvidenceError(
            f"cannot sign the bundle: {problem}",
            hint="`aijia keys init` creates the signing key (evidence.signing.key_file)",
        )
    return cast("Signer", signer)


def _check_written(output: Path) -> None:
    """Never hand out a bundle its own verifier rejects: check it, remove it if it fails."""
    try:
        problems = verify_bundle.check(str(output), verify=compiled_verify).problems
    except verify_bundle.Unreadable as exc:
        problems = [str(exc)]
    if problems:
        output.unlink(missing_ok=True)
        raise EvidenceError(
            f"the bundle {output} does not verify: {problems[0]}",
            hint="this is a bug in Aijia's export; the bundle was removed",
        )


def _fit_profile(
    store: EvidenceStore,
    profile: Profile,
    timelines: Sequence[RunTimeline],
    refs: dict[str, ArtifactRef],
    add: Callable[..., None],
    notes: list[str],
) -> dict[str, Any]:
    """The upload/ folder for a platform's limits; what was dropped or converted, in notes."""
    screenshots = [
        (
            e.screenshot.sha256,
            f"step-{t.run.run_id[-8:]}-{e.event.seq:03d}",
            store.read_artifact(e.screenshot.sha256),
        )
        for t in timelines
        for e in t.entries
        if e.screenshot is not None and e.screenshot.sha256 in refs
    ]
    uploads, fit_notes = fit_uploads(profile, timelines, screenshots)
    notes += fit_notes
    other = sorted({r.kind for r in refs.values() if r.kind not in FOLDERS or r.kind == "dom"})
    if other:
        notes.append(
            f"{', '.join(other)} files are not accepted by {profile.title}: "
            "they are in the bundle for verification, not in upload/"
        )
    for up in uploads:
        add(f"upload/{up.name}", up.data, derived_from=list(up.derived_from))
    return {
        "name": profile.name,
        "title": profile.title,
        "accepted": list(profile.accepted),
        "max_file_bytes": profile.max_file_bytes,
        "max_total_bytes": profile.max_total_bytes,
        "max_files": profile.max_files,
        "upload_bytes": sum(len(u.data) for u in uploads),
    }


def _link(ref: ArtifactRef) -> str:
    """What report.html links for an artifact: a page's inert copy, else the file itself."""
    return view_path(ref) if is_page(ref) else bundle_path(ref)


def _seals(store: EvidenceStore, run_id: str) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    """Every sealed manifest of the run with its signature and timestamp; the token files."""
    stamps = {
        (row["n"], row["root_hash"]): row
        for row in store.query(
            "SELECT n, root_hash, tsa_url, token, at FROM root_timestamps WHERE run_id = ?",
            [run_id],
        )
    }
    seals, tokens = [], {}
    rows = store.query(
        "SELECT n, root_hash, manifest, at, signature FROM manifests WHERE run_id = ? ORDER BY n",
        [run_id],
    )
    for row in rows:
        stamp = stamps.get((row["n"], row["root_hash"]))
        timestamp = None
        if stamp is not None:
            path = f"timestamps/{run_id}-{row['n']}.tsr"
            tokens[path] = base64.b64decode(stamp["token"])
            timestamp = {"path": path, "tsa_url": stamp["tsa_url"], "at": stamp["at"]}
        seals.append(
            {
                "n": row["n"],
                "root_hash": row["root_hash"],
                "at": row["at"],
                "manifest": json.loads(row["manifest"]),
                "signature": json.loads(row["signature"]) if row["signature"] else None,
                "timestamp": timestamp,
            }
        )
    return seals, tokens


def _chains(
    store: EvidenceStore, run_ids: Sequence[str]
) -> tuple[list[dict[str, Any]], list[str], dict[str, bytes], list[str]]:
    """Each run's entry for manifest.json, its events (up to its latest seal) as
    actions.jsonl lines, the timestamp token files, and notes on what was left out."""
    runs, actions, tokens, notes = [], [], {}, []
    for run_id in run_ids:
        run = store.get_run(run_id)
        seals, run_tokens = _seals(store, run_id)
        if not seals:
            raise EvidenceError(
                f"will not export run {run_id}: it has no sealed manifest yet",
                hint="a run is sealed at each decision and when it ends; export it then",
            )
        tokens.update(run_tokens)
        all_events = store.events(run_id)
        covered = seals[-1]["manifest"]["event_count"]
        events = all_events[:covered]
        if len(all_events) > covered:
            notes.append(
                f"run {run_id} is still running: its {len(all_events) - covered} event(s) "
                "after its latest seal are not in this bundle"
            )
        actions += [
            canonical_json(
                {
                    "run_id": e.run_id,
                    "seq": e.seq,
                    "kind": e.kind,
                    "data": dict(e.data),
                    "artifacts": list(e.artifacts),
                    "at": e.at,
                    "prev_hash": e.prev_hash,
                    "hash": e.hash,
                }
            )
            for e in events
        ]
        runs.append(
            {
                "run_id": run_id,
                "recipe": run.recipe,
                "recipe_version": run.recipe_version,
                "site": run.site,
                "case_id": run.case_id,
                "state": _state(events),
                "event_count": len(events),
                "head_hash": events[-1].hash if events else None,
                "chain": [{"seq": e.seq, "kind": e.kind, "hash": e.hash} for e in events],
                "manifest": seals[-1]["manifest"],
                "manifests": seals,
            }
        )
    return runs, actions, tokens, notes


def _state(events: Sequence[EventRecord]) -> str:
    """The run's state as its chain says (the last state change in it)."""
    state = "pending"
    for event in events:
        if event.kind == "state_changed":
            state = str(event.data.get("to_state", state))
    return state


def _write_zip(output: Path, contents: dict[str, bytes]) -> int:
    output.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(prefix=".bundle-", suffix=".zip", dir=output.parent)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w") as zf:
            for path in sorted(contents):
                method = zipfile.ZIP_STORED if path.endswith(STORED) else zipfile.ZIP_DEFLATED
                info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = method
                info.external_attr = 0o644 << 16
                zf.writestr(info, contents[path])
        os.replace(temp, output)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise EvidenceError(f"could not write the bundle {output}: {exc}") from exc
    return output.stat().st_size
