"""A run's screenshots as a reviewer needs them: what each one shows, in the order taken.

    shots = labelled_screenshots(store, run_id)
    shots[0].label   # "step 7 · order page"
    shots[1].label   # "step 11 · refund form (highlighted element outlined)"
    shots[1].name    # "step-11-refund-form-highlighted-element-outlined.png"

The label comes from the event the screenshot is attached to (`page_captured` from a
`screenshot` step or the capture policy, `failure_captured`, `handoff_requested`) and from the
step that took it: the first `step_finished` after it (read steps record only that one). The
same picture taken twice (the capture policy after a click, then a `screenshot` step on the
same page) is listed once, under the recipe's own label. Used by `aijia gates show`, gate
notices and the review console.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evidence.api import ArtifactRef, EventRecord
    from evidence.store import EvidenceStore

SHOWN_KINDS = ("screenshot", "screenshot_annotated")  # thumbnails are left out
EXTENSIONS = {"image/png": "png", "image/webp": "webp", "image/jpeg": "jpg"}
_CAPTURE_LABELS = {"failure_captured": "page when the run failed", "handoff_requested": "handoff"}


@dataclass(frozen=True)
class Screenshot:
    label: str  # what it shows: "step 7 · order page"
    name: str  # a file name with its extension: "step-7-order-page.png"
    path: str  # where the store keeps it, relative to the store root (no extension there)
    sha256: str
    media_type: str
    outlined: bool  # the annotated copy, with the step's highlighted element outlined
    named: bool  # labelled by the recipe (a `screenshot` step), not by the capture policy
    step: str | None  # "7"; "3.2" inside a block; "r2" in reconcile
    phase: str  # "prepare" (before the gate) or "commit" (after approval)
    page_title: str


def labelled_screenshots(store: EvidenceStore, run_id: str) -> list[Screenshot]:
    """Every screenshot of the run, labelled, in the order taken (each file once)."""
    events = store.events(run_id)
    found: dict[str, Screenshot] = {}
    phase = "prepare"
    for index, event in enumerate(events):
        if event.kind in ("approved", "commit_owner"):
            phase = "commit"
        named = _named(event)
        for sha in event.artifacts:
            if sha in found and (found[sha].named or not named):
                continue  # the same picture again: keep the recipe's label
            ref = store.artifact(sha)
            if ref.kind in SHOWN_KINDS:
                found[sha] = _labelled(event, _step_of(events, index), phase, named, ref)
    return list(found.values())


def _labelled(
    event: EventRecord, step: str | None, phase: str, named: bool, ref: ArtifactRef
) -> Screenshot:
    outlined = ref.kind == "screenshot_annotated"
    what = _what(event)
    label = f"step {step} · {what}" if step is not None else what
    if phase == "commit":
        label = f"after approval: {label}"
    if outlined:
        label += " (highlighted element outlined)"
    return Screenshot(
        label=label,
        name=_file_name(label, EXTENSIONS.get(ref.media_type, "bin")),
        path=ref.path,
        sha256=ref.sha256,
        media_type=ref.media_type,
        outlined=outlined,
        named=named,
        step=step,
        phase=phase,
        page_title=str(event.data.get("title") or ""),
    )


def _step_of(events: list[EventRecord], index: int) -> str | None:
    """The step that was running at `events[index]`: named in the event, else the next
    `step_finished` (a capture happens inside its step), else the last one before it."""
    own = events[index].data.get("step")
    if own is not None:
        return str(own)
    for event in events[index + 1 :]:
        if event.kind == "step_finished" and event.data.get("step") is not None:
            return str(event.data["step"])
    for event in reversed(events[:index]):
        if event.kind == "step_finished" and event.data.get("step") is not None:
            return str(event.data["step"])
    return None


def _named(event: EventRecord) -> bool:
    """A label the recipe gave (a `screenshot` step), not the capture policy's own."""
    label = str(event.data.get("label") or "")
    return event.kind == "page_captured" and bool(label) and not label.startswith("after step ")


def _what(event: EventRecord) -> str:
    label = str(event.data.get("label") or "")
    if event.kind in _CAPTURE_LABELS:
        return _CAPTURE_LABELS[event.kind]
    if not _named(event):  # the capture policy's own shot: say what the page was
        title = str(event.data.get("title") or "").strip()
        return f"page after the step{f': {title}' if title else ''}"
    return label.replace("_", " ").strip()


def _file_name(label: str, extension: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:80] or "screenshot"
    return f"{slug}.{extension}"
