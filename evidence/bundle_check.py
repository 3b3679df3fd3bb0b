"""Check a received bundle with this install's verifier, never with the copy inside it.

The `verify_bundle.py` in a bundle cannot vouch for itself: whoever replaced it can make it
print the original `OK`. `aijia evidence verify-bundle` runs the verifier Aijia ships
(`evidence.verify_bundle`, the same code), so a swapped script is caught as a changed file;
it also says when the bundle's script differs from this install's (another version), checks
the keys against the ones this install trusts, and, given the TSA's root certificate(s),
verifies each RFC 3161 token's signature, which the standard-library verifier cannot.

    result = check_bundle(Path("bundle.zip"), keys={"ab12…"}, tsa_roots=load_roots(ca))
    result.ok, result.problems, result.lines()
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.core.errors import InputError
from evidence import verify_bundle
from evidence.hashing import sha256_hex

if TYPE_CHECKING:
    from cryptography import x509

HERE = Path(__file__).resolve().parent


@dataclass
class BundleCheck:
    """The verifier's report, plus what only a trusted install can check."""

    report: verify_bundle.Report
    keys: tuple[str, ...]  # the key ids the signatures had to be by (empty: any, shown)
    problems: list[str] = field(default_factory=list)  # the report's and ours
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """What to print, every line safe for a terminal."""
        shown = copy.copy(self.report)
        shown.problems, shown.notes = self.problems, [*self.notes, *self.report.notes]
        return verify_bundle.show(shown, self.keys)


def compiled_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """The shipped verifier's Ed25519 check, by the compiled implementation (same answer,
    a hundred times faster than the pure-Python one a recipient runs)."""
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def check_bundle(
    path: Path,
    *,
    keys: Iterable[str] = (),
    tsa_roots: Sequence[x509.Certificate] = (),
) -> BundleCheck:
    """Check the bundle at `path`; InputError (exit 2) naming it when it is unreadable or
    hostile. `keys` are key ids (sha256 hex of the public key) to require."""
    wanted = tuple(sorted(set(keys)))
    try:
        report = verify_bundle.check(str(path), wanted, verify=compiled_verify)
        bundle = verify_bundle.Bundle(str(path))
    except verify_bundle.Unreadable as exc:
        raise InputError(
            f"bundle refused: {exc}",
            hint="it is not an Aijia evidence bundle, or it was damaged or made to harm",
        ) from None
    result = BundleCheck(report, wanted, problems=list(report.problems))
    if "verify_bundle.py" in bundle.names():
        ours = sha256_hex((HERE / "verify_bundle.py").read_bytes())
        if sha256_hex(bundle.read("verify_bundle.py")) != ours:
            result.notes.append(
                "the bundle's verify_bundle.py is not this install's (another Aijia version, "
                "or replaced): it was not used; this install's verifier checked the bundle"
            )
    if tsa_roots and report.ok:
        _check_tokens(bundle, tsa_roots, result)
    return result


def _check_tokens(
    bundle: verify_bundle.Bundle, roots: Sequence[x509.Certificate], result: BundleCheck
) -> None:
    """Verify each token's CMS signature and certificate chain up to the given roots."""
    from evidence.timestamp import check_token

    manifest: dict[str, Any] = bundle.json("manifest.json")
    checked = 0
    for run in manifest["runs"]:
        for seal in run["manifests"]:
            stamp = seal.get("timestamp")
            if not stamp:
                continue
            token = bundle.read(stamp["path"])
            found = check_token(token, run["run_id"], seal["n"], seal["root_hash"], roots=roots)
            if not found.ok:
                result.problems.append(
                    f"run {run['run_id']}: sealed manifest {seal['n']}: timestamp "
                    f"{stamp['path']}: {found.problem}"
                )
            checked += 1
    if checked:
        result.notes.append(f"{checked} timestamp token(s) verified against the TSA roots given")


def trusted_keys(key_file: Path, fingerprints: Sequence[str]) -> set[str]:
    """The key ids this install trusts: its own key's (when the file exists; it is never
    created here) and the configured fingerprints."""
    from evidence.signing import parse_fingerprint, read_key

    ids = {parse_fingerprint(text) for text in fingerprints}
    if Path(key_file).exists():
        ids.add(read_key(key_file).key_id)
    return ids
