"""Evidence blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2, moto): `S3Objects`.

The same content-addressed names as the local store, under a prefix:
`<prefix>objects/<first two hex>/<sha256>`. A blob is written once: `put` asks first (HEAD)
and writes only what is missing, so storing the same bytes twice costs one request and never
makes a second version. Every read is hashed and compared with the name: a blob changed in
the bucket is an EvidenceError naming its key, never evidence.

Object lock (`evidence.blobs.object_lock`) sets a retention date on every blob written: the
bucket then refuses to delete it before that date, and so does `remove` (with a message that
says until when), which is how `aijia evidence prune` learns to keep such runs.

boto3 is imported here only, and this module only when `evidence.blobs.kind` is s3.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent.core.errors import EvidenceError
from agent.core.secrets import SecretRef, resolve
from evidence.files import checked_blob

if TYPE_CHECKING:
    from agent.core.settings import BlobSettings

CHUNK = 1 << 20
MISSING = {"404", "NoSuchKey", "NotFound"}
DENIED = {
    "403",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AllAccessDisabled",
    "InvalidToken",
    "ExpiredToken",
}


def _client(settings: BlobSettings) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise EvidenceError(
            "evidence.blobs: kind s3 needs boto3, which is not installed",
            hint="pip install -e '.[scale]' (or pip install boto3), or set evidence.blobs.kind: "
            "local",
        ) from None
    credentials: dict[str, str] = {}
    if settings.access_key_id is not None and settings.secret_access_key is not None:
        site = "evidence.blobs"
        credentials = {
            "aws_access_key_id": resolve(
                SecretRef.model_validate(settings.access_key_id), site=site
            ),
            "aws_secret_access_key": resolve(
                SecretRef.model_validate(settings.secret_access_key), site=site
            ),
        }
    return boto3.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        config=Config(
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
        ),
        **credentials,
    )


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3Objects:
    """Implements `evidence.files.BlobStore` over one bucket and prefix."""

    def __init__(self, settings: BlobSettings) -> None:
        assert settings.bucket is not None  # BlobSettings checks it for kind s3
        self.settings = settings
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self.where = f"s3://{self.bucket}/{self.prefix}"
        self.client = _client(settings)

    def relative_path(self, sha256: str) -> str:
        return f"objects/{sha256[:2]}/{sha256}"

    def key(self, sha256: str) -> str:
        return f"{self.prefix}{self.relative_path(sha256)}"

    # ------------------------------------------------------------------ errors

    @contextmanager
    def _talking(self, doing: str, *, of_bucket: bool = False) -> Iterator[None]:
        """Turn boto3's errors into an EvidenceError that says where, what and what to do.
        `of_bucket`: a bare 404 (a HEAD has no body to name it) means the bucket is missing."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        endpoint = self.settings.endpoint_url or "AWS S3"
        try:
            yield
        except ClientError as exc:
            code = _code(exc)
            if code == "NoSuchBucket" or (of_bucket and code in MISSING):
                raise EvidenceError(
                    f"evidence blobs {self.where}: cannot {doing}: the bucket {self.bucket!r} "
                    f"does not exist at {endpoint}",
                    hint="create it (aws s3 mb), or fix evidence.blobs.bucket / endpoint_url in "
                    "config.yaml; `aijia doctor` checks it",
                ) from None
            if code in DENIED:
                raise EvidenceError(
                    f"evidence blobs {self.where}: cannot {doing}: access denied ({code})",
                    hint="check evidence.blobs.access_key_id / secret_access_key and that the "
                    "bucket policy allows s3:GetObject, s3:PutObject, s3:DeleteObject and "
                    "s3:ListBucket (without it a missing blob answers 403, not 404)",
                ) from None
            raise EvidenceError(
                f"evidence blobs {self.where}: cannot {doing}: {code or exc}",
                hint="`aijia doctor` checks the bucket",
            ) from None
        except NoCredentialsError:
            raise EvidenceError(
                f"evidence blobs {self.where}: cannot {doing}: no S3 credentials",
                hint="set evidence.blobs.access_key_id and secret_access_key (secret "
                "references), or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or an AWS profile",
            ) from None
        except BotoCoreError as exc:  # no connection, timeouts, bad endpoint, no credentials
            raise EvidenceError(
                f"evidence blobs {self.where}: cannot {doing}: {endpoint} does not answer: {exc}",
                hint="check evidence.blobs.endpoint_url and region, the network, and the "
                "credentials; `aijia doctor` checks the bucket",
            ) from None

    def _head(self, sha256: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        with self._talking(f"look up {self.key(sha256)}"):
            try:
                head: dict[str, Any] = self.client.head_object(
                    Bucket=self.bucket, Key=self.key(sha256)
                )
            except ClientError as exc:
                if _code(exc) in MISSING:
                    return None
                raise
        return head

    # ------------------------------------------------------------------ BlobStore

    def put(self, content: bytes) -> tuple[str, str]:
        sha = hashlib.sha256(content).hexdigest()
        if self._head(sha) is not None:  # deduplicated: same bytes, same name
            return sha, self.relative_path(sha)
        extra: dict[str, Any] = {}
        lock = self.settings.object_lock
        if lock is not None:
            extra["ObjectLockMode"] = lock.mode
            extra["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(days=lock.days)
        sse = self.settings.server_side_encryption
        if sse is not None:
            extra["ServerSideEncryption"] = sse.algorithm
            if sse.kms_key_id:
                extra["SSEKMSKeyId"] = sse.kms_key_id
        with self._talking(f"write artifact {self.key(sha)}"):
            self.client.put_object(Bucket=self.bucket, Key=self.key(sha), Body=content, **extra)
        return sha, self.relative_path(sha)

    def read(self, sha256: str) -> bytes:
        from botocore.exceptions import ClientError

        key = self.key(sha256)
        with self._talking(f"read artifact {key}"):
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            except ClientError as exc:
                if _code(exc) not in MISSING:
                    raise
                raise EvidenceError(
                    f"evidence blobs {self.where}: artifact {key} is missing",
                    hint="run `aijia evidence verify --all` to see what is missing",
                ) from None
            data = body.read()
        return checked_blob(data, sha256, f"s3://{self.bucket}/{key}")

    def hash_file(self, sha256: str) -> tuple[str, int] | None:
        from botocore.exceptions import ClientError

        key = self.key(sha256)
        digest, size = hashlib.sha256(), 0
        with self._talking(f"read artifact {key}"):
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            except ClientError as exc:
                if _code(exc) in MISSING:
                    return None
                raise
            for chunk in body.iter_chunks(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        return digest.hexdigest(), size

    def retained_until(self, sha256: str) -> str | None:
        head = self._head(sha256)
        until = (head or {}).get("ObjectLockRetainUntilDate")
        if isinstance(until, datetime) and until > datetime.now(UTC):
            return until.isoformat(timespec="seconds")
        return None

    def remove(self, sha256: str) -> None:
        key = self.key(sha256)
        head = self._head(sha256)
        if head is None:
            return
        until = head.get("ObjectLockRetainUntilDate")
        if isinstance(until, datetime) and until > datetime.now(UTC):
            raise EvidenceError(
                f"evidence blobs {self.where}: refusing to delete {key}: it is under object "
                f"lock ({head.get('ObjectLockMode', 'retention')}) until "
                f"{until.isoformat(timespec='seconds')}",
                hint="retention is the point of object lock: it can be removed after that date",
            )
        # In a versioned bucket (object lock needs one) a delete without a version only hides
        # the blob behind a marker; naming the version frees it.
        version = {"VersionId": head["VersionId"]} if head.get("VersionId") else {}
        with self._talking(f"delete {key}"):
            self.client.delete_object(Bucket=self.bucket, Key=key, **version)

    def remove_stale(self, older_than_s: float) -> tuple[int, int]:
        return 0, 0  # one PUT per blob: a writer that dies leaves nothing half-written

    def check(self) -> str:
        endpoint = self.settings.endpoint_url or "AWS S3"
        with self._talking("reach the bucket", of_bucket=True):
            self.client.head_bucket(Bucket=self.bucket)
        if self.settings.object_lock is None:
            return f"{self.where} at {endpoint}"
        with self._talking("read the bucket's object lock configuration"):
            try:
                found = self.client.get_object_lock_configuration(Bucket=self.bucket)
            except Exception as exc:
                if "ObjectLockConfigurationNotFound" not in _code(exc):
                    raise
                found = {}
        if found.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") != "Enabled":
            raise EvidenceError(
                f"evidence blobs {self.where}: object_lock is configured but the bucket "
                f"{self.bucket!r} has no object lock",
                hint="object lock can only be enabled when a bucket is created "
                "(--object-lock-enabled-for-bucket): use such a bucket, or remove "
                "evidence.blobs.object_lock",
            )
        lock = self.settings.object_lock
        return f"{self.where} at {endpoint} (object lock {lock.mode}, {lock.days} day(s))"
