"""Capture helpers: screenshots (format, thumbnail, annotation) and the capture policy.

The runner takes the pictures (Playwright, with `mask` for redacted selectors and for every
element that shows a registered secret, as text or as a field's value); this module turns them
into what is stored. DOM blanking lives in `evidence.dom`; masking secrets in every artifact in
`evidence.artifacts`.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Literal

from agent.core.errors import EvidenceError
from agent.core.settings import EvidenceSettings
from evidence.dom import blank_dom, parse_selectors

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["annotate", "blank_dom", "parse_selectors", "screenshot_variants", "wants_capture"]

Moment = Literal["page", "action", "failure"]

# policy -> the moments it captures at
_POLICY: dict[str, frozenset[str]] = {
    "every_page": frozenset({"page", "action", "failure"}),
    "on_action": frozenset({"action", "failure"}),
    "on_failure": frozenset({"failure"}),
    "off": frozenset(),
}

HIGHLIGHT_COLOUR = (230, 20, 90)
HIGHLIGHT_WIDTH = 4
HIGHLIGHT_PADDING = 4


def wants_capture(policy: str, moment: Moment) -> bool:
    """Should the runner capture at `moment` (a page load, an action, a failure)?"""
    try:
        return moment in _POLICY[policy]
    except KeyError:
        raise EvidenceError(
            f"unknown capture policy {policy!r}", hint=f"use one of: {', '.join(_POLICY)}"
        ) from None


def _open_image(data: bytes) -> Image:
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        image = PILImage.open(io.BytesIO(data))
        image.load()
    except PILImage.DecompressionBombError as exc:
        raise EvidenceError(
            f"screenshot is too large to store safely: {exc}",
            hint="capture the viewport instead of the full page (evidence.full_page: false)",
        ) from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise EvidenceError(
            f"screenshot is not a readable image ({len(data)} bytes): {exc}",
            hint="pass the bytes Playwright's page.screenshot() returned",
        ) from exc
    return image


def encode(image: Image, fmt: str, quality: int = 85) -> bytes:
    out = io.BytesIO()
    if fmt == "webp":
        image.save(out, "WEBP", quality=quality, lossless=quality >= 100, method=4)
    else:
        image.save(out, "PNG", optimize=False, compress_level=1)
    return out.getvalue()


def annotate(image: Image, box: tuple[float, float, float, float]) -> Image:
    """A copy of `image` with the box (x, y, width, height in image pixels) outlined."""
    from PIL import ImageDraw

    x, y, w, h = box
    pad = HIGHLIGHT_PADDING
    left = max(0.0, x - pad)
    top = max(0.0, y - pad)
    right = min(image.width - 1.0, x + w + pad)
    bottom = min(image.height - 1.0, y + h + pad)
    copy = image.convert("RGB") if image.mode not in ("RGB", "RGBA") else image.copy()
    if right > left and bottom > top:  # off-screen boxes leave the picture unmarked
        ImageDraw.Draw(copy).rectangle(
            (left, top, right, bottom), outline=HIGHLIGHT_COLOUR, width=HIGHLIGHT_WIDTH
        )
    return copy


def screenshot_variants(
    png: bytes,
    highlight: tuple[float, float, float, float] | None,
    settings: EvidenceSettings,
) -> list[tuple[str, str, bytes]]:
    """(kind, media type, bytes) for the screenshot, its annotated copy and a thumbnail."""
    image = _open_image(png)
    fmt = settings.screenshot_format
    media_type = f"image/{fmt}"
    quality = settings.webp_quality
    # A PNG stored as PNG keeps the captured bytes exactly.
    main = png if fmt == "png" and image.format == "PNG" else encode(image, fmt, quality)
    variants = [("screenshot", media_type, main)]
    shown = image
    if highlight is not None:
        shown = annotate(image, highlight)
        variants.append(("screenshot_annotated", media_type, encode(shown, fmt, quality)))
    thumb = shown.copy()
    thumb.thumbnail((settings.thumbnail_size, settings.thumbnail_size))
    variants.append(("thumbnail", media_type, encode(thumb, fmt, quality)))
    return variants
