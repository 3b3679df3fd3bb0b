"""Export runs as a bundle anyone can verify offline with `sha256sum` and plain Python.

Layout of the zip::

    manifest.json      every file (path, sha256, size), each run's chain and sealed manifest,
                       what was omitted or derived, and the bundle's root hash
    SHA256SUMS         `sha256sum -c SHA256SUMS` checks every other file
    VERIFY.md          how to check it, step by step
    verify_bundle.py   a standard-library-only verifier (imports nothing from Aijia)
    report.html        the timeline: steps, screenshots, URLs, values, gates, approvals
    actions.jsonl      every event, one JSON object a line, with prev_hash and hash
    screenshots/ thumbnails/ dom/ files/    the artifacts, named <sha256>.<ext>
    upload/            with --for PLATFORM: the files that fit that platform's limits

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
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.core.errors import EvidenceError
from evidence.api import ArtifactRef
from evidence.artifacts import extension_for
from evidence.dom import inert_dom
from evidence.hashing import canonical_json, manifest_root_hash, sha256_hex
from evidence.ids import utc_now
from evidence.profiles import Profile, fit_uploads
from evidence.report import render_report
from evidence.timeline import RunTimeline, build_timeline

if TYPE_CHECKING:
    from evidence.store import EvidenceStore

FORMAT = "aijia-evidence-bundle/1"
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
    """Write the bundle for `run_ids` to `output` (atomically); refuses a broken chain."""
    report = store.verify(list(run_ids))
    if not report.ok:
        raise EvidenceError(
            f"will not export: {report.breaks[0]}",
            hint="run `aijia evidence verify` and investigate before exporting",
        )
    timelines = [build_timeline(store, run_id) for run_id in run_ids]
    contents: dict[str, bytes] = {}
    files: list[dict[str, Any]] = []
    notes: list[str] = []

    def add(path: str, data: bytes, **extra: Any) -> None:
        contents[path] = data
        files.append({"path": path, "sha256": sha256_hex(data), "size": len(data), **extra})

    runs, actions = _chains(store, timelines)
    notes += [
        f"run {r['run_id']} is not finished: its chain is not sealed yet"
        for r in runs
        if r["manifest"] is None
    ]
    shas = list(
        dict.fromkeys(sha for t in timelines for e in t.entries for sha in e.event.artifacts)
    )
    refs = {sha: store.artifact(sha) for sha in shas}
    for sha, ref in refs.items():
        data = store.read_artifact(sha)
        add(bundle_path(ref), data, artifact=sha, kind=ref.kind)
        if is_page(ref):
            add(view_path(ref), _page_view(ref, data), derived_from=[sha], kind=f"{ref.kind}_view")
    add("actions.jsonl", ("\n".join(actions) + "\n").encode("utf-8"))
    add("verify_bundle.py", (HERE / "verify_bundle.py").read_bytes())
    add("VERIFY.md", _verify_md(profile).encode("utf-8"))

    profile_info = None
    if profile is not None:
        screenshots = [
            (
                e.screenshot.sha256,
                f"step-{t.run.run_id[-8:]}-{e.event.seq:03d}",
                store.read_artifact(e.screenshot.sha256),
            )
            for t in timelines
            for e in t.entries
            if e.screenshot is not None
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
        profile_info = {
            "name": profile.name,
            "title": profile.title,
            "accepted": list(profile.accepted),
            "max_file_bytes": profile.max_file_bytes,
            "max_total_bytes": profile.max_total_bytes,
            "max_files": profile.max_files,
            "upload_bytes": sum(len(u.data) for u in uploads),
        }

    html = render_report(
        timelines,
        image_src=lambda ref: bundle_path(ref) if ref.sha256 in refs else None,
        link_src=lambda ref: _link(ref) if ref.sha256 in refs else None,
        title=f"Evidence for {', '.join(run_ids)}"
        if len(run_ids) < 4
        else f"Evidence for {len(run_ids)} runs",
        notes=notes,
        local_images=True,
    )
    add("report.html", html.encode("utf-8"))
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created_at": utc_now(),
        "generator": "aijia",
        "hash_rule": "hash = sha256(prev_hash + canonical_json({run_id, seq, kind, data, "
        "artifacts, at})); first prev_hash = 64 zeros; canonical_json = json.dumps(value, "
        "sort_keys=True, separators=(',', ':'), ensure_ascii=False)",
        "runs": runs,
        "files": sorted(files, key=lambda f: f["path"]),
        "omitted": [],
        "profile": profile_info,
        "notes": notes,
    }
    manifest["root_hash"] = manifest_root_hash(manifest)
    contents["manifest.json"] = canonical_json(manifest).encode("utf-8")
    sums = "".join(f"{sha256_hex(data)}  {path}\n" for path, data in sorted(contents.items()))
    contents["SHA256SUMS"] = sums.encode("utf-8")
    size = _write_zip(output, contents)
    return ExportResult(
        output,
        manifest["root_hash"],
        tuple(run_ids),
        len(contents),
        size,
        profile.name if profile else None,
        tuple(notes),
    )


def _link(ref: ArtifactRef) -> str:
    """What report.html links for an artifact: a page's inert copy, else the file itself."""
    return view_path(ref) if is_page(ref) else bundle_path(ref)


def _chains(
    store: EvidenceStore, timelines: Sequence[RunTimeline]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Each run's chain summary for manifest.json, and every event as an actions.jsonl line."""
    runs, actions = [], []
    for t in timelines:
        events = store.events(t.run.run_id)
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
                "run_id": t.run.run_id,
                "recipe": t.run.recipe,
                "recipe_version": t.run.recipe_version,
                "site": t.run.site,
                "case_id": t.run.case_id,
                "state": t.run.state.value,
                "event_count": len(events),
                "head_hash": events[-1].hash if events else None,
                "chain": [{"seq": e.seq, "kind": e.kind, "hash": e.hash} for e in events],
                "manifest": store.manifest(t.run.run_id),
            }
        )
    return runs, actions


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
