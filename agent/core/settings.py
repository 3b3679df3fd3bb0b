"""Typed configuration: config.yaml -> pydantic models.

Precedence, lowest first: the defaults declared here < config.yaml < the recipe < CLI flags.
Which config.yaml: the `--config` flag, else `$AIJIA_CONFIG`, else `./config.yaml`, else the
one next to this project's `cli.py`. Relative paths in it are relative to the file itself.
Where data lives: `$AIJIA_DATA_DIR`, else the config's `data_dir`, else `var/` next to the
config; with no config at all, the user's data dir ($XDG_DATA_HOME/aijia).
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from agent.core.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RemoteBrowserSettings(_Section):
    """A Chromium started elsewhere (`playwright launch-server --browser chromium`): workers
    connect to it instead of launching their own (agent/browser/remote.py)."""

    ws_endpoint: str = Field(
        description="The server's WebSocket endpoint as it prints it, e.g. "
        "ws://browsers.internal:3000/0b1c… (ws:// or wss://).",
        pattern=r"^wss?://",
    )
    headers: dict[str, Any] = Field(
        default_factory=dict,
        description="HTTP headers sent when connecting (e.g. an auth token for a proxy in "
        "front of the server); a value may be a secret reference such as {$env: BROWSER_TOKEN}.",
    )
    timeout_ms: int = Field(15_000, description="How long to wait for the server to answer.", gt=0)


class BrowserSettings(_Section):
    remote: RemoteBrowserSettings | None = Field(
        None,
        description="Connect to a remote browser instead of launching Chromium here. Empty: "
        "launch one.",
    )
    executable_path: str | None = Field(
        None,
        description="Chromium to use. Overridden by $AIJIA_BROWSER. Empty: Playwright's own "
        "browser when installed, else a system Chromium.",
    )
    headless: bool = Field(True, description="Run without a window (CLI: --headed).")
    extra_args: list[str] = Field(default_factory=list, description="More Chromium flags.")
    default_timeout_ms: int = Field(10_000, description="Default per-step timeout.", gt=0)
    navigation_timeout_ms: int = Field(20_000, description="Default page-load timeout.", gt=0)
    viewport_width: int = Field(1280, gt=0)
    viewport_height: int = Field(900, gt=0)


class SiteSettings(_Section):
    base_url: str = Field(description="Where the back office lives, e.g. https://seller.example")
    title: str = Field("", description="Human name of the site, shown in reports.")
    flavor: str = Field("", description="Recipe folder under recipes/ for this site.")
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="More origins the browser may reach besides base_url's, written exactly "
        "as scheme://host[:port] (e.g. a CDN: https://cdn.example-static.com). Scheme, host "
        "and port must all match; everything else is blocked in the browser's network stack.",
    )
    credentials: dict[str, Any] = Field(
        default_factory=dict,
        description="Named secret references, e.g. password: {$env: SHOPLANE_PASSWORD}.",
    )
    session_lifetime_s: int = Field(
        3600, description="Reuse a saved login for at most this long.", gt=0
    )
    max_sessions: int | None = Field(
        None,
        description="At most this many browser sessions (contexts running a recipe) of one "
        "account on this site at once, across every worker sharing the evidence store. Empty: "
        "no limit.",
        gt=0,
    )

    @model_validator(mode="before")
    @classmethod
    def _renamed_allowed_domains(cls, data: Any) -> Any:
        if isinstance(data, dict) and "allowed_domains" in data:
            raise ValueError(
                "allowed_domains was replaced by allowed_origins: list each extra origin "
                "exactly, as scheme://host[:port] (e.g. https://cdn.example.com)"
            )
        return data

    @model_validator(mode="after")
    def _origins_are_exact(self) -> SiteSettings:
        from agent.core.origins import parse_origin

        parse_origin(self.base_url, where="base_url", path_ok=True)
        for i, text in enumerate(self.allowed_origins):
            parse_origin(text, where=f"allowed_origins[{i}]")
        return self

    challenge: dict[str, Any] | None = Field(
        default_factory=lambda: {"role": "heading", "name": "Security check"},
        description="Selector (as in recipes) of the site's challenge page; seeing it hands "
        "the browser to a human (never bypassed). null: no detection.",
    )


class SandboxSettings(_Section):
    host: str = Field("127.0.0.1", description="Interface the sandbox binds to.")
    port: int = Field(8700, description="First port; flavors take consecutive ports.")
    seed: int = Field(2611, description="Seed for the deterministic demo data.")
    orders_per_flavor: int = Field(240, ge=1)


class RedactionSettings(_Section):
    selectors: dict[str, list[str]] = Field(
        default_factory=dict,
        description="CSS selectors blanked in DOM snapshots (and masked in screenshots by the "
        "runner), per site name; the key '*' applies to every site.",
    )
    patterns: list[Literal["card", "email", "phone"]] = Field(
        default_factory=list,
        description="Built-in patterns masked in text artifacts (DOM, MHTML, logs).",
    )
    custom_patterns: dict[str, str] = Field(
        default_factory=dict, description="More patterns masked in text artifacts: name -> regex."
    )


def user_config_dir() -> Path:
    """The user's own Aijia folder ($XDG_CONFIG_HOME/aijia, else ~/.config/aijia): keys and
    tokens live here, never in the data dir."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "aijia"


