"""Upload profiles: what a marketplace or payment provider accepts as dispute evidence.

The limits are public numbers from each platform's help pages, approximate and changing over
time; they are deliberately conservative. Override them per export (`--max-file-mb`,
`--max-total-mb`, or a `Profile` of your own) when a platform tells you otherwise.

    stripe   dispute evidence: PDF, JPEG or PNG; about 4.5 MB for all files together
             (Stripe asks for one combined document, so everything goes into one PDF).
    paypal   Resolution Center: JPG, GIF, PNG or PDF; about 10 MB per file.
    amazon   Seller Central case / A-to-z claim attachments: PDF, JPG, PNG, GIF, TXT;
             about 10 MB per file and a handful of files per message.
    shopee   return/refund dispute: images only (JPG/PNG), about 2 MB each, up to ~8 images.

`fit_uploads` turns a run's timeline into files that satisfy a profile: summary pages
(rendered with Pillow) and screenshots, converted, downscaled and, as a last resort, dropped,
saying each time what it did.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from agent.core.errors import EvidenceError

if TYPE_CHECKING:
    from PIL.Image import Image

    from evidence.timeline import RunTimeline

MB = 1024 * 1024


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    accepted: tuple[str, ...]  # media types the platform takes
    max_file_bytes: int
    max_total_bytes: int
    max_files: int | None
    combine: bool  # one PDF with summary and screenshots, instead of separate files


PROFILES: dict[str, Profile] = {
    "stripe": Profile(
        "stripe",
        "Stripe",
        ("application/pdf", "image/jpeg", "image/png"),
        int(4.5 * MB),
        int(4.5 * MB),
        None,
        combine=True,
    ),
    "paypal": Profile(
        "paypal",
        "PayPal",
        ("application/pdf", "image/jpeg", "image/png", "image/gif"),
        10 * MB,
        50 * MB,
        10,
        combine=False,
    ),
    "amazon": Profile(
        "amazon",
        "Amazon Seller Central",
        ("application/pdf", "image/jpeg", "image/png", "image/gif", "text/plain"),
        10 * MB,
        30 * MB,
        5,
        combine=False,
    ),
    "shopee": Profile(
        "shopee",
        "Shopee",
        ("image/jpeg", "image/png"),
        2 * MB,
        16 * MB,
        8,
        combine=False,
    ),
}

# (scale, JPEG quality) tried in order until everything fits.
LADDER = ((1.0, 85), (0.8, 80), (0.65, 75), (0.5, 70), (0.4, 60), (0.3, 50))
PAGE = (1240, 1754)  # A4 at 150 dpi
MARGIN = 70
LINE = 26
WRAP = 92


def get_profile(
    name: str, *, max_file_mb: float | None = None, max_total_mb: float | None = None
) -> Profile:
    try:
        profile = PROFILES[name]
    except KeyError:
        raise EvidenceError(
            f"unknown export profile {name!r}", hint=f"use one of: {', '.join(PROFILES)}"
        ) from None
    if max_file_mb is not None:
        profile = replace(profile, max_file_bytes=int(max_file_mb * MB))
    if max_total_mb is not None:
        profile = replace(profile, max_total_bytes=int(max_total_mb * MB))
    return profile


@dataclass(frozen=True)
class Upload:
    name: str  # file name inside upload/
    media_type: str
    data: bytes
    derived_from: tuple[str, ...]  # sha256 of the artifacts it shows


def summary_lines(timelines: Sequence[RunTimeline]) -> list[str]:
    lines: list[str] = []
    for t in timelines:
        r = t.run
        lines += [
            f"Run {r.run_id}: {r.recipe} v{r.recipe_version} on {r.site}",
            f"Case {r.case_id or '-'}; state {r.state.value}; created {r.created_at}",
            f"Manifest root hash {t.root_hash or 'not sealed'}",
            "",
        ]
        for question, entries in t.answers.items():
            lines.append(question)
            lines += [f"  - {e.title} (step {e.event.seq})" for e in entries] or ["  - none"]
        lines += ["", "Timeline"]
        for e in t.entries:
            lines.append(f"#{e.event.seq} {e.event.at} {e.title}")
            if e.url:
                lines.append(f"    {e.url}")
            lines += [f"    {k}: {v}" for k, v in e.values.items()]
        lines.append("")
    return lines


def render_pages(lines: Sequence[str]) -> list[Image]:
    """Text pages as images (readable anywhere, no fonts needed by the platform)."""
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont

    font = ImageFont.load_default(size=18)
    # The built-in font has no arrows; keep the summary plain.
    plain = [line.replace("→", "->") for line in lines]
    wrapped = [w for line in plain for w in (textwrap.wrap(line, WRAP) or [""])]
    per_page = (PAGE[1] - 2 * MARGIN) // LINE
    pages = []
    for start in range(0, max(len(wrapped), 1), per_page):
        page = PILImage.new("RGB", PAGE, "white")
        draw = ImageDraw.Draw(page)
        for i, text in enumerate(wrapped[start : start + per_page]):
            draw.text((MARGIN, MARGIN + i * LINE), text, fill="black", font=font)
        pages.append(page)
    return pages


def _scaled(image: Image, scale: float) -> Image:
    rgb = image.convert("RGB")
    if scale >= 1.0:
        return rgb
    size = (max(1, int(rgb.width * scale)), max(1, int(rgb.height * scale)))
    return rgb.resize(size)


def _encode(image: Image, media_type: str, quality: int) -> bytes:
    out = io.BytesIO()
    if media_type == "image/png":
        image.save(out, "PNG", optimize=True)
    else:
        image.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()


def _pdf(images: Sequence[Image], quality: int) -> bytes:
    out = io.BytesIO()
    images[0].save(
        out, "PDF", save_all=True, append_images=list(images[1:]), resolution=150, quality=quality
    )
    return out.getvalue()


def _build(
    profile: Profile,
    pages: Sequence[Image],
    shots: Sequence[tuple[str, str, Image]],
    scale: float,
    quality: int,
) -> list[Upload]:
    image_type = "image/jpeg" if "image/jpeg" in profile.accepted else "image/png"
    pdf_ok = "application/pdf" in profile.accepted
    all_shas = tuple(sha for sha, _, _ in shots)
    if profile.combine and pdf_ok:
        images = [*pages, *(_scaled(img, scale) for _, _, img in shots)]
        return [Upload("evidence.pdf", "application/pdf", _pdf(images, quality), all_shas)]
    uploads = []
    if pdf_ok:
        uploads.append(Upload("summary.pdf", "application/pdf", _pdf(pages, quality), ()))
    else:
        ext = ".jpg" if image_type == "image/jpeg" else ".png"
        uploads += [
            Upload(f"summary-{i}{ext}", image_type, _encode(p, image_type, quality), ())
            for i, p in enumerate(pages, start=1)
        ]
    ext = ".jpg" if image_type == "image/jpeg" else ".png"
    for sha, label, img in shots:
        data = _encode(_scaled(img, scale), image_type, quality)
        uploads.append(Upload(f"{label}{ext}", image_type, data, (sha,)))
    return uploads


def _fits(profile: Profile, uploads: Sequence[Upload]) -> bool:
    return (
        all(len(u.data) <= profile.max_file_bytes for u in uploads)
        and sum(len(u.data) for u in uploads) <= profile.max_total_bytes
        and (profile.max_files is None or len(uploads) <= profile.max_files)
    )


def fit_uploads(
    profile: Profile,
    timelines: Sequence[RunTimeline],
    screenshots: Sequence[tuple[str, str, bytes]],
) -> tuple[list[Upload], list[str]]:
    """Files for `profile` from summary pages and (sha256, label, bytes) screenshots.

    Returns the uploads and notes saying what was converted, downscaled or dropped.
    """
    from PIL import Image as PILImage

    notes: list[str] = []
    pages = render_pages(summary_lines(timelines))
    shots = [(sha, label, PILImage.open(io.BytesIO(data))) for sha, label, data in screenshots]
    kept = list(shots)
    pdf_ok = "application/pdf" in profile.accepted
    if profile.max_files is not None and not (profile.combine and pdf_ok):
        summary_files = 1 if pdf_ok else len(pages)
        kept = kept[: max(profile.max_files - summary_files, 0)]  # too many files: cut first
    while True:
        for scale, quality in LADDER:
            uploads = _build(profile, pages, kept, scale, quality)
            if _fits(profile, uploads):
                if scale < 1.0 or quality < LADDER[0][1]:
                    notes.append(
                        f"screenshots downscaled to {int(scale * 100)}% (JPEG quality "
                        f"{quality}) to fit {profile.title}'s limits"
                    )
                dropped = [label for _, label, _ in shots[len(kept) :]]
                notes += [
                    f"dropped screenshot {label}: over {profile.title}'s size or file limits"
                    for label in dropped
                ]
                return uploads, notes
        if not kept:
            raise EvidenceError(
                f"even the summary alone does not fit {profile.title}'s limits "
                f"({profile.max_file_bytes // 1024} KiB a file, "
                f"{profile.max_total_bytes // 1024} KiB in all)",
                hint="raise the limits with --max-file-mb / --max-total-mb, or export fewer runs",
            )
        kept.pop()  # the latest screenshots go first; the first pages reviewed matter most
