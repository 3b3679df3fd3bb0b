"""What happens to an artifact's bytes before they are hashed and stored: masking.

Every registered secret is masked in every spelling (`evidence.redaction`), and password
fields' values are blanked, in each format's own terms:

- text (HTML, JSON, plain text, SVG, ...): masked as bytes, whatever the charset; HTML's
  password values blanked; configured patterns (card, e-mail, phone) masked.
- MHTML: unpacked part by part (quoted-printable and base64 decoded, so that soft line
  breaks cannot split a secret), each part masked (password values blanked in its HTML),
  changed parts encoded again; headers are masked in their quoted-printable spellings too.
- Playwright traces (zip) and HARs: session material is stripped first — session headers,
  cookies, web storage, HTTP credentials, password values in DOM snapshots
  (`evidence.redaction.SessionScrubber`) — then every member (trace.trace, trace.network,
  resources/*, nested zips) is masked, including the stripped session values wherever a page
  echoed them; text members get ******, binary ones as many `*`. Screencast frames are
  pictures of the page, which cannot be masked: when secrets are registered they are
  replaced by a blank frame (the DOM snapshots, masked, still show each step).
- anything else: same-length masking of the raw bytes.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import zipfile
from functools import cache

from evidence.redaction import Redactor, SessionScrubber, blank_password_values

TEXT_MEDIA_PREFIXES = ("text/",)
TEXT_MEDIA_TYPES = frozenset(
    {
        "application/json",
        "application/x-ndjson",
        "application/jsonl",
        "application/har+json",
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
MHTML_MEDIA_TYPES = frozenset({"multipart/related", "message/rfc822", "application/x-mimearchive"})
HTML_MEDIA_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Members of a trace that are JSON lines with network entries, calls and DOM snapshots.
TRACE_JSON_SUFFIXES = (".trace", ".network")
MAX_ZIP_DEPTH = 3  # a zip inside a trace (a downloaded file) is masked too, this deep
ZIP_LEVEL = 1  # repacking a masked trace: level 1 is several times faster than the default

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


def _base(media_type: str) -> str:
    return media_type.split(";", 1)[0].strip().lower()


def is_text(media_type: str) -> bool:
    base = _base(media_type)
    return base.startswith(TEXT_MEDIA_PREFIXES) or base in TEXT_MEDIA_TYPES


def extension_for(media_type: str) -> str:
    return EXTENSIONS.get(_base(media_type), ".bin")


def prepare_content(content: bytes, *, kind: str, media_type: str, redactor: Redactor) -> bytes:
    """The bytes to store: `content` with secrets, session material, password values and (for
    text) the configured patterns masked. Bytes with nothing to mask are returned unchanged."""
    base = _base(media_type)
    if base in ZIP_MEDIA_TYPES or kind == "trace":
        return _mask_zip(content, redactor)
    if kind == "mhtml" or base in MHTML_MEDIA_TYPES:
        return _mask_mhtml(content, redactor)
    if kind == "har" or base == "application/har+json":
        return _mask_har(content, redactor)
    if is_text(media_type):
        return _mask_text(content, redactor, html=base in HTML_MEDIA_TYPES or kind == "dom")
    return redactor.mask_bytes(content)


def _mask_text(content: bytes, redactor: Redactor, *, html: bool) -> bytes:
    data = redactor.mask_bytes(content, text=True)
    if html:
        data = blank_password_values(data)
    if redactor.has_patterns:
        text = redactor.mask_patterns(data.decode("utf-8", errors="surrogateescape"))
        data = text.encode("utf-8", errors="surrogateescape")
    return data


# ------------------------------------------------------------------ MHTML

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_BOUNDARY = re.compile(rb'boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))', re.IGNORECASE)
_HEADER = re.compile(rb"^([A-Za-z0-9-]+)[ \t]*:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.MULTILINE)


def _headers(block: bytes) -> dict[bytes, bytes]:
    return {m.group(1).lower(): m.group(2).strip() for m in _HEADER.finditer(block)}


def _mask_mhtml(content: bytes, redactor: Redactor) -> bytes:
    head_end = _HEAD_END.search(content)
    found = _BOUNDARY.search(content, 0, head_end.start()) if head_end else None
    if head_end is None or found is None:
        return _mask_mhtml_whole(content, redactor)
    head = redactor.mask_bytes(content[: head_end.start()], text=True, quoted_printable=True)
    delimiter = b"--" + (found.group(1) or found.group(2))
    chunks = content[head_end.start() :].split(delimiter)
    # chunks: [blank line + preamble, part, part, ..., "--" + epilogue]
    out = [redactor.mask_bytes(chunks[0], text=True)]
    for chunk in chunks[1:]:
        out.append(chunk if chunk.startswith(b"--") else _mask_mhtml_part(chunk, redactor))
    return head + delimiter.join(out)


def _mask_mhtml_part(chunk: bytes, redactor: Redactor) -> bytes:
    """One part: the line break after the delimiter, headers, a blank line, the body and the
    line break before the next delimiter."""
    lead = re.match(rb"\r?\n", chunk)
    split = _HEAD_END.search(chunk, lead.end() if lead else 0)
    if split is None:
        return redactor.mask_bytes(chunk, text=True, quoted_printable=True)
    header_block, body = chunk[: split.start()], chunk[split.end() :]
    end = b"\r\n" if body.endswith(b"\r\n") else b"\n" if body.endswith(b"\n") else b""
    body = body[: len(body) - len(end)]
    headers = _headers(header_block)
    encoding = headers.get(b"content-transfer-encoding", b"").lower()
    media = headers.get(b"content-type", b"text/plain").split(b";")[0].strip().lower().decode()
    try:
        decoded = _decode(body, encoding)
    except (binascii.Error, ValueError):
        decoded = None
    if decoded is None:  # unknown encoding: mask what is there
        masked_body = redactor.mask_bytes(body, text=True, quoted_printable=True)
    else:
        text = is_text(media) or media.endswith(("+xml", "+json", "/javascript", "/css"))
        cleaned = redactor.mask_bytes(decoded, text=text)
        if media in HTML_MEDIA_TYPES:
            cleaned = blank_password_values(cleaned)
        masked_body = body if cleaned == decoded else _encode(cleaned, encoding, body)
    masked_headers = redactor.mask_bytes(header_block, text=True, quoted_printable=True)
    return masked_headers + chunk[split.start() : split.end()] + masked_body + end


def _decode(body: bytes, encoding: bytes) -> bytes | None:
    if encoding == b"quoted-printable":
        return binascii.a2b_qp(body)
    if encoding == b"base64":
        return base64.b64decode(body)
    if encoding in (b"", b"7bit", b"8bit", b"binary"):
        return body
    return None


def _encode(data: bytes, encoding: bytes, original: bytes) -> bytes:
    newline = b"\r\n" if b"\r\n" in original or not original else b"\n"
    if encoding == b"quoted-printable":
        encoded = binascii.b2a_qp(data.replace(b"\r\n", b"\n"), istext=True)
        return encoded.replace(b"\n", newline)
    if encoding == b"base64":
        return base64.encodebytes(data).rstrip(b"\n").replace(b"\n", newline)
    return data


def _mask_mhtml_whole(content: bytes, redactor: Redactor) -> bytes:
    """An MHTML whose parts cannot be found: join quoted-printable soft line breaks (which
    may split a secret) and mask the whole, `=XX` spellings included."""
    joined = re.sub(rb"=\r?\n", b"", content)
    masked = blank_password_values(redactor.mask_bytes(joined, text=True, quoted_printable=True))
    return content if masked == joined else masked


# ------------------------------------------------------------------ traces and HARs


def _mask_har(content: bytes, redactor: Redactor) -> bytes:
    scrubber = SessionScrubber()
    try:
        document = json.loads(content)
    except ValueError:
        data = content
    else:
        data = _dump(document) if scrubber.scrub(document) else content
    return scrubber.mask_values(_mask_text(data, redactor, html=False), text=True)


def _dump(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogatepass"
    )


_TRACE_HINTS = (
    b'"headers"',
    b"HTTPHeaders",  # extraHTTPHeaders
    b'"cookies"',
    b"Storage",  # localStorage, sessionStorage, storageState
    b"httpCredentials",
    b'"INPUT"',
    b"<input",
    b"<INPUT",
)


def _scrub_json_lines(data: bytes, scrubber: SessionScrubber) -> bytes:
    """Strip session material from a trace's JSON lines; lines with none keep their bytes."""
    if not any(hint in data for hint in _TRACE_HINTS):
        return data
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        if not any(hint in line for hint in _TRACE_HINTS):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if scrubber.scrub(event):
            lines[i] = _dump(event)
    return b"\n".join(lines)