def user_data_dir() -> Path:
    """Where data lives when no project says: $XDG_DATA_HOME/aijia, else ~/.local/share/aijia
    (a relative $XDG_DATA_HOME is ignored, as the XDG spec says)."""
    base = os.environ.get("XDG_DATA_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "aijia"


def default_key_file() -> Path:
    """Where the signing key lives unless configured: the user's config directory, never the
    data dir (the store must not hold the key that vouches for it)."""
    return user_config_dir() / "signing.key"


class SigningSettings(_Section):
    """Who vouches for the evidence: sealed manifests are signed with an Ed25519 key kept
    outside the store, optionally timestamped by an RFC 3161 authority, and their roots are
    appended to a log that can be shipped elsewhere (evidence/signing.py, evidence/rootlog.py)."""

    key_file: Path = Field(
        default_factory=default_key_file,
        description="The Ed25519 signing key (0600), outside the data dir. "
        "Default: $XDG_CONFIG_HOME/aijia/signing.key. `aijia keys init` creates it.",
    )
    create_key: bool = Field(
        True,
        description="Create the key file on first use when it is missing (false: a store "
        "without a key refuses to seal; run `aijia keys init`).",
    )
    trusted_keys: list[str] = Field(
        default_factory=list,
        description="More public key fingerprints (SHA256:…) whose signatures verify, e.g. "
        "keys used before a rotation.",
    )
    root_log: Path | None = Field(
        None,
        description="Append every sealed root here (one signed JSON line each), to ship to a "
        "WORM bucket or syslog. Empty: <data_dir>/roots.log.",
    )
    root_log_in_bucket: bool = Field(
        False,
        description="Keep the root log in the evidence.blobs S3 bucket, one object per entry "
        "(<prefix>roots/<entry>, under the blobs' object lock), instead of a file: the one "
        "log every machine sharing a PostgreSQL store writes and verifies against.",
    )
    tsa_url: str | None = Field(
        None, description="An RFC 3161 timestamp authority for each root. Empty: none."
    )
    tsa_timeout_s: float = Field(10.0, gt=0, le=120, description="Give up on the TSA after this.")

    @field_validator("key_file", mode="before")
    @classmethod
    def _default_key_file(cls, value: Any) -> Any:
        return default_key_file() if value is None else value

    @field_validator("trusted_keys")
    @classmethod
    def _fingerprints(cls, value: list[str]) -> list[str]:
        # the same spelling rule as evidence/signing.py parse_fingerprint (core imports nothing)
        for text in value:
            hexpart = text.strip().removeprefix("SHA256:").replace(":", "").lower()
            if len(hexpart) != 64 or any(c not in "0123456789abcdef" for c in hexpart):
                raise ValueError(
                    f"not a key fingerprint: {text!r} (expected SHA256: and 64 hex digits, "
                    "as `aijia keys show` prints it)"
                )
        return value


class ObjectLockSettings(_Section):
    """S3 Object Lock on every blob written (the bucket must have been created with Object
    Lock enabled): nobody, this store included, can delete a blob before its date."""

    mode: Literal["GOVERNANCE", "COMPLIANCE"] = Field(
        "COMPLIANCE",
        description="COMPLIANCE: not even the account's root user can shorten it; GOVERNANCE: "
        "users with s3:BypassGovernanceRetention can.",
    )
    days: int = Field(..., gt=0, le=36_500, description="Keep each blob this many days.")


class ServerSideEncryption(_Section):
    algorithm: Literal["AES256", "aws:kms"] = Field(
        "AES256", description="AES256: keys managed by S3; aws:kms: a KMS key."
    )
    kms_key_id: str | None = Field(
        None, description="The KMS key (id or ARN) with aws:kms. Empty: the account's default."
    )


class BlobSettings(_Section):
    """Where evidence blobs (screenshots, DOM, traces) live: files next to the store's
    database, or an S3-compatible bucket (evidence/blobs_s3.py; needs the `scale` extra)."""

    kind: Literal["local", "s3"] = Field(
        "local", description="local: <evidence location>/objects/; s3: the bucket below."
    )
    bucket: str | None = Field(None, description="The bucket's name (kind: s3).")
    prefix: str = Field(
        "", description="Key prefix inside the bucket, e.g. aijia/prod/ (a / is added)."
    )
    endpoint_url: str | None = Field(
        None,
        description="An S3-compatible endpoint (MinIO, Ceph, R2, …), e.g. http://127.0.0.1:9000. "
        "Empty: AWS S3.",
    )
    region: str | None = Field(None, description="The bucket's region, e.g. eu-west-1.")
    access_key_id: dict[str, Any] | None = Field(
        None,
        description="As a secret reference ({$env: AWS_ACCESS_KEY_ID}). Empty: boto3's own "
        "chain (environment, profile, instance role).",
    )
    secret_access_key: dict[str, Any] | None = Field(
        None, description="As a secret reference ({$env: AWS_SECRET_ACCESS_KEY})."
    )
    object_lock: ObjectLockSettings | None = Field(
        None, description="Retention set on each blob written. Empty: none."
    )
    server_side_encryption: ServerSideEncryption | None = Field(
        None,
        description="Encryption at rest asked for on each blob written. Empty: the bucket's "
        "default.",
    )

    @field_validator("access_key_id", "secret_access_key", mode="before")
    @classmethod
    def _credentials_are_references(cls, value: Any) -> Any:
        from agent.core.secrets import SecretRef, is_ref

        if value is not None:
            if not is_ref(value):
                raise ValueError(
                    "evidence.blobs credentials must be secret references such as "
                    "{$env: AWS_SECRET_ACCESS_KEY}, never the secret itself"
                )
            SecretRef.model_validate(value)
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix_is_a_folder(cls, value: str) -> str:
        value = value.strip("/")
        return f"{value}/" if value else ""

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> BlobSettings:
        if self.kind == "s3" and not self.bucket:
            raise ValueError("evidence.blobs: kind s3 needs a bucket")
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError(
                "evidence.blobs: give both access_key_id and secret_access_key, or neither"
            )
        return self


class EvidenceSettings(_Section):
    location: Path | None = Field(
        None, description="Where the evidence store lives. Empty: <data_dir>/evidence."
    )
    # A setting of its own, not a URL in `location`: location is a directory (blobs, the
    # writer note and the root log stay there) and a Path would fold postgresql:// to one /.
    database: str | None = Field(
        None,
        description="PostgreSQL URL (postgresql://user@host:5432/db) for the store's rows, "
        "shared by several machines; blobs stay in `location` (or evidence.blobs). Empty: "
        "SQLite in `location`. Needs the `scale` extra; keep the password out of it "
        "(PGPASSWORD or ~/.pgpass).",
    )

    @field_validator("database")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                f"evidence.database {value!r} is not a PostgreSQL URL: write "
                "postgresql://user@host:5432/dbname, or leave it empty for SQLite"
            )
        return value

    screenshot_format: Literal["png", "webp"] = Field(
        "png", description="How screenshots are stored (WebP is smaller, PNG is lossless)."
    )
    webp_quality: int = Field(85, ge=1, le=100, description="WebP quality; 100 is lossless.")
    full_page: bool = Field(False, description="Capture the full page, not only the viewport.")
    thumbnail_size: int = Field(
        320, gt=0, description="Longest side, in pixels, of the thumbnail kept per screenshot."
    )
    capture: Literal["every_page", "on_action", "on_failure", "off"] = Field(
        "on_action",
        description="When the runner captures screenshots and DOM snapshots (steps may override).",
    )

    @field_validator("capture", mode="before")
    @classmethod
    def _capture_off(cls, value: Any) -> Any:
        # `capture: off` unquoted is YAML's boolean false: the word the comment shows is meant
        if value is False:
            return "off"
        if value is True:
            raise ValueError(
                "capture: on (YAML true) says no mode; write one of every_page, on_action, "
                "on_failure or off"
            )
        return value

    trace: bool = Field(
        False,
        description="Record a Playwright trace of each run (actions, DOM snapshots, "
        "screenshots) and store it as a zip artifact; open it with `playwright show-trace`.",
    )
    mhtml: bool = Field(
        False,
        description="Also keep a single-file MHTML of every captured page (Chromium's "
        "Page.captureSnapshot), which any Chromium opens offline.",
    )
    busy_timeout_s: float = Field(
        30.0, gt=0, description="How long a writer waits for another process's write lock."
    )
    redaction: RedactionSettings = Field(default_factory=RedactionSettings)
    signing: SigningSettings = Field(default_factory=SigningSettings)
    blobs: BlobSettings = Field(
        default_factory=BlobSettings, description="Where artifact blobs live (local or S3)."
    )


