"""Ed25519 signatures over sealed roots, with a key kept outside the store.

Someone who can write the store can recompute every hash in it; they cannot sign. Each
sealed manifest's root is signed, and `verify` (and the bundle's stdlib verifier) accepts a
signature only from a trusted key: the configured key's own public half, plus the
fingerprints listed in `evidence.signing.trusted_keys`.

    signer = load_signer(settings.evidence.signing, store_root=store.root)
    record = signer.sign(root_message(run_id, n, root_hash))
    # {"alg": "ed25519", "key": "<sha256 hex of the raw public key>",
    #  "public_key": "<base64 raw 32 bytes>", "sig": "<base64 64 bytes>"}
    problem = check_signature(record, root_message(run_id, n, root_hash), trusted)

What is signed, exactly (the bundle verifier repeats it)::

    root_message(run_id, n, root_hash) = "aijia-root/1\\n{run_id}\\n{n}\\n{root_hash}" (UTF-8)

The key file is PKCS#8 PEM, mode 0600, created with O_EXCL (never overwritten). A key file
that others can read, or one inside the evidence store, is refused.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from agent.core.errors import EvidenceError
from agent.core.files import create_private_once
from agent.core.settings import SigningSettings

ALG = "ed25519"
ROOT_FORMAT = "aijia-root/1"


def root_message(run_id: str, n: int, root_hash: str) -> bytes:
    """The bytes a manifest's signature covers: which run, which manifest, which root."""
    return f"{ROOT_FORMAT}\n{run_id}\n{n}\n{root_hash}".encode()


def key_id(public_raw: bytes) -> str:
    """A public key's id: sha256 hex of its raw 32 bytes."""
    return hashlib.sha256(public_raw).hexdigest()


def fingerprint(kid: str) -> str:
    """How people compare keys over the phone: SHA256:<hex>, in groups of four."""
    return "SHA256:" + ":".join(kid[i : i + 4] for i in range(0, len(kid), 4))


def parse_fingerprint(text: str) -> str:
    """A key id from `SHA256:ab12:…`, `SHA256:ab12…` or bare hex; ValueError otherwise."""
    hexpart = text.strip().removeprefix("SHA256:").replace(":", "").lower()
    if len(hexpart) != 64 or any(c not in "0123456789abcdef" for c in hexpart):
        raise ValueError(f"not a key fingerprint: {text!r} (expected SHA256: and 64 hex digits)")
    return hexpart


@dataclass(frozen=True)
class Signer:
    """A loaded private key: signs messages, names its public half."""

    path: Path
    private: Ed25519PrivateKey

    @property
    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def key_id(self) -> str:
        return key_id(self.public_raw)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key_id)

    def sign(self, message: bytes) -> dict[str, str]:
        return {
            "alg": ALG,
            "key": self.key_id,
            "public_key": base64.b64encode(self.public_raw).decode("ascii"),
            "sig": base64.b64encode(self.private.sign(message)).decode("ascii"),
        }


def check_signature(
    record: Mapping[str, Any] | None, message: bytes, trusted: Iterable[str]
) -> str | None:
    """None when `record` is a valid signature of `message` by a trusted key; else why not."""
    if not record:
        return "it is not signed"
    if not isinstance(record, Mapping) or record.get("alg") != ALG:
        return "its signature is not an Ed25519 signature record"
    try:
        public_raw = base64.b64decode(str(record.get("public_key", "")), validate=True)
        sig = base64.b64decode(str(record.get("sig", "")), validate=True)
    except ValueError:
        return "its signature record does not decode"
    kid = key_id(public_raw)
    if record.get("key") != kid:
        return "its signature names one key and carries another"
    if kid not in set(trusted):
        return f"it is signed by an untrusted key {fingerprint(kid)}"
    if not _valid(public_raw, sig, message):
        return "its signature does not match it"
    return None


@functools.lru_cache(maxsize=8192)
def _valid(public_raw: bytes, sig: bytes, message: bytes) -> bool:
    """Ed25519 verification, remembered: `verify` checks the same seals again and again (a
    manifest and its root log line, every run on every call), and the answer never changes."""
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(sig, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def init_key(path: Path) -> Signer:
    """Create a new key at `path` (0600, parents 0700); EvidenceError if one exists."""
    path = Path(path)
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Never overwritten, never read half-written (agent.core.files.create_private_once).
    if not create_private_once(path, pem):
        raise EvidenceError(
            f"signing key {path} already exists; it is never overwritten",
            hint="`aijia keys show` prints its fingerprint; move it away first to replace it "
            "(and list the old fingerprint in evidence.signing.trusted_keys)",
        )
    return Signer(path, private)


def read_key(path: Path) -> Signer:
    """Load the key at `path`; EvidenceError naming the file when it cannot be used."""
    path = Path(path)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            raise EvidenceError(
                f"signing key {path} is readable by others (mode {mode:04o})",
                hint=f"chmod 600 {path}",
            )
        pem = path.read_bytes()
    except FileNotFoundError:
        raise EvidenceError(
            f"signing key {path} does not exist",
            hint="`aijia keys init` creates it (or set evidence.signing.key_file)",
        ) from None
    except OSError as exc:
        raise EvidenceError(f"signing key {path}: cannot read it: {exc}") from None
    try:
        private = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise EvidenceError(f"signing key {path} is not a usable key: {exc}") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise EvidenceError(f"signing key {path} is not an Ed25519 key")
    return Signer(path, private)


def load_signer(settings: SigningSettings, *, store_root: Path | None = None) -> Signer:
    """The configured key, created first when missing and `create_key` allows it."""
    path = settings.key_file
    if store_root is not None and _inside(path, store_root):
        raise EvidenceError(
            f"signing key {path} is inside the evidence store {store_root}",
            hint="keep the key outside the store: anyone who can rewrite the store could "
            "then re-sign it (set evidence.signing.key_file)",
        )
    if not path.exists() and settings.create_key:
        with contextlib.suppress(EvidenceError):  # another process created it just now
            return init_key(path)
    return read_key(path)


def trusted_key_ids(settings: SigningSettings, signer: Signer | None) -> set[str]:
    """The key ids whose signatures verify: the configured key and the listed fingerprints."""
    ids = {parse_fingerprint(text) for text in settings.trusted_keys}
    if signer is not None:
        ids.add(signer.key_id)
    return ids
