"""The HTML report: a self-contained timeline per run (Jinja2 template in templates/).

Everything in it from a seller site is escaped (autoescape) and nothing in it is active: a
Content-Security-Policy meta tag opens the head (no script, no load but its own screenshots),
and a page URL is a link only when it is an http(s) URL.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from evidence.api import ArtifactRef
from evidence.dom import INERT_CSP
from evidence.ids import utc_now
from evidence.timeline import RunTimeline, build_timeline

if TYPE_CHECKING:
    import jinja2

    from evidence.store import EvidenceStore


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        # By path, not PackageLoader: see evidence.bundle.HERE.
        loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(
    timelines: Sequence[RunTimeline],
    *,
    image_src: Callable[[ArtifactRef], str | None],
    link_src: Callable[[ArtifactRef], str | None],
    title: str,
    notes: Sequence[str] = (),
    bundle_root_hash: str | None = None,
    local_images: bool = False,
) -> str:
    """`image_src`/`link_src` say where a picture or a file is (relative path or data URI);
    `local_images` when pictures are files next to the report (a bundle), not data URIs."""
    # 'self' lets a bundle's report show its own screenshots (file: or the host serving it)
    csp = INERT_CSP.replace("img-src data:", "img-src 'self' data:") if local_images else INERT_CSP
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            timelines=timelines,
            image_src=image_src,
            link_src=link_src,
            title=title,
            notes=list(notes),
            bundle_root_hash=bundle_root_hash,
            generated_at=utc_now(),
            csp=csp,
            web_link=web_link,
        )
    )


def web_link(url: str) -> str | None:
    """`url` when it is a web page to link to; a seller's javascript:, data: or file: URL is
    shown as text only."""
    return url if url.strip().lower().startswith(("http://", "https://")) else None


def standalone_report(store: EvidenceStore, run_ids: Sequence[str]) -> str:
    """One HTML file with the screenshots embedded, for `aijia evidence report`."""

    def embed(ref: ArtifactRef) -> str:
        data = base64.b64encode(store.read_artifact(ref.sha256)).decode("ascii")
        return f"data:{ref.media_type};base64,{data}"

    timelines = [build_timeline(store, run_id) for run_id in run_ids]
    title = (
        f"Evidence for run {run_ids[0]}"
        if len(run_ids) == 1
        else f"Evidence for {len(run_ids)} runs"
    )
    return render_report(timelines, image_src=embed, link_src=lambda _ref: None, title=title)