class ActionPolicy(_Section):
    """What approving one gate action takes. Amounts are per currency: a gate whose currency
    has no threshold listed is treated as above every threshold (fail safe)."""

    amount_bind: str = Field("amount", description="The gate bind that holds the amount.")
    currency_bind: str = Field("currency", description="The gate bind that holds the currency.")
    require_role: str | None = Field(
        None, description="Every approver of this action needs this role, whatever the amount."
    )
    supervisor_above: dict[str, Decimal] = Field(
        default_factory=dict,
        description="currency -> amount; above it every approver needs `policy.supervisor_role`.",
    )
    two_approvers_above: dict[str, Decimal] = Field(
        default_factory=dict,
        description="currency -> amount; above it two distinct people must approve.",
    )
    auto_approve: bool | dict[str, Decimal] = Field(
        False,
        description="false: people approve; true: always approved by policy; "
        "{currency: limit}: approved by policy when the amount is below the limit.",
    )


class RolePolicy(_Section):
    run: list[str] = Field(
        default_factory=list, description="Recipes this role may run ('*': all)."
    )
    approve: list[str] = Field(
        default_factory=list, description="Gate actions this role may approve ('*': all)."
    )


class PolicySettings(_Section):
    users: dict[str, list[str]] = Field(
        default_factory=dict,
        description="name -> roles for identities that are not accounts: OS users (with "
        "trust_os_user), the scheduler's user, names given by embedding code (as_user=). "
        "An account's roles come from its account (`aijia users`) and win over this list; "
        "a name listed nowhere has no rights.",
    )
    trust_os_user: bool = Field(
        False,
        description="A CLI process with no token ($AIJIA_TOKEN or `aijia login`) acts as the "
        "OS user (its login name), when that name is listed in `users` and is not an account. "
        "A weaker proof than a token: whoever uses that OS account is that user. Keeps "
        "`make demo`, cron and single-user machines working without a login.",
    )
    admin_role: str = Field(
        "admin",
        description="The role that may add, disable and reset accounts and revoke anyone's "
        "token (`aijia users …`). The first account (made while none exists) must have it.",
    )
    roles: dict[str, RolePolicy] = Field(default_factory=dict, description="role -> rights.")
    actions: dict[str, ActionPolicy] = Field(
        default_factory=dict,
        description="gate action -> thresholds; an action not listed needs one approver.",
    )
    supervisor_role: str = Field("supervisor", description="The role the thresholds ask for.")
    approval_ttl_hours: float = Field(
        24.0, gt=0, description="A gate, and an approval not yet used, expire after this."
    )
    commit_lease_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="A committer holds a lease it renews; reconcile and a second resume act "
        "only once it has expired, and a committer whose lease lapsed sends nothing.",
    )
    commit_retry_s: list[float] = Field(
        default_factory=lambda: [60.0, 300.0, 900.0, 3600.0],
        description="When the site is down or login fails before the approved request was "
        "sent, the run stays approved and is retried after these delays (then every last one).",
    )

    @model_validator(mode="after")
    def _roles_are_declared(self) -> PolicySettings:
        known = set(self.roles)
        problems = [
            f"user {user!r} has unknown role {role!r}"
            for user, roles in self.users.items()
            for role in roles
            if role not in known
        ]
        problems += [
            f"action {name!r} requires unknown role {a.require_role!r}"
            for name, a in self.actions.items()
            if a.require_role is not None and a.require_role not in known
        ]
        if self.roles and self.supervisor_role not in known:
            problems.append(f"supervisor_role {self.supervisor_role!r} is not a declared role")
        if problems:
            raise ValueError("; ".join(problems) + f" (declared roles: {sorted(known)})")
        return self


