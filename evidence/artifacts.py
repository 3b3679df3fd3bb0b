"""What happens to an artifact's bytes before they are hashed and stored: masking.

Text-like media (HTML, JSON, MHTML, plain text, SVG) are decoded and masked; Playwright
traces (zip) are unpacked, each member masked, and packed again; other binary content gets
raw occurrences of a secret overwritten in place.
"""

from __future__ import annotations

import io
import zipfile

from evidence.redaction import Redactor

TEXT_MEDIA_PREFIXES = ("text/",)
TEXT_MEDIA_TYPES = frozenset(
    {
        "application/json",
        "application/x-ndjson",
        "application/jsonl",
        "application/xml",
        "application/xhtml+xml",
        "application/javascript",
        "image/svg+xml",
        "multipart/related",  # MHTML
        "message/rfc822",
        "application/x-mimearchive",
    }
)
ZIP_MEDIA_TYPES = frozenset({"application/zip", "application/x-zip-compressed"})

# Extensions used when artifacts are exported (inside the store they have no extension).
EXTENSIONS = {
    "image/png": ".png",
    "image/webp": ".webp",
    "image/jpeg": ".jpg",
    "text/html": ".html",
    "text/plain": ".txt",
    "application/json": ".json",
    "application/x-ndjson": ".jsonl",
    "multipart/related": ".mhtml",
    "application/x-mimearchive": ".mhtml",
    "application/zip": ".zip",
    "application/pdf": ".pdf",
}


def is_text(media_type: str) -> bool:
    base = media_type.split(";", 1)[0].strip().lower()
    return base.startswith(TEXT_MEDIA_PREFIXES) or base in TEXT_MEDIA_TYPES


def extension_for(media_type: str) -> str:
    return EXTENSIONS.get(media_type.split(";", 1)[0].strip().lower(), ".bin")


def _mask_mhtml(text: str, redactor: Redactor) -> str:
    masked = redactor.mask_text(text)
    # Quoted-printable wraps lines with soft breaks ("=" + CRLF), which can split a secret.
    # Only when joining them reveals one is the document rewritten with the breaks removed.
    joined = masked.replace("=\r\n", "").replace("=\n", "")
    rejoined = redactor.mask_text(joined)
    return rejoined if rejoined != joined else masked


def _mask_zip(content: bytes, redactor: Redactor, patterns: bool) -> bytes:
    try:
        source = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile:
        return redactor.mask_bytes(content)
    members: list[tuple[zipfile.ZipInfo, bytes]] = []
    changed = False
    with source:
        for info in source.infolist():
            original = source.read(info)
            try:
                text = original.decode("utf-8")
            except UnicodeDecodeError:
                data = redactor.mask_bytes(original)
            else:
                text = redactor.mask_text(text)
                if patterns:
                    text = redactor.mask_patterns(text)
                data = text.encode("utf-8")
            changed = changed or data != original
            members.append((info, data))
    if not changed:  # keep the runner's bytes exactly when there is nothing to mask
        return content
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info, data in members:
            target.writestr(info, data)
    return out.getvalue()


def prepare_content(content: bytes, *, kind: str, media_type: str, redactor: Redactor) -> bytes:
    """The bytes to store: `content` with secrets (and, for text, patterns) masked."""
    if not redactor.active and not redactor.has_patterns:
        return content  # nothing to mask: keep the bytes (and skip unpacking big traces)
    base = media_type.split(";", 1)[0].strip().lower()
    if base in ZIP_MEDIA_TYPES or kind == "trace":
        return _mask_zip(content, redactor, patterns=True)
    if is_text(media_type):
        text = content.decode("utf-8", errors="surrogateescape")
        if kind == "mhtml" or base in {"multipart/related", "application/x-mimearchive"}:
            text = _mask_mhtml(text, redactor)
        else:
            text = redactor.mask_text(text)
        text = redactor.mask_patterns(text)
        return text.encode("utf-8", errors="surrogateescape")
    return redactor.mask_bytes(content) if redactor.active else content
