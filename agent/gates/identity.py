"""Who is acting, and how we know: identities are proven, never typed.

    who = identify(store, settings, token=os.environ.get("AIJIA_TOKEN"), os_user="lead")
    who.user, who.proof            # "sam", "token t-20261126T…-3f9a1c2b"
    who, token = sign_in(store, settings, "sam", password, label="cli")   # proof "password"

Ways a person is known, strongest first (the `proof` recorded with each approval):

    token t-…     a personal API token (`aijia login` makes one; $AIJIA_TOKEN or the token
                  file carries it): 32 random bytes, only their sha256 is stored
    password      the account's password checked against its argon2id hash (a sign-in)
    oidc <issuer> the console's sign-in through an OpenID Connect provider (`console.oidc`):
                  the provider proved the person, the account must exist and be enabled.
                  The console's token remembers it (its label ends "[oidc <issuer>]", a
                  suffix no other sign-in may use), so each decision records this proof
    os_user       no token, and `policy.trust_os_user` is on: the process's OS login name,
                  when it is listed in `policy.users` and is not an account. Weaker: anyone
                  using that OS account is that user
    api           code embedding `agent.Aijia` named the user (`as_user="…"`); such code has
                  the store and the signing key already, so it is trusted as it is
    policy:auto   policy approved by itself (`agent.gates.policy.AUTO_APPROVER`)

Refusals are PolicyError (exit 6) with a hint: an unknown, revoked or expired token, a
disabled account, a locked account, a wrong password. `$AIJIA_USER` and `--as` grant nothing.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from agent.core.errors import PolicyError
from evidence.ids import iso

if TYPE_CHECKING:
    from agent.core.settings import Settings
    from evidence.accounts import TokenRecord, UserRecord
    from evidence.store import EvidenceStore

PROOF_PASSWORD = "password"
PROOF_OS_USER = "os_user"
PROOF_API = "api"
PROOF_OIDC = "oidc"  # "oidc <issuer>"
# The label suffix of a token minted for an identity proven elsewhere: " [oidc <issuer>]".
_EXTERNAL_PROOF = re.compile(r" \[(oidc \S+)\]$")
TOKEN_PREFIX = "aijia_"
# A token's last use is a ledger event (it is evidence): written at most this often.
TOKEN_TOUCH_EVERY = timedelta(hours=1)
LOGIN_HINT = "sign in with `aijia login` (or set $AIJIA_TOKEN to a personal token)"

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so that a wrong name takes as long as
    a wrong password and the answer does not tell which one was wrong."""
    return _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class Identity:
    """A proven user: their name, how it was proven, the roles they had when proven."""

    user: str
    proof: str  # see the module docstring
    roles: tuple[str, ...] = ()
    token_id: str | None = None

    @property
    def signed_in(self) -> bool:
        """Proven by a token or a password (not by the OS user nor by embedding code)."""
        return self.token_id is not None or self.proof == PROOF_PASSWORD