class AccountsSettings(_Section):
    """Accounts and personal tokens (`aijia users`, `aijia login`; agent/gates/identity.py)."""

    max_failed_logins: int = Field(
        5, ge=1, le=100, description="Wrong passwords in a row before the account is locked."
    )
    lockout_minutes: float = Field(
        15.0, gt=0, description="How long a locked account refuses every sign-in."
    )
    token_ttl_days: float = Field(
        30.0, gt=0, description="A personal token made by `aijia login` expires after this."
    )
    min_password_length: int = Field(12, ge=8, le=1024, description="Shorter ones are refused.")
    token_store: Literal["file", "keyring"] = Field(
        "file",
        description="Where `aijia login` keeps the token: a 0600 file (token_file) or the OS "
        "keyring (needs `keyring`, service 'aijia').",
    )
    token_file: Path | None = Field(
        None, description="Default: $XDG_CONFIG_HOME/aijia/token (dir 0700, file 0600)."
    )


class WebhookSettings(_Section):
    """One POST per gate change (agent/gates/notify.py), signed when `secret` is set."""

    url: str | None = Field(
        None, description="POST a notice here on every gate change. Empty: no webhook."
    )
    timeout_s: float = Field(2.0, gt=0, le=30, description="Give up after this; never fails a run.")
    headers: dict[str, Any] = Field(
        default_factory=dict, description="Extra headers (values may be secret references)."
    )
    secret: dict[str, Any] | None = Field(
        None,
        description="Shared secret as a reference ({$env: NAME}, {$file: …}, {$keyring: …}). "
        "Set: every POST carries X-Aijia-Timestamp, X-Aijia-Delivery and X-Aijia-Signature "
        "(v1=hex HMAC-SHA256 of '{timestamp}.{body}'); receivers check it with "
        "agent/gates/webhook_verify.py. Empty: unsigned.",
    )
    format: Literal["json", "slack"] = Field(
        "json",
        description="json: the notice as JSON; slack: a Block Kit message (text, fields, a "
        "button to the gate) that a Slack incoming webhook posts as is.",
    )

    @field_validator("secret", mode="before")
    @classmethod
    def _secret_is_a_reference(cls, value: Any) -> Any:
        from agent.core.secrets import SecretRef, is_ref

        if value is not None:
            if not is_ref(value):
                raise ValueError(
                    "webhook.secret must be a secret reference such as {$env: AIJIA_WEBHOOK_SECRET}"
                    ", never the secret itself"
                )
            SecretRef.model_validate(value)
        return value