def _mask_zip(content: bytes, redactor: Redactor, depth: int = 0) -> bytes:
    try:
        source = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile:
        return redactor.mask_bytes(content)
    scrubber = SessionScrubber()
    with source:
        members = [(info, source.read(info)) for info in source.infolist()]
    # First strip session material (and learn its values), then mask every member.
    scrubbed = [
        (
            info,
            _scrub_json_lines(data, scrubber)
            if info.filename.endswith(TRACE_JSON_SUFFIXES)
            else data,
        )
        for info, data in members
    ]
    out_members = [
        (info, _mask_member(info.filename, data, redactor, scrubber, depth))
        for info, data in scrubbed
    ]
    if all(new == old for (_, new), (_, old) in zip(out_members, members, strict=True)):
        return content  # keep the runner's bytes exactly when there is nothing to mask
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info, data in out_members:
            # fast deflate: a trace is mostly JPEG frames and already-compact JSON
            target.writestr(info, data, compresslevel=ZIP_LEVEL)
    return out.getvalue()


# Screencast frames: pictures of the page as it was, which no byte scan can mask. Playwright
# keeps them in screencast/ (older versions: resources/page@<id>-<time>.jpeg).
_SCREENCAST_FRAME = re.compile(r"(?:^|/)(?:screencast/.*|page@[0-9a-f]+-[0-9]+)\.jpe?g$")


@cache
def blank_frame() -> bytes:
    """What replaces a screencast frame: a small grey JPEG (the trace viewer still opens)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (16, 9), (128, 128, 128)).save(out, "JPEG")
    return out.getvalue()


def _mask_member(
    name: str, data: bytes, redactor: Redactor, scrubber: SessionScrubber, depth: int
) -> bytes:
    if redactor.active and _SCREENCAST_FRAME.search(name):
        return blank_frame()  # a page that shows a secret shows it in every frame
    if data.startswith(b"PK\x03\x04") and depth < MAX_ZIP_DEPTH:
        return _mask_zip(data, redactor, depth + 1)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        text = False
    else:
        text = True
    masked = redactor.mask_bytes(data, text=text)
    if text and (name.endswith((".html", ".htm")) or b"<input" in masked):
        masked = blank_password_values(masked)
    masked = scrubber.mask_values(masked, text=text)
    if text and redactor.has_patterns:
        decoded = redactor.mask_patterns(masked.decode("utf-8"))
        masked = decoded.encode("utf-8")
    return masked