def as_identity(who: str | Identity) -> Identity:
    """What the facade was given: an Identity as is; a plain name from embedding code
    counts as proof "api" (see the module docstring)."""
    return who if isinstance(who, Identity) else Identity(who, PROOF_API)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --------------------------------------------------------------------------- secrets


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string) to store; never the password."""
    return _hasher.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    """True when `password` is the one `stored_hash` was made from (None: no account)."""
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A personal API token: 32 random bytes, URL-safe, with a recognisable prefix."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What the store keeps of a token: its sha256 (a fast hash is right for 256 random
    bits: there is nothing to guess)."""
    return hashlib.sha256(token.strip().encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- resolving


def identify(
    store: EvidenceStore,
    settings: Settings,
    *,
    token: str | None,
    os_user: str | None,
    now: datetime | None = None,
) -> Identity:
    """Who a process is: the owner of `token` when one is given (and it is valid), else the
    OS user where `policy.trust_os_user` allows it; PolicyError otherwise."""
    if token is not None and token.strip():
        return from_token(store, token, now=now)
    if os_user is not None:
        return from_os_user(store, settings, os_user)
    raise PolicyError("no identity: not signed in", hint=LOGIN_HINT)


def from_token(store: EvidenceStore, token: str, *, now: datetime | None = None) -> Identity:
    """The account behind a personal token; PolicyError when it is unknown, revoked,
    expired, or its account is disabled or gone."""
    now = now or datetime.now(UTC)
    record = store.token_by_hash(token_digest(token))
    if record is None:
        raise PolicyError(
            f"the token is not known to the evidence store {store.root}",
            hint=f"it may belong to another store or have been deleted; {LOGIN_HINT}",
        )
    if record.revoked_at is not None:
        raise PolicyError(
            f"token {record.token_id} of {record.user!r} was revoked at {record.revoked_at}",
            hint=LOGIN_HINT,
        )
    if record.expires_at is not None and now >= _time(record.expires_at):
        raise PolicyError(
            f"token {record.token_id} of {record.user!r} expired at {record.expires_at}",
            hint=LOGIN_HINT,
        )
    user = _enabled_user(store, record.user)
    _touch(store, record, now)
    return Identity(user.name, token_proof(record), user.roles, record.token_id)


def token_proof(record: TokenRecord) -> str:
    """What a token proves about its holder: "token t-…", or "oidc <issuer>" for the token
    a console sign-in through an identity provider minted (see `sign_in_external`)."""
    found = _EXTERNAL_PROOF.search(record.label)
    return found.group(1) if found else f"token {record.token_id}"


def _enabled_user(store: EvidenceStore, name: str) -> UserRecord:
    user = store.get_user(name)
    if user is None:
        raise PolicyError(f"the account {name!r} no longer exists", hint=LOGIN_HINT)
    if user.disabled:
        raise PolicyError(
            f"the account {name!r} is disabled",
            hint="an admin re-enables it (`aijia users enable NAME`)",
        )
    return user


def _touch(store: EvidenceStore, record: TokenRecord, now: datetime) -> None:
    last = _time(record.last_used_at) if record.last_used_at else None
    if last is None or now - last >= TOKEN_TOUCH_EVERY:
        store.touch_token(record.token_id, iso(now))


def from_os_user(store: EvidenceStore, settings: Settings, os_user: str) -> Identity:
    """The OS user, where config allows it (`policy.trust_os_user`) and the name is listed in
    `policy.users` without being an account (an account must sign in)."""
    policy = settings.policy
    if not policy.trust_os_user:
        raise PolicyError(
            "not signed in (and policy.trust_os_user is off, so the OS user counts for nothing)",
            hint=LOGIN_HINT,
        )
    if store.get_user(os_user) is not None:
        raise PolicyError(
            f"OS user {os_user!r} has an account: an account proves itself with a token",
            hint=LOGIN_HINT,
        )
    if os_user not in policy.users:
        raise PolicyError(
            f"not signed in, and the OS user {os_user!r} is not listed in policy.users",
            hint=f"{LOGIN_HINT}; or list {os_user!r} in policy.users in config.yaml",
        )
    return Identity(os_user, PROOF_OS_USER, tuple(policy.users[os_user]))


# --------------------------------------------------------------------------- signing in


def sign_in(
    store: EvidenceStore,
    settings: Settings,
    name: str,
    password: str,
    *,
    label: str = "cli",
    now: datetime | None = None,
) -> tuple[Identity, str]:
    """Check the password and mint a personal token: (identity proven by "password", the
    token — shown once, only its hash is kept). After `accounts.max_failed_logins` wrong
    passwords in a row the account refuses every sign-in for `accounts.lockout_minutes`."""
    now = now or datetime.now(UTC)
    rules = settings.accounts
    if _EXTERNAL_PROOF.search(label):
        raise PolicyError(
            f"the token label {label!r} is reserved for sign-ins through an identity provider",
            hint="choose another label (one that does not end with [oidc …])",
        )
    user = store.get_user(name)
    wrong = PolicyError(
        "wrong user name or password", hint="check both; `aijia users list` (an admin) shows names"
    )
    if user is not None and user.locked_until is not None and now < _time(user.locked_until):
        raise PolicyError(
            f"the account {name!r} is locked until {user.locked_until} after "
            f"{rules.max_failed_logins} wrong passwords",
            hint="wait, or ask an admin to reset the password (`aijia users passwd NAME`)",
        )
    stored = store.password_hash(name) if user is not None else None
    if user is None or not password_matches(stored, password):
        if user is not None:
            _count_failure(store, settings, user, now)
        raise wrong
    user = _enabled_user(store, name)
    if user.failed_logins or user.locked_until:
        store.update_user(name, "login_ok", by=name, failed_logins=0, locked_until=None)
    if stored is not None and _hasher.check_needs_rehash(stored):
        store.update_user(name, "password_rehashed", by=name, password_hash=hash_password(password))
    record, token = _mint(store, settings, name, label, now)
    return Identity(name, PROOF_PASSWORD, user.roles, record.token_id), token


def sign_in_external(
    store: EvidenceStore,
    settings: Settings,
    name: str,
    *,
    proof: str,
    label: str = "console",
    now: datetime | None = None,
) -> tuple[Identity, str]:
    """Mint a personal token, as `sign_in` does, for `name` proven elsewhere: `proof` is
    "oidc <issuer>" (the console checked the provider's signed ID token). The account must
    exist and be enabled — signing in never creates one, so roles stay Aijia's — and the
    token's label records the proof, so every decision made with it records "oidc <issuer>".
    The password lock-out does not apply: no password was tried. PolicyError otherwise."""
    now = now or datetime.now(UTC)
    if not re.fullmatch(rf"{PROOF_OIDC} \S+", proof):
        raise PolicyError(
            f"unknown proof {proof!r} for a sign-in proven elsewhere",
            hint=f'the console passes "{PROOF_OIDC} <issuer>"',
        )
    if store.get_user(name) is None:
        raise PolicyError(
            f"no Aijia account is named {name!r} (proven by {proof})",
            hint="signing in never creates an account: an admin adds it with "
            f"`aijia users add {name} --role …`",
        )
    user = _enabled_user(store, name)
    record, token = _mint(store, settings, name, f"{label} [{proof}]", now)
    return Identity(name, proof, user.roles, record.token_id), token


def _mint(
    store: EvidenceStore, settings: Settings, name: str, label: str, now: datetime
) -> tuple[TokenRecord, str]:
    """A new personal token for `name` (valid `accounts.token_ttl_days`): its record and the
    token itself, which is shown once (only its sha256 is kept)."""
    token = new_token()
    expires = iso(now + timedelta(days=settings.accounts.token_ttl_days))
    record = store.add_token(
        name, token_sha256=token_digest(token), label=label, expires_at=expires, by=name
    )
    return record, token


def _count_failure(
    store: EvidenceStore, settings: Settings, user: UserRecord, now: datetime
) -> None:
    rules = settings.accounts
    failed = user.failed_logins + 1
    if failed >= rules.max_failed_logins:
        until = iso(now + timedelta(minutes=rules.lockout_minutes))
        store.update_user(user.name, "account_locked", by=None, failed_logins=0, locked_until=until)
    else:
        store.update_user(user.name, "login_failed", by=None, failed_logins=failed)


def sign_out(store: EvidenceStore, token: str) -> TokenRecord | None:
    """Revoke the token (by its owner); the record, or None when the store does not know it
    (already deleted, or another store's)."""
    record = store.token_by_hash(token_digest(token))
    if record is None:
        return None
    store.revoke_token(record.token_id, by=record.user)
    return store.get_token(record.token_id)