NOTICE_EVENTS = (
    "gate_opened",
    "approval_recorded",
    "gate_approved",
    "gate_rejected",
    "gate_expired",
    "run_committed",
    "commit_failed",
    "commit_retry",
)


class NotifySettings(_Section):
    """Other channels for the same notices, through apprise URLs (agent/gates/notify.py)."""

    urls: list[str | dict[str, Any]] = Field(
        default_factory=list,
        description="apprise URLs, e.g. mailto://user:pass@example.com, tgram://TOKEN/CHAT, "
        "json://host/path; an entry may be a secret reference ({$env: NAME}) since these "
        "URLs hold tokens. Empty: none.",
    )
    events: list[str] = Field(
        default_factory=lambda: list(NOTICE_EVENTS),
        description="Which gate changes are sent (webhook and apprise): "
        + ", ".join(NOTICE_EVENTS)
        + ". Default: all.",
    )

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(NOTICE_EVENTS))
        if unknown:
            raise ValueError(f"unknown notice events {unknown} (known: {list(NOTICE_EVENTS)})")
        return value

    @field_validator("urls")
    @classmethod
    def _references(cls, value: list[str | dict[str, Any]]) -> list[str | dict[str, Any]]:
        from agent.core.secrets import SecretRef

        for item in value:
            if isinstance(item, dict):
                SecretRef.model_validate(item)
        return value


class OidcSettings(_Section):
    """OpenID Connect sign-in for the console (Authlib). The provider proves who signs in;
    the account (`aijia users add`) must exist and be enabled: roles stay Aijia's."""

    issuer: str = Field(
        ..., description="The provider's issuer URL ({issuer}/.well-known/openid-configuration)."
    )
    client_id: str = Field(..., description="This console's client id at the provider.")
    client_secret: dict[str, Any] = Field(
        ..., description="Its client secret, as a secret reference ({$env: …})."
    )
    username_claim: str = Field(
        "preferred_username",
        description="The ID-token claim that names the Aijia account (e.g. email).",
    )
    label: str = Field("Sign in with your identity provider", description="The button's text.")

    @field_validator("client_secret", mode="before")
    @classmethod
    def _client_secret_is_a_reference(cls, value: Any) -> Any:
        from agent.core.secrets import SecretRef, is_ref

        if not is_ref(value):
            raise ValueError(
                "console.oidc.client_secret must be a secret reference such as "
                "{$env: AIJIA_OIDC_SECRET}, never the secret itself"
            )
        SecretRef.model_validate(value)
        return value


class ConsoleSettings(_Section):
    """The review console (`aijia serve`) as reviewers reach it."""

    public_url: str = Field(
        "",
        description="The console's base URL as reviewers open it, e.g. https://aijia.example.com; "
        "notices and `gates show` link to {public_url}/gates/{gate_id}. Empty: no link.",
    )

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("https://", "http://")):
            raise ValueError(f"console.public_url {value!r} must start with https:// or http://")
        return value

    host: str = Field("127.0.0.1", description="`aijia serve` listens on this address.")
    port: int = Field(8750, ge=0, le=65535, description="…and this port (0: any free port).")
    session_secret: dict[str, Any] | None = Field(
        None,
        description="Signs the console's session cookies, as a secret reference "
        "({$env: AIJIA_SESSION_SECRET}, {$file: …}). Empty: a random key kept in "
        "$XDG_CONFIG_HOME/aijia/console.key (0600), made on first use.",
    )
    session_hours: float = Field(
        8.0, gt=0, le=24 * 30, description="A console sign-in lasts this long."
    )
    secure_cookies: bool | None = Field(
        None,
        description="Mark cookies Secure (sent over HTTPS only). Empty: on when public_url "
        "starts with https://.",
    )
    oidc: OidcSettings | None = Field(
        None, description="Sign in through your identity provider (OpenID Connect); optional."
    )

    @field_validator("session_secret", mode="before")
    @classmethod
    def _session_secret_is_a_reference(cls, value: Any) -> Any:
        from agent.core.secrets import SecretRef, is_ref

        if value is not None:
            if not is_ref(value):
                raise ValueError(
                    "console.session_secret must be a secret reference such as "
                    "{$env: AIJIA_SESSION_SECRET}, never the secret itself"
                )
            SecretRef.model_validate(value)
        return value

    def gate_link(self, gate_id: str) -> str | None:
        """The deep link to a gate's page, or None when no public URL is configured."""
        return f"{self.public_url}/gates/{gate_id}" if self.public_url else None

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return self.public_url.startswith("https://")


