"""A local RFC 3161 timestamp authority for the tests: real tokens, signed by `openssl ts`.

A throwaway CA and a TSA certificate (extendedKeyUsage critical timeStamping, as RFC 3161
requires) are made with the cryptography package; a tiny HTTP server on 127.0.0.1 answers
each POST of `application/timestamp-query` with what `openssl ts -reply` makes of it. It
counts the requests it answered, and can be told to fail (HTTP 500) or to hang. The token
carries the TSA certificate only: OpenSSL does not sort a DER SET OF certificates, and
rfc3161-client refuses an unsorted one.

    with LocalTSA(tmp_path) as tsa:
        settings.evidence.signing.tsa_url = tsa.url
        ...
        tsa.ca_pem     # the root to trust: `openssl ts -verify -CAfile` / check_token(roots=)
"""

from __future__ import annotations

import datetime
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OPENSSL = "/usr/bin/openssl"
CONFIG = """\
[ tsa ]
default_tsa = aijia_test_tsa

[ aijia_test_tsa ]
dir = {folder}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def make_authority(folder: Path) -> None:
    """ca.pem, tsa.pem, tsa.key, serial and tsa.cnf in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    later = now + datetime.timedelta(days=30)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Aijia test TSA root"))
        .issuer_name(_name("Aijia test TSA root"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    tsa = (
        x509.CertificateBuilder()
        .subject_name(_name("Aijia test TSA"))
        .issuer_name(ca.subject)
        .public_key(tsa_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "tsa.pem").write_bytes(tsa.public_bytes(serialization.Encoding.PEM))
    _write_key(folder / "tsa.key", tsa_key)
    (folder / "serial").write_text("01\n")
    (folder / "tsa.cnf").write_text(CONFIG.format(folder=folder))


class LocalTSA:
    """The authority and its HTTP server; `mode` is "ok", "fail" (HTTP 500) or "hang"."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        make_authority(folder)
        self.mode = "ok"
        self.answered = 0
        self._lock = threading.Lock()
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                query = self.rfile.read(length)
                if tsa.mode == "hang":  # past the client's timeout: it has gone by then
                    time.sleep(5)
                    self.close_connection = True
                    return
                if (
                    tsa.mode != "ok"
                    or self.headers.get("Content-Type") != "application/timestamp-query"
                ):
                    self.send_error(500, "refused")
                    return
                body = tsa.reply(query)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/tsa"

    @property
    def ca_pem(self) -> Path:
        return self.folder / "ca.pem"

    def reply(self, query: bytes) -> bytes:
        """What `openssl ts -reply` answers to this DER TimeStampReq (one at a time: it
        keeps the serial number in a file)."""
        with self._lock:
            request = self.folder / "request.tsq"
            request.write_bytes(query)
            done = subprocess.run(
                [
                    *(OPENSSL, "ts", "-reply", "-config", str(self.folder / "tsa.cnf")),
                    *("-queryfile", str(request), "-out", str(self.folder / "reply.tsr")),
                ],
                capture_output=True,
                check=True,
                timeout=30,
            )
            assert done.returncode == 0
            self.answered += 1
            return (self.folder / "reply.tsr").read_bytes()

    def __enter__(self) -> LocalTSA:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
