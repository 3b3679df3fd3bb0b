"""Look for a secret in bytes, independently of the masking code under test.

Instead of listing spellings, the scanner decodes: every file (and every member of every zip
inside it, however deep) is read as UTF-8, windows-1252 and UTF-16, then decoded layer by
layer — quoted-printable (soft line breaks joined), percent-encoding (`%XX`, `%uXXXX`, `+`),
character references, JS/JSON escapes, base64 runs at every alignment — up to three layers
deep, and the plain secret is looked for in every result. A hit names the file and the chain
of decodings that revealed it, e.g. `trace.zip!trace.trace: json > html`.
"""

from __future__ import annotations

import base64
import binascii
import html
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

MAX_DEPTH = 3

_QP = re.compile(r"(?:=[0-9A-Fa-f]{2})+")
_PERCENT = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_PERCENT_U = re.compile(r"%u([0-9A-Fa-f]{4})")
_JS = re.compile(r"\\(?:u\{([0-9A-Fa-f]+)\}|u([0-9A-Fa-f]{4})|x([0-9A-Fa-f]{2})|(.))", re.S)
_JS_SHORT = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{8,}")


def _text(data: bytes) -> str:
    """Decoded bytes, as a page would be: UTF-8 when they are, else windows-1252."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _quoted_printable(text: str) -> str:
    if "=" not in text:  # nothing to decode: skip two regex passes over a large text
        return text
    joined = re.sub(r"=\r?\n", "", text)
    return _QP.sub(lambda m: _text(bytes.fromhex(m.group().replace("=", ""))), joined)


def _percent(text: str) -> str:
    if "%" not in text and "+" not in text:
        return text
    text = _PERCENT_U.sub(lambda m: chr(int(m.group(1), 16)), text)
    text = _PERCENT.sub(lambda m: _text(bytes.fromhex(m.group().replace("%", ""))), text)
    return text.replace("+", " ")


def _js(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        braces, four, two, other = m.groups()
        if braces or four or two:
            return chr(int(braces or four or two, 16))
        return _JS_SHORT.get(other, other)

    decoded = _JS.sub(one, text)
    return decoded.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _base64(text: str) -> str:
    """Every base64-looking run decoded at each of the four character offsets."""
    found = []
    for run in _BASE64_RUN.findall(text):
        run = run.replace("-", "+").replace("_", "/")
        for shift in range(4):
            part = run[shift:]
            part = part[: len(part) - 1] if len(part) % 4 == 1 else part
            part += "=" * (-len(part) % 4)
            try:
                decoded = base64.b64decode(part)
            except (binascii.Error, ValueError):
                continue
            found += [decoded.decode("utf-8", "replace"), decoded.decode("cp1252", "replace")]
    return "\n".join(found)


DECODERS: dict[str, Callable[[str], str]] = {
    "qp": _quoted_printable,
    "url": _percent,
    "html": html.unescape,
    "json": _js,
    "base64": _base64,
}


def _views(
    text: str, expanded: dict[int, int], chain: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], str]]:
    """`text` and every decoding of it up to MAX_DEPTH layers, each with its chain.

    Decoders often commute (html then json gives what json then html gives) and both bases
    of ASCII data are the same text, so a text already expanded with at least as many layers
    left (`expanded`: hash -> the depth it was expanded at) is not expanded again: every view
    it leads to was produced then. The set of views searched stays the same (checked on real
    data dirs); the work drops by about a fifth."""
    key, depth = hash(text), len(chain)
    if expanded.get(key, MAX_DEPTH + 1) <= depth:
        return
    expanded[key] = depth
    yield chain, text
    if depth >= MAX_DEPTH:
        return
    for name, decode in DECODERS.items():
        decoded = decode(text)
        if decoded and decoded != text:
            yield from _views(decoded, expanded, (*chain, name))


def find_in_bytes(data: bytes, secret: str) -> list[str]:
    """The decoding chains under which `secret` appears in `data` (empty: it does not)."""
    hits = []
    for name, raw in (("utf-16-le", "utf-16-le"), ("utf-16-be", "utf-16-be")):
        if secret.encode(raw) in data:
            hits.append(name)
    bases = {"utf-8": data.decode("utf-8", errors="replace")}
    bases["cp1252"] = data.decode("cp1252", errors="replace")
    expanded: dict[int, int] = {}
    seen: set[int] = set()
    for base, text in bases.items():
        for chain, view in _views(text, expanded):
            key = hash(view)
            if key in seen:  # met again with more layers left: searched already
                continue
            seen.add(key)
            if secret in view:
                hits.append(" > ".join((base, *chain)))
    return hits


def _members(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    yield name, data
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                yield from _members(f"{name}!{info.filename}", zf.read(info))


def scan(paths: Iterable[Path], secrets: Iterable[str], *, root: Path | None = None) -> list[str]:
    """Every hit of every secret in every file under `paths` (files or folders), zip members
    included: `file: decoding chain`."""
    files: list[Path] = []
    for path in paths:
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    hits = []
    for file in files:
        shown = str(file.relative_to(root)) if root and file.is_relative_to(root) else str(file)
        for name, data in _members(shown, file.read_bytes()):
            for secret in secrets:
                hits += [f"{name}: {chain}" for chain in find_in_bytes(data, secret)]
    return hits


def scan_text(label: str, text: str, secrets: Iterable[str]) -> list[str]:
    """Hits in captured output (stdout, stderr, logs)."""
    data = text.encode("utf-8", errors="surrogateescape")
    return [f"{label}: {chain}" for s in secrets for chain in find_in_bytes(data, s)]