class WorkerSettings(_Section):
    """The commit worker (`aijia serve`; also inside `aijia schedule run`): it holds the site
    secrets and commits approved runs, once each, so approvers need neither secrets nor a
    shell."""

    enabled: bool = Field(
        False,
        description="On: `aijia approve` and the console only record decisions and the worker "
        "commits (approvers need no site secrets). Off: the approver's `aijia approve` commits.",
    )
    user: str = Field(
        "worker", description="The policy user the worker resumes and reconciles runs as."
    )
    poll_s: float = Field(
        2.0, gt=0, le=300, description="How often the worker looks for approved runs."
    )


class TemporalSettings(_Section):
    """Where the Temporal service is (`runs.backend: temporal`; docs/scale.md)."""

    address: str = Field("127.0.0.1:7233", description="host:port of the Temporal frontend (gRPC).")
    namespace: str = Field("default", description="The Temporal namespace runs live in.")
    task_queue: str = Field(
        "aijia", description="The task queue `aijia worker` polls and `aijia run` starts on."
    )


class RunsSettings(_Section):
    """Where runs execute: in this process (local, the default) or as Temporal workflows."""

    backend: Literal["local", "temporal"] = Field(
        "local",
        description="local: `aijia run` runs in its own process. temporal: a run is a Temporal "
        "workflow (id = run id) that `aijia worker` processes execute; gates wait durably.",
    )
    temporal: TemporalSettings = Field(
        default_factory=TemporalSettings, description="The Temporal service (backend temporal)."
    )


class SourceSettings(_Section):
    """Rows from another recipe's output: run `recipe` once, take the list `output`, map each
    item to the schedule recipe's inputs."""

    recipe: str = Field(description="The source recipe, e.g. list_return_requests.")
    inputs: dict[str, Any] = Field(default_factory=dict, description="Its inputs.")
    output: str = Field("orders", description="The output holding the list of items.")
    map: dict[str, str] = Field(
        default_factory=lambda: {"order_id": "order_id"},
        description="schedule recipe input -> field of each item.",
    )


class ScheduleSettings(_Section):
    """One schedule: when (cron or every), what (recipe, site), for which rows, and how."""

    enabled: bool = Field(True, description="false: listed, never fired by the daemon.")
    cron: str | None = Field(None, description="Cron expression (5 fields), e.g. '0 * * * *'.")
    every_s: int | None = Field(
        None, ge=1, description="Or an interval in whole seconds, slots aligned to the epoch."
    )
    timezone: str = Field("UTC", description="IANA zone the cron expression is read in.")
    recipe: str = Field(description="The recipe each row runs, e.g. capture_order_evidence.")
    site: str | None = Field(None, description="Site from `sites` (default: the recipe's).")
    inputs: list[dict[str, Any]] = Field(
        default_factory=list, description="Static rows: one run per mapping."
    )
    inputs_file: Path | None = Field(None, description="Or rows from a .csv/.jsonl file.")
    source: SourceSettings | None = Field(None, description="Or rows from a source recipe.")
    concurrency: int = Field(2, ge=1, le=32, description="Browser contexts at once.")
    overlap: Literal["skip", "queue"] = Field(
        "skip",
        description="A slot due while the previous fire still runs: skip it (recorded), or "
        "queue it (at most one waits).",
    )
    misfire_grace_s: float = Field(
        300, ge=0, description="A slot missed by more than this (daemon down) is not fired."
    )
    jitter_s: float = Field(
        0,
        ge=0,
        description="Delay each fire by up to this, the same delay for a slot on any "
        "daemon (spreads load on the seller center).",
    )
    max_run_time_s: float = Field(
        3600, gt=0, description="A fire still running after this is stopped (interrupted)."
    )
    fresh_within_s: float | None = Field(
        None,
        gt=0,
        description="Idempotent capture: skip a row that has a `done` run of the same recipe "
        "with the same `fresh_key` inputs within this window.",
    )
    fresh_key: list[str] = Field(
        default_factory=lambda: ["order_id"], description="Inputs that identify a row."
    )

    @model_validator(mode="after")
    def _one_trigger_one_input_source(self) -> ScheduleSettings:
        if (self.cron is None) == (self.every_s is None):
            raise ValueError("give exactly one of `cron` and `every_s`")
        given = [self.inputs != [], self.inputs_file is not None, self.source is not None]
        if sum(given) > 1:
            raise ValueError("give at most one of `inputs`, `inputs_file` and `source`")
        check_trigger(self.cron, self.timezone)
        return self


