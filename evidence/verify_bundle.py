#!/usr/bin/env python3
"""Verify an Aijia evidence bundle with nothing but Python's standard library (3.9+).

Usage:  python3 -I verify_bundle.py [BUNDLE.zip | DIRECTORY] [--key SHA256:…]
        (default location: this file's folder)

Checks, and names every problem found:
  1. manifest.json is canonical JSON and sealed: its root_hash is the sha256 of its canonical
     JSON without `root_hash` and `signature`;
  2. the bundle signature: Ed25519 over "aijia-bundle/1\\n<root_hash>" by the public key it
     carries (a pure-Python RFC 8032 verify below);
  3. every file it lists exists with that size and sha256, nothing else is in the bundle, and
     SHA256SUMS is exactly the sums of every other file;
  4. actions.jsonl is exactly each run's chain, in order: hash = sha256(prev_hash + canonical
     JSON of {run_id, seq, kind, data, artifacts, at}), the first prev_hash 64 zeros;
  5. each run's copies (recipe, site, case, state) agree with its chain, every sealed
     manifest (n = 1, 2, …) has its root hash, agrees with the chain and is signed with
     Ed25519 over "aijia-root/1\\n<run_id>\\n<n>\\n<root_hash>"; the latest covers every event;
  6. every artifact an event names is in the bundle with those exact bytes, or is listed as
     omitted with a reason;
  7. an RFC 3161 token (timestamps/*.tsr) names the digest of its root's signed message; its
     time is printed. Its CMS signature needs the TSA's certificate: see VERIFY.md.
Canonical JSON: json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).

A valid signature proves the bundle was made with the key whose fingerprint is printed, not
whose key that is: compare the fingerprint with one received over a channel you trust, or
pass it with --key (then any other signer is a failure). This script cannot vouch for itself
either: a replaced copy can print anything, so use one from a source you trust (`aijia
evidence verify-bundle`, or check its sha256, also in manifest.json as `verifier_sha256`).

Hostile input is refused before it costs much: not a zip, a damaged or encrypted one, more
than MAX_MEMBERS files, a member larger than MAX_MEMBER_BYTES (declared or actual) or
compressed more than MAX_RATIO times, names with '..', absolute or with control characters,
non-UTF-8 or non-JSON manifest/actions, JSON nested deeper than MAX_DEPTH.

Exit status: 0 everything holds, 1 something was changed (each problem is named), 2 the
bundle is unreadable or hostile (refused, the reason named). This file is copied into every
bundle and imports nothing from Aijia; it is one file on purpose, so it can travel alone.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import functools
import hashlib
import json
import os
import stat
import sys
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

FORMAT = "aijia-evidence-bundle/2"
GENESIS = "0" * 64
NOT_LISTED = ("manifest.json", "SHA256SUMS")
PAYLOAD = ("run_id", "seq", "kind", "data", "artifacts", "at")
SIGNATURE_FIELDS = ("alg", "key", "public_key", "sig")
MAX_MEMBERS = 20000
MAX_MEMBER_BYTES = 512 * 2**20
MAX_TOTAL_BYTES = 2 * 2**30
MAX_JSON_BYTES = 256 * 2**20
MAX_RATIO = 200  # deflate ratio above which a member over 1 MiB is taken for a zip bomb
MAX_DEPTH = 64


class Unreadable(Exception):
    """The bundle cannot be read safely (exit 2); the message names the file and why."""


class Tampered(Exception):
    """A part of manifest.json or actions.jsonl does not have the shape it must have."""


# --------------------------------------------------------------------- Ed25519 (RFC 8032)

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z


def _add(a: _Point, b: _Point) -> _Point:
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    p, q = (y1 - x1) * (y2 - x2) % _P, (y1 + x1) * (y2 + x2) % _P
    r, s = 2 * t1 * t2 * _D % _P, 2 * z1 * z2 % _P
    e, f, g, h = q - p, s - r, s + r, q + p
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _multiply(scalar: int, point: _Point) -> _Point:
    result = (0, 1, 1, 0)
    while scalar > 0:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _same_point(a: _Point, b: _Point) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _decompress(data: bytes) -> _Point | None:
    y = int.from_bytes(data, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        if sign:
            return None
        return (0, y, 1, 0)
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    if x & 1 != sign:
        x = _P - x
    return (x, y, 1, x * y % _P)


_BASE = _decompress((4 * pow(5, _P - 2, _P) % _P).to_bytes(32, "little"))


@functools.lru_cache(maxsize=4096)  # a pure function; the same signature is often re-checked
def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 section 5.1.7: is `signature` a valid signature of `message` by `public`?"""
    if len(public) != 32 or len(signature) != 64 or _BASE is None:
        return False
    a, r = _decompress(public), _decompress(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= _L:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little")
    return _same_point(_multiply(s, _BASE), _add(r, _multiply(h % _L, a)))


# --------------------------------------------------------------------- small helpers


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(data: Any) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def root_hash(manifest: dict[str, Any], unsigned: tuple[str, ...] = ("root_hash",)) -> str:
    """sha256 of the canonical JSON of `manifest` without the fields in `unsigned`."""
    return sha256_hex(canonical({k: v for k, v in manifest.items() if k not in unsigned}))


def bundle_root(manifest: dict[str, Any]) -> str:
    return root_hash(manifest, ("root_hash", "signature"))


def root_message(run_id: str, n: int, root: str) -> bytes:
    """What a sealed manifest's signature covers (and its RFC 3161 token's digest)."""
    return f"aijia-root/1\n{run_id}\n{n}\n{root}".encode()


def bundle_message(root: str) -> bytes:
    """What the bundle signature covers."""
    return f"aijia-bundle/1\n{root}".encode()


def fingerprint(key_id: str) -> str:
    return "SHA256:" + ":".join(key_id[i : i + 4] for i in range(0, len(key_id), 4))


def parse_fingerprint(text: str) -> str:
    hexpart = text.strip()
    if hexpart.startswith("SHA256:"):
        hexpart = hexpart[len("SHA256:") :]
    hexpart = hexpart.replace(":", "").lower()
    if len(hexpart) != 64 or any(c not in "0123456789abcdef" for c in hexpart):
        raise ValueError(f"not a key fingerprint: {text!r} (SHA256: and 64 hex digits)")
    return hexpart


def printable(text: str) -> str:
    """`text` safe for a terminal: control and other unprintable characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def need(value: Any, kind: Any, where: str) -> Any:
    """`value` when it is a `kind` (bool is no int here), else Tampered naming `where`."""
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise Tampered("{}: not a {}".format(where, getattr(kind, "__name__", kind)))
    return value


def b64(value: Any, size: int, where: str) -> bytes:
    """Base64 of exactly `size` bytes, in its one canonical spelling."""
    text = need(value, str, where)
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, binascii.Error):
        raise Tampered(f"{where}: not base64") from None
    if len(raw) != size or base64.b64encode(raw).decode("ascii") != text:
        raise Tampered(f"{where}: not {size} bytes in canonical base64")
    return raw


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("a key appears twice in one object")
    return found


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_json(data: bytes, where: str) -> Any:
    """Strict JSON (UTF-8, no NaN, no repeated keys, at most MAX_DEPTH deep) or Unreadable."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"{where}: not UTF-8 text (byte {exc.start})") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except RecursionError:
        raise Unreadable(f"{where}: JSON nested too deeply") from None
    except ValueError as exc:
        raise Unreadable(f"{where}: not JSON ({exc})") from None
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Unreadable(f"{where}: JSON nested deeper than {MAX_DEPTH}")
        children = item.values() if isinstance(item, dict) else item
        stack.extend((v, depth + 1) for v in children if isinstance(v, (dict, list)))
    return value


# --------------------------------------------------------------------- reading the bundle


def _bad_name(name: str) -> str | None:
    if not name or "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "an absolute or non-portable path"
    if any(not c.isprintable() for c in name):
        return "control characters in its name"
    parts = name.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "'.', '..' or an empty part in its path"
    return None


class Bundle:
    """The files of a bundle, from a zip (a path or a binary file object) or a directory,
    read within the limits above."""

    def __init__(self, location: Any) -> None:
        self.label = location if isinstance(location, str) else getattr(location, "name", "")
        self.label = str(self.label or "bundle")
        self.zip: zipfile.ZipFile | None = None
        self.infos: dict[str, zipfile.ZipInfo] = {}
        self._digests: dict[str, tuple[str, int]] = {}
        self.base = ""
        if isinstance(location, (str, os.PathLike)) and os.path.isdir(location):
            self.base = str(location)
            self.sizes = self._walk()
        else:
            self.sizes = self._open_zip(location)
        if len(self.sizes) > MAX_MEMBERS:
            raise Unreadable(f"{self.label}: more than {MAX_MEMBERS} files")
        if sum(self.sizes.values()) > MAX_TOTAL_BYTES:
            raise Unreadable(f"{self.label}: more than {MAX_TOTAL_BYTES} bytes in all")

    def _open_zip(self, location: Any) -> dict[str, int]:
        try:
            self.zip = zipfile.ZipFile(location)
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
            raise Unreadable(f"{self.label}: not a readable zip file ({exc})") from None
        if len(infos) > MAX_MEMBERS:
            raise Unreadable(f"{self.label}: more than {MAX_MEMBERS} members")
        sizes = {}
        for info in infos:
            name, where = info.filename, f"{self.label}: member {info.filename!r}"
            problem = _bad_name(name)
            if problem:
                raise Unreadable(f"{where}: refused: {problem}")
            if name in self.infos or name.rstrip("/") in self.infos:
                raise Unreadable(f"{where}: appears twice in the zip")
            if info.flag_bits & 0x1:
                raise Unreadable(f"{where}: encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise Unreadable(f"{where}: compression method {info.compress_type}")
            if info.file_size > MAX_MEMBER_BYTES:
                raise Unreadable(f"{where}: declares {info.file_size} bytes")
            if info.file_size > 2**20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise Unreadable(f"{where}: compressed {MAX_RATIO}:1, a zip bomb")
            self.infos[name] = info
            if not name.endswith("/"):
                sizes[name] = info.file_size
        return sizes

    def _walk(self) -> dict[str, int]:
        sizes = {}
        for folder, dirs, files in os.walk(self.base):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                full = os.path.join(folder, name)
                relative = os.path.relpath(full, self.base).replace(os.sep, "/")
                info = os.lstat(full)
                if not stat.S_ISREG(info.st_mode):
                    raise Unreadable(f"{self.label}: {relative}: not a regular file")
                sizes[relative] = info.st_size
                if len(sizes) > MAX_MEMBERS:
                    raise Unreadable(f"{self.label}: more than {MAX_MEMBERS} files")
        return sizes

    def names(self) -> set:
        return set(self.sizes)

    def read(self, name: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
        where = f"{self.label}: {name}"
        if self.sizes[name] > limit:
            raise Unreadable(f"{where}: larger than {limit} bytes")
        chunks, total = [], 0
        try:
            if self.zip is not None:
                source: Any = self.zip.open(self.infos[name])
            else:
                source = open(os.path.join(self.base, *name.split("/")), "rb")  # noqa: SIM115
            with source:
                while True:
                    chunk = source.read(2**20)
                    if not chunk:
                        break
                    total += len(chunk)
                    if total > min(limit, self.sizes[name]):
                        raise Unreadable(f"{where}: longer than its declared size")
                    chunks.append(chunk)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError) as exc:
            raise Unreadable(f"{where}: damaged ({exc})") from None
        return b"".join(chunks)

    def digest(self, name: str) -> tuple[str, int]:
        """(sha256 hex, size) of a member, read once."""
        if name not in self._digests:
            data = self.read(name)
            self._digests[name] = (sha256_hex(data), len(data))
        return self._digests[name]

    def json(self, name: str) -> Any:
        return load_json(self.read(name, MAX_JSON_BYTES), f"{self.label}: {name}")


# --------------------------------------------------------------------- RFC 3161 tokens

_OID_SIGNED_DATA = bytes.fromhex("2a864886f70d010702")
_OID_TST_INFO = bytes.fromhex("2a864886f70d0109100104")
_OID_SHA256 = bytes.fromhex("608648016503040201")


def _der_items(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """The (tag, value start, value end) of each DER element in data[start:end]."""
    items, pos = [], start
    while pos < end:
        if pos + 2 > end or data[pos] & 0x1F == 0x1F:
            raise ValueError("bad DER header")
        tag, length, pos = data[pos], data[pos + 1], pos + 2
        if length & 0x80:
            count = length & 0x7F
            if not 1 <= count <= 4 or pos + count > end:
                raise ValueError("bad DER length")
            length, pos = int.from_bytes(data[pos : pos + count], "big"), pos + count
        if pos + length > end:
            raise ValueError("DER element runs past its end")
        items.append((tag, pos, pos + length))
        pos += length
    return items


def _der_child(
    data: bytes, item: tuple[int, int, int], index: int, tag: int
) -> tuple[int, int, int]:
    children = _der_items(data, item[1], item[2])
    if index >= len(children) or children[index][0] != tag:
        raise ValueError("unexpected DER structure")
    return children[index]


def read_timestamp(token: bytes) -> tuple[bytes, str]:
    """(sha256 message imprint, genTime) of a DER TimeStampResp; ValueError when it is not
    a granted one with a SHA-256 imprint. Its CMS signature is not checked here."""
    [top] = _der_items(token, 0, len(token))
    status = _der_child(token, _der_child(token, top, 0, 0x30), 0, 0x02)
    if token[status[1] : status[2]] not in (b"\x00", b"\x01"):
        raise ValueError("the TSA did not grant it")
    content = _der_child(token, top, 1, 0x30)
    oid = _der_child(token, content, 0, 0x06)
    if token[oid[1] : oid[2]] != _OID_SIGNED_DATA:
        raise ValueError("not CMS signed data")
    signed = _der_child(token, _der_child(token, content, 1, 0xA0), 0, 0x30)
    encap = _der_child(token, signed, 2, 0x30)
    oid = _der_child(token, encap, 0, 0x06)
    if token[oid[1] : oid[2]] != _OID_TST_INFO:
        raise ValueError("not a timestamp token")
    octets = _der_child(token, _der_child(token, encap, 1, 0xA0), 0, 0x04)
    info = _der_child(token, octets, 0, 0x30)
    imprint = _der_child(token, info, 2, 0x30)
    algorithm = _der_child(token, _der_child(token, imprint, 0, 0x30), 0, 0x06)
    if token[algorithm[1] : algorithm[2]] != _OID_SHA256:
        raise ValueError("its message imprint is not SHA-256")
    digest = _der_child(token, imprint, 1, 0x04)
    when = _der_child(token, info, 4, 0x18)
    return token[digest[1] : digest[2]], token[when[1] : when[2]].decode("ascii")


# --------------------------------------------------------------------- the checks


class Report:
    """What the checks found: problems (tampering), notes, the signing keys seen."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.keys: tuple[str, ...] = ()  # the key ids the reader trusts (empty: not given)
        self.verify: Callable[[bytes, bytes, bytes], bool] = ed25519_verify
        self.signers: dict[str, str] = {}  # key id -> the first thing it signed
        self.sealed: dict[str, list[str]] = {}  # run id -> each sealed manifest's root hash
        self.timestamps: dict[str, list[tuple[int, str, str]]] = {}  # run id -> n, time, TSA
        self.root_hash = ""
        self.files = 0
        self.runs = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def check_signature(record: Any, message: bytes, where: str, report: Report) -> bool:
    """Add a problem unless `record` is a valid Ed25519 signature of `message` by a key the
    reader trusts (any key, when they named none: it is shown for them to compare)."""
    try:
        need(record, dict, where + ": signature")
        missing = [f for f in SIGNATURE_FIELDS if f not in record]
        if missing:
            raise Tampered("{}: signature lacks {}".format(where, ", ".join(missing)))
        if record["alg"] != "ed25519":
            raise Tampered(f"{where}: signature is not Ed25519")
        public = b64(record["public_key"], 32, where + ": public_key")
        signature = b64(record["sig"], 64, where + ": sig")
        key_id = sha256_hex(public)
        if record["key"] != key_id:
            raise Tampered(f"{where}: signature names one key and carries another")
        report.signers.setdefault(key_id, where)
        if report.keys and key_id not in report.keys:
            raise Tampered(
                f"{where} is signed by {fingerprint(key_id)}, which is not a key you trust (--key)"
            )
        if not report.verify(public, message, signature):
            raise Tampered(f"{where}: signature does not match (changed after signing)")
    except Tampered as exc:
        report.problems.append(str(exc))
        return False
    return True


def check(
    location: Any,
    keys: tuple[str, ...] = (),
    verify: Callable[[bytes, bytes, bytes], bool] | None = None,
) -> Report:
    """Check the bundle at `location` (zip path, zip file object or directory); `keys` are
    the key ids (sha256 hex) to accept; `verify(public, message, signature)` replaces the
    pure-Python Ed25519 (Aijia passes a compiled one). Unreadable for hostile input."""
    bundle = Bundle(location)
    names = bundle.names()
    report = Report()
    report.keys = tuple(keys)
    report.verify = verify or ed25519_verify
    if "manifest.json" not in names:
        raise Unreadable(f"{bundle.label}: no manifest.json: not an Aijia evidence bundle")
    raw = bundle.read("manifest.json", MAX_JSON_BYTES)
    manifest = load_json(raw, bundle.label + ": manifest.json")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise Unreadable(
            f"{bundle.label}: manifest.json: format {found!r}; this verifier reads {FORMAT}"
        )
    if raw != canonical(manifest).encode("utf-8"):
        report.problems.append("manifest.json: edited (it is not in canonical form)")
    report.root_hash = bundle_root(manifest)
    if report.root_hash != manifest.get("root_hash"):
        report.problems.append("manifest.json: edited (its root_hash does not match it)")
    if not isinstance(manifest.get("signature"), dict) or set(manifest["signature"]) != set(
        SIGNATURE_FIELDS
    ):
        report.problems.append("manifest.json: the bundle signature is missing or malformed")
    else:
        check_signature(manifest["signature"], bundle_message(report.root_hash), "bundle", report)
    for section in (_check_files, _check_chains):
        try:
            section(bundle, manifest, report)
        except Tampered as exc:
            report.problems.append(str(exc))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            report.problems.append(f"manifest.json: malformed ({section}: {exc})")
    _check_keys(manifest, report)
    return report


def _check_files(bundle: Bundle, manifest: dict[str, Any], report: Report) -> None:
    names = bundle.names()
    listed: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(need(manifest.get("files"), list, "manifest.json: files")):
        where = f"manifest.json: files[{index}]"
        need(entry, dict, where)
        path = need(entry.get("path"), str, where + ".path")
        if path in listed or path in NOT_LISTED:
            raise Tampered(f"{where}: {path} listed twice")
        listed[path] = entry
        if path not in names:
            report.problems.append(f"{path}: missing")
            continue
        if bundle.digest(path) != (entry.get("sha256"), entry.get("size")):
            report.problems.append(f"{path}: changed (sha256 or size differs)")
        if "artifact" in entry and entry["artifact"] != entry.get("sha256"):
            report.problems.append(f"{path}: not the artifact's recorded bytes")
    report.files = len(listed)
    for name in sorted(names - set(listed) - set(NOT_LISTED)):
        report.problems.append(f"{name}: not listed in manifest.json")
    verifier = listed.get("verify_bundle.py", {}).get("sha256")
    if verifier is None or manifest.get("verifier_sha256") != verifier:
        report.problems.append("manifest.json: verifier_sha256 disagrees with its files")
    if "SHA256SUMS" not in names:
        report.problems.append("SHA256SUMS: missing")
    else:
        sums = "".join(f"{bundle.digest(n)[0]}  {n}\n" for n in sorted(names - {"SHA256SUMS"}))
        if bundle.read("SHA256SUMS") != sums.encode("utf-8"):
            report.problems.append("SHA256SUMS: does not match the files")


def _actions(bundle: Bundle) -> list[dict[str, Any]]:
    data = bundle.read("actions.jsonl", MAX_JSON_BYTES)
    if not data.endswith(b"\n"):
        raise Tampered("actions.jsonl: does not end with a newline")
    events = []
    for number, line in enumerate(data[:-1].split(b"\n"), 1):
        where = f"actions.jsonl line {number}"
        event = load_json(line, f"{bundle.label}: {where}")
        need(event, dict, where)
        if line != canonical(event).encode("utf-8"):
            raise Tampered(f"{where}: edited (not in canonical form)")
        events.append(event)
    return events


def _check_chains(bundle: Bundle, manifest: dict[str, Any], report: Report) -> None:
    if "actions.jsonl" not in bundle.names():
        raise Tampered("actions.jsonl: missing")
    events = _actions(bundle)
    listed = {e["path"]: e for e in manifest["files"]}
    present = {e["artifact"] for e in listed.values() if "artifact" in e}
    for index, entry in enumerate(need(manifest.get("omitted"), list, "manifest.json: omitted")):
        where = f"manifest.json: omitted[{index}]"
        present.add(need(need(entry, dict, where).get("artifact"), str, where))
    runs = need(manifest.get("runs"), list, "manifest.json: runs")
    report.runs = len(runs)
    line = 0
    for index, run in enumerate(runs):
        where = f"manifest.json: runs[{index}]"
        run_id = need(need(run, dict, where).get("run_id"), str, where + ".run_id")
        chain = need(run.get("chain"), list, where + ".chain")
        run_events = Run(run_id, run, events[line : line + len(chain)], line)
        line += len(chain)
        run_events.check_chain(chain, present, report)
        run_events.check_seals(bundle, listed, report)
    if line != len(events):
        report.problems.append(
            f"actions.jsonl line {line + 1}: an event manifest.json does not list"
        )


class Run:
    """One run of the bundle: its entry in manifest.json and its events in actions.jsonl."""

    def __init__(self, run_id: str, entry: dict[str, Any], events: list[Any], line: int):
        self.run_id, self.entry, self.events, self.first_line = run_id, entry, events, line

    def check_chain(self, chain: list[Any], present: set, report: Report) -> None:
        """The events chain from GENESIS, match the manifest's chain, and the run's copies
        (recipe, site, case, state, head) agree with them."""
        prev, state, created = GENESIS, "pending", None
        if len(self.events) != len(chain):
            raise Tampered(f"run {self.run_id}: actions.jsonl lacks events it lists")
        for number, (event, recorded) in enumerate(zip(self.events, chain), 1):  # noqa: B905 (3.9)
            where = (
                f"actions.jsonl line {self.first_line + number} (run {self.run_id}, event {number})"
            )
            if event.get("run_id") != self.run_id or event.get("seq") != number:
                raise Tampered(f"{where}: row removed, reordered or moved")
            if event.get("prev_hash") != prev:
                raise Tampered(f"{where}: chain broken (prev_hash differs)")
            payload = canonical({k: event.get(k) for k in PAYLOAD})
            if sha256_hex(prev + payload) != event.get("hash"):
                raise Tampered(f"{where}: row changed (hash differs)")
            if recorded != {"seq": number, "kind": event["kind"], "hash": event["hash"]}:
                raise Tampered(f"{where}: differs from the chain in manifest.json")
            for sha in need(event["artifacts"], list, where + ": artifacts"):
                if sha not in present:
                    report.problems.append(f"{where}: artifact {sha} not in the bundle")
            data = need(event["data"], dict, where + ": data")
            if event["kind"] == "state_changed":
                state = data.get("to_state")
            elif event["kind"] == "run_created" and number == 1:
                created = data
            prev = event["hash"]
        copies = {
            "state": state,
            "event_count": len(self.events),
            "head_hash": self.events[-1]["hash"] if self.events else None,
        }
        for key in ("recipe", "recipe_version", "site", "case_id"):
            if created is not None:
                copies[key] = created.get(key)
        for key, value in copies.items():
            if self.entry.get(key) != value:
                report.problems.append(
                    f"run {self.run_id}: {key} in manifest.json differs from its chain"
                )

    def check_seals(self, bundle: Bundle, listed: dict[str, Any], report: Report) -> None:
        """Every sealed manifest: numbered 1, 2, …, its root, a prefix of the chain, signed,
        and timestamped when a token came with it; the latest covers every event."""
        run_id, events = self.run_id, self.events
        seals = need(self.entry.get("manifests"), list, f"run {run_id}: manifests")
        latest = need(seals[-1], dict, f"run {run_id}: manifests") if seals else None
        if self.entry.get("manifest") != (latest or {}).get("manifest"):
            report.problems.append(f"run {run_id}: manifest is not its latest sealed one")
        covered, signed = 0, True  # after a bad signature, the later ones are not checked
        for n, seal in enumerate(seals, 1):
            where = f"run {run_id}: sealed manifest {n}"
            body = need(need(seal, dict, where).get("manifest"), dict, where)
            root = root_hash(body)
            if seal.get("n") != n:
                raise Tampered("{}: numbered {!r} (one was removed)".format(where, seal.get("n")))
            if root != body.get("root_hash") or root != seal.get("root_hash"):
                report.problems.append(f"{where}: edited (root hash)")
                continue
            count = need(body.get("event_count"), int, where + ": event_count")
            if body.get("run_id") != run_id or not covered <= count <= len(events):
                report.problems.append(f"{where}: covers events not in the chain")
                continue
            prefix = [{"seq": e["seq"], "kind": e["kind"], "hash": e["hash"]} for e in events]
            shas = sorted({sha for e in events[:count] for sha in e["artifacts"]})
            head = prefix[count - 1]["hash"] if count else None
            if body.get("chain") != prefix[:count] or body.get("head_hash") != head:
                report.problems.append(f"{where}: disagrees with the chain")
            elif [a.get("sha256") for a in need(body.get("artifacts", []), list, where)] != shas:
                report.problems.append(f"{where}: its artifacts disagree with the chain")
            covered = count
            report.sealed.setdefault(run_id, []).append(root)
            message = root_message(run_id, n, root)
            if seal.get("signature") is None:
                report.notes.append(f"{where}: not signed (sealed before signing was on)")
            elif signed:
                signed = check_signature(seal["signature"], message, where, report)
            if seal.get("timestamp") is not None:
                stamped = check_timestamp(bundle, listed, seal["timestamp"], message, where, report)
                if stamped:
                    report.timestamps.setdefault(run_id, []).append((n, *stamped))
        if seals and covered != len(events):
            report.problems.append(
                f"run {run_id}: events {covered + 1}..{len(events)} are not covered by its "
                "latest sealed manifest"
            )
        elif not seals and events:
            report.problems.append(f"run {run_id}: no sealed manifest covers its events")


def check_timestamp(
    bundle: Bundle, listed: dict[str, Any], stamp: Any, message: bytes, where: str, report: Report
) -> tuple[str, str] | None:
    """A token's imprint must be the SHA-256 of the root's signed message; (time, TSA)."""
    path = need(need(stamp, dict, where + ": timestamp").get("path"), str, where + ": path")
    if path not in listed or path not in bundle.names():
        report.problems.append(f"{where}: its timestamp token {path} is not in the bundle")
        return None
    try:
        digest, when = read_timestamp(bundle.read(path))
    except ValueError as exc:
        report.problems.append(f"{where}: timestamp {path} unreadable ({exc})")
        return None
    if digest != hashlib.sha256(message).digest():
        report.problems.append(f"{where}: timestamp {path} is for another root")
        return None
    return _iso_time(when), str(stamp.get("tsa_url"))


def _iso_time(generalized: str) -> str:
    """20261201223725Z -> 2026-12-01T22:37:25Z (a DER GeneralizedTime, shown as ISO 8601)."""
    g = generalized
    if len(g) < 15 or not g[:14].isdigit():
        return g
    return f"{g[0:4]}-{g[4:6]}-{g[6:8]}T{g[8:10]}:{g[10:12]}:{g[12:]}"


def _check_keys(manifest: dict[str, Any], report: Report) -> None:
    listed = manifest.get("keys")
    pairs = sorted(
        (k.get("key"), k.get("fingerprint")) for k in listed or [] if isinstance(k, dict)
    )
    if not isinstance(listed, list) or pairs != sorted(
        (kid, fingerprint(kid)) for kid in report.signers
    ):
        report.problems.append("manifest.json: keys does not list exactly the keys that signed")


# --------------------------------------------------------------------- the command


def show(report: Report, keys: tuple[str, ...]) -> list[str]:
    """The lines to print for a report (every one safe for a terminal)."""
    if report.problems:
        lines = [f"BROKEN: {len(report.problems)} problem(s)"]
        lines += ["  " + problem for problem in report.problems]
        lines += ["note: " + note for note in report.notes]
        return [printable(line) for line in lines]
    lines = [
        f"OK: {report.files} file(s), {report.runs} run(s); bundle root hash {report.root_hash}"
    ]
    for kid in sorted(report.signers):
        lines.append(f"signed by key {fingerprint(kid)}")
    if keys:
        lines.append("  a key you trust (--key): every signature is by one")
    else:
        lines += [
            "  A valid signature shows who holds this key, not who they are: compare this",
            "  fingerprint with the one the sender gave you over a channel you trust (not in",
            "  this bundle), or pass it with --key to have it checked.",
        ]
    for run_id, roots in report.sealed.items():
        lines.append(f"run {run_id}: {len(roots)} sealed manifest(s), latest root {roots[-1]}")
        stamps = report.timestamps.get(run_id, [])
        if stamps:
            n, when, tsa = stamps[-1]
            lines.append(
                f"  {len(stamps)} timestamped; manifest {n} at {when} by {tsa} "
                "(the TSA's own signature is not checked here: see VERIFY.md)"
            )
    lines += ["note: " + note for note in report.notes]
    return [printable(line) for line in lines]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="verify_bundle.py", description="Verify an Aijia evidence bundle (stdlib only)."
    )
    parser.add_argument("bundle", nargs="?", help="the bundle .zip or its unpacked folder")
    parser.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="SHA256:…",
        help="a key fingerprint you trust (from the sender, over another channel); repeatable",
    )
    args = parser.parse_args(argv[1:])
    location = args.bundle or os.path.dirname(os.path.abspath(__file__))
    try:
        keys = tuple(parse_fingerprint(k) for k in args.key)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        report = check(location, keys)
    except Unreadable as exc:
        print(printable(f"UNREADABLE: {exc}"))
        return 2
    except Exception as exc:  # hostile input we did not foresee: refuse it, never a traceback
        print(printable(f"UNREADABLE: {location}: {type(exc).__name__}: {exc}"))
        return 2
    for line in show(report, keys):
        print(line)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
