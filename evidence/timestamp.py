"""RFC 3161 timestamps on sealed roots, from the authority in `evidence.signing.tsa_url`.

A signature says who vouched for a root; a timestamp from an independent authority (TSA) says
it existed by then, which a key holder cannot backdate. After each commit that sealed
something, the store calls `stamp_roots`; the token (the TSA's whole DER TimeStampResp) goes
into `root_timestamps`, and into bundles as `timestamps/<run_id>-<n>.tsr`.

What is timestamped (the bundle verifier repeats it)::

    message imprint = SHA-256(root_message(run_id, n, root_hash))

the very bytes the manifest's Ed25519 signature covers, so a token names one run, one seal
and one root. The full check of a token with OpenSSL::

    printf 'aijia-root/1\\n%s\\n%s\\n%s' RUN_ID N ROOT_HASH > root.txt
    openssl ts -verify -data root.txt -in RUN_ID-N.tsr -CAfile tsa-ca.pem

Asking never raises and never holds the write lock: a TSA that is down, slow (past
`tsa_timeout_s`) or answers something else only costs a warning in the log, and the root
stays signed but not timestamped.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from agent.core.errors import EvidenceError
from evidence.ids import utc_now
from evidence.signing import root_message

if TYPE_CHECKING:
    from evidence.store import EvidenceStore

log = logging.getLogger(__name__)
QUERY_TYPE = "application/timestamp-query"


def request_token(url: str, message: bytes, *, timeout_s: float) -> bytes:
    """The TSA's reply (DER TimeStampResp) over SHA-256(`message`), checked to be a granted
    token for that digest and our nonce; EvidenceError naming the TSA otherwise."""
    request = (
        TimestampRequestBuilder()
        .data(message)
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    try:
        answer = httpx.post(
            url,
            content=request.as_bytes(),
            headers={"Content-Type": QUERY_TYPE},
            timeout=timeout_s,
        )
        answer.raise_for_status()
    except httpx.HTTPError as exc:
        raise EvidenceError(f"timestamp authority {url}: {exc}") from None
    try:
        response = decode_timestamp_response(answer.content)
    except ValueError as exc:
        raise EvidenceError(f"timestamp authority {url}: not a timestamp reply: {exc}") from None
    if PKIStatus(response.status) not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        raise EvidenceError(f"timestamp authority {url}: refused ({response.status_string})")
    info = response.tst_info
    if info.message_imprint.message != hashlib.sha256(message).digest():
        raise EvidenceError(f"timestamp authority {url}: its token is for another digest")
    if info.nonce != request.nonce:
        raise EvidenceError(f"timestamp authority {url}: its token answers another request")
    return answer.content


def stamp_roots(store: EvidenceStore, sealed: Sequence[tuple[str, int, str]]) -> None:
    """Ask `evidence.signing.tsa_url` for a token on each (run_id, n, root_hash) and store
    it; never raises: a failure is logged as a warning and records nothing."""
    signing = store.settings.signing
    if not signing.tsa_url:
        return
    for run_id, n, root_hash in sealed:
        try:
            token = request_token(
                signing.tsa_url,
                root_message(run_id, n, root_hash),
                timeout_s=signing.tsa_timeout_s,
            )
            with store.transaction() as tx:
                tx.table("root_timestamps").insert(
                    {
                        "run_id": run_id,
                        "n": n,
                        "root_hash": root_hash,
                        "tsa_url": signing.tsa_url,
                        "token": base64.b64encode(token).decode("ascii"),
                        "at": utc_now(),
                    },
                )
        except Exception as exc:  # a timestamp is a bonus: the seal is committed already
            log.warning("no timestamp for run %s manifest %s: %s", run_id, n, exc)


@dataclass(frozen=True)
class TokenCheck:
    """What a token says about a root: when, and whether the TSA's signature was checked."""

    problem: str | None  # None: the token is for this root (and verified, with roots)
    gen_time: datetime.datetime | None = None
    signature_checked: bool = False  # against the trusted TSA roots given

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_token(
    token: bytes,
    run_id: str,
    n: int,
    root_hash: str,
    *,
    roots: Sequence[x509.Certificate] = (),
) -> TokenCheck:
    """Is `token` a timestamp on this root? With `roots` (the TSA's trusted certificates) its
    CMS signature and certificate chain are verified too; without, only what it says."""
    digest = hashlib.sha256(root_message(run_id, n, root_hash)).digest()
    try:
        response = decode_timestamp_response(token)
    except ValueError as exc:
        return TokenCheck(f"not a timestamp token: {exc}")
    if PKIStatus(response.status) not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        return TokenCheck("the authority did not grant it")
    when = response.tst_info.gen_time
    if response.tst_info.message_imprint.message != digest:
        return TokenCheck("it is a timestamp on another root", when)
    if not roots:
        return TokenCheck(None, when)
    builder = VerifierBuilder()
    for root in roots:
        builder = builder.add_root_certificate(root)
    try:
        builder.build().verify(response, digest)
    except (VerificationError, ValueError) as exc:
        return TokenCheck(f"its signature does not verify: {exc}", when)
    return TokenCheck(None, when, signature_checked=True)


def load_roots(path: Path) -> list[x509.Certificate]:
    """The TSA root certificates in a PEM file; EvidenceError naming it if there are none."""
    try:
        certificates = x509.load_pem_x509_certificates(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise EvidenceError(
            f"TSA certificates {path}: cannot read them: {exc}",
            hint="give the PEM file of the authority's root certificate(s)",
        ) from None
    return certificates