class SchedulerSettings(_Section):
    """The built-in scheduler daemon (`aijia schedule run`)."""

    user: str = Field("scheduler", description="Runs are started as this policy user.")
    tick_s: float = Field(1.0, gt=0, le=60, description="How often the daemon looks at the clock.")
    lease_s: float = Field(
        30.0, gt=0, description="The daemon lock expires this long after its last heartbeat."
    )
    stop_grace_s: float = Field(
        30.0, ge=0, description="On SIGTERM, in-flight runs get this long before interrupted."
    )
    resume_approved: bool = Field(
        True, description="Also commit runs approved with --no-resume (once each)."
    )
    resume_after_s: float = Field(
        10.0, ge=0, description="…once they have waited this long (leaves the approver first go)."
    )
    sweep: bool = Field(
        True,
        description="Also close gates past their expiry (with their notice) and settle runs "
        "left committing by a committer whose lease lapsed, through reconcile.",
    )


class LlmBudget(_Section):
    """What one run may spend on the LLM; a call that would pass it fails the step."""

    tokens_per_run: int | None = Field(
        None, gt=0, description="Tokens (prompt + answer) one run may use. Empty: no limit."
    )
    cost_per_run: Decimal | None = Field(
        None, gt=0, description="Cost one run may reach (in `price` units). Empty: no limit."
    )


class LlmPrice(_Section):
    """The endpoint's price, for cost accounting in the evidence and the cost budget."""

    input_per_1k: Decimal = Field(Decimal(0), ge=0, description="Price of 1,000 prompt tokens.")
    output_per_1k: Decimal = Field(Decimal(0), ge=0, description="Price of 1,000 answer tokens.")


class LlmSettings(_Section):
    """An OpenAI-compatible chat endpoint for AI steps (agent/ai/). Absent: no LLM at all."""

    base_url: str = Field(
        description="The endpoint, e.g. https://api.openai.com/v1 or a local server's "
        "http://127.0.0.1:8000/v1 (any OpenAI-compatible chat completions API)."
    )
    model: str = Field(description="The model name the endpoint knows, e.g. gpt-4o-mini.")
    api_key: dict[str, Any] | None = Field(
        None,
        description="The key as a secret reference ({$env: AIJIA_LLM_KEY}, {$file: …}, "
        "{$keyring: …}), never the key itself. Empty: none sent (local servers).",
    )
    timeout_s: float = Field(30.0, gt=0, le=600, description="Give up on one answer after this.")
    max_retries: int = Field(
        2, ge=0, le=10, description="Retries on 5xx and connection errors, with backoff."
    )
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature (0: steady).")
    budget: LlmBudget = Field(default_factory=LlmBudget, description="Per-run limits.")
    price: LlmPrice | None = Field(
        None, description="Prices for cost accounting. Empty: cost is not counted."
    )

    @field_validator("api_key", mode="before")
    @classmethod
    def _key_is_a_reference(cls, value: Any) -> Any:
        from agent.core.secrets import SecretRef, is_ref

        if value is not None:
            if not is_ref(value):
                raise ValueError(
                    "llm.api_key must be a secret reference such as {$env: AIJIA_LLM_KEY}, "
                    "never the key itself"
                )
            SecretRef.model_validate(value)
        return value


class Settings(_Section):
    data_dir: Path = Field(
        Path("var"),
        description="Where runs, evidence and sessions live (relative: to this file). "
        "$AIJIA_DATA_DIR overrides it; with no config file: $XDG_DATA_HOME/aijia.",
    )
    recipes_dir: Path | None = Field(
        None,
        description="The team's recipes, one folder per site flavor (relative: to this file). "
        "Empty: `recipes/` next to this file. $AIJIA_RECIPES overrides it.",
    )
    knowledge_dir: Path | None = Field(
        None,
        description="The team's knowledge files (knowledge/*.md: refund policy, shipping "
        "delays …) that `draft_reply` quotes (relative: to this file). Empty: `knowledge/` "
        "next to this file.",
    )
    browser: BrowserSettings = Field(default_factory=BrowserSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    evidence: EvidenceSettings = Field(default_factory=EvidenceSettings)
    sites: dict[str, SiteSettings] = Field(default_factory=dict)
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info",
        description="Lowest level written: Python logging on stderr and the JSON log lines of "
        "`schedule run` / `serve` (each carries its level). `aijia -v` / `-q` override it.",
    )
    policy: PolicySettings = Field(
        default_factory=PolicySettings,
        description="Who may run and approve what (agent/gates/policy.py).",
    )
    accounts: AccountsSettings = Field(
        default_factory=AccountsSettings, description="Accounts, sign-in and personal tokens."
    )
    webhook: WebhookSettings = Field(
        default_factory=WebhookSettings, description="A POST on every gate change."
    )
    notify: NotifySettings = Field(
        default_factory=NotifySettings, description="Gate changes to other channels (apprise)."
    )
    console: ConsoleSettings = Field(
        default_factory=ConsoleSettings, description="The review console (`aijia serve`)."
    )
    worker: WorkerSettings = Field(
        default_factory=WorkerSettings, description="The commit worker (`aijia serve`)."
    )
    runs: RunsSettings = Field(
        default_factory=RunsSettings, description="Run backend: local or Temporal."
    )
    scheduler: SchedulerSettings = Field(
        default_factory=SchedulerSettings, description="The built-in scheduler daemon."
    )
    schedules: dict[str, ScheduleSettings] = Field(
        default_factory=dict, description="name -> schedule (`aijia schedule …`)."
    )
    llm: LlmSettings | None = Field(
        None, description="The LLM endpoint for AI steps (docs/ai.md). Empty: no LLM."
    )

    # Filled by load_config, not by the file.
    source: Path | None = Field(None, exclude=True, description="The file this came from.")
    data_dir_origin: str = Field(
        "the default var/ in the current directory",
        exclude=True,
        description="Why data_dir is what it is (`aijia doctor` says it).",
    )


def find_config_file(explicit: Path | None = None) -> Path | None:
    """The config file to use, by the precedence in this module's docstring."""
    if explicit is not None:
        return explicit
    env = os.environ.get("AIJIA_CONFIG")
    if env:
        return Path(env)
    for candidate in (Path.cwd() / "config.yaml", PROJECT_ROOT / "config.yaml"):
        if candidate.is_file():
            return candidate
    return None


def load_config(path: Path | None = None) -> Settings:
    """Read and validate config.yaml; defaults only when there is no file at all."""
    file = find_config_file(path)
    if file is None:  # outside any project: the user's data dir, not wherever we stand
        settings = Settings(
            data_dir=user_data_dir(),
            data_dir_origin="no config.yaml found: the user's data dir ($XDG_DATA_HOME/aijia, "
            "else ~/.local/share/aijia)",
        )
        return _data_dir_from_env(settings)
    if not file.exists():  # a directory, FIFO or device is refused by load_file, by name
        raise ConfigError(
            f"config file {file} does not exist",
            hint="pass --config PATH or set AIJIA_CONFIG to an existing file",
        )
    from agent.core.files import FileRefused
    from agent.core.safe_yaml import load_file

    try:  # bounded: size, strict UTF-8, depth, aliases (agent.core.safe_yaml)
        raw = load_file(file, what="config file") or {}
    except FileRefused as exc:
        raise ConfigError(f"{exc.location}: {exc.message}", hint=exc.hint) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            lines.append(f"  {loc}: {err['msg']}")
        raise ConfigError(
            f"{file}: invalid settings:\n" + "\n".join(lines),
            hint="see config.yaml in the project for every setting with its description",
        ) from None
    settings.source = file.resolve()
    if not settings.data_dir.is_absolute():
        settings.data_dir = (file.resolve().parent / settings.data_dir).resolve()
    settings.data_dir_origin = (
        f"data_dir in {settings.source}"
        if "data_dir" in raw
        else f"the project's var/ next to {settings.source} (no data_dir in it)"
    )
    _data_dir_from_env(settings)
    location = settings.evidence.location
    if location is not None and not location.is_absolute():
        settings.evidence.location = (file.resolve().parent / location).resolve()
    signing = settings.evidence.signing
    if not signing.key_file.is_absolute():
        signing.key_file = (file.resolve().parent / signing.key_file).resolve()
    if signing.root_log is not None and not signing.root_log.is_absolute():
        signing.root_log = (file.resolve().parent / signing.root_log).resolve()
    for schedule in settings.schedules.values():
        if schedule.inputs_file is not None and not schedule.inputs_file.is_absolute():
            schedule.inputs_file = (file.resolve().parent / schedule.inputs_file).resolve()
    return settings


def _data_dir_from_env(settings: Settings) -> Settings:
    """$AIJIA_DATA_DIR wins over the config and the defaults (a container's or a service's
    volume: the Dockerfile and deploy/*.service set it)."""
    env = os.environ.get("AIJIA_DATA_DIR", "")
    if env:
        settings.data_dir = Path(env).expanduser().resolve()
        settings.data_dir_origin = "$AIJIA_DATA_DIR"
    return settings


def check_trigger(cron: str | None, timezone: str) -> None:
    """ConfigError unless the time zone is known and the cron expression parses."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {timezone!r}", hint="use an IANA name like Asia/Singapore or UTC"
        ) from None
    if cron is not None:
        from croniter import croniter  # only when schedules exist

        if not croniter.is_valid(cron) or len(cron.split()) != 5:
            raise ConfigError(
                f"invalid cron expression {cron!r}",
                hint="five fields: minute hour day-of-month month day-of-week, e.g. '0 * * * *'",
            )
