"""`AsyncAijia`'s accounts part: who a caller is (proven), sign-in and tokens, and accounts.

A mixin so the facade stays one class (`agent.AsyncAijia`, and the generated `agent.Aijia`)
in files of a readable size; it needs only the facade's `store` and `settings`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.core.settings import Settings
    from agent.gates.identity import Identity
    from evidence.accounts import TokenRecord, UserRecord
    from evidence.store import EvidenceStore


class Accounts:
    if TYPE_CHECKING:
        settings: Settings

        @property
        def store(self) -> EvidenceStore: ...

    async def identify(self, token: str | None = None, *, os_user: str | None = None) -> Identity:
        """Who a caller is, proven: the account of a personal `token` (PolicyError when it
        is unknown, revoked, expired or its account disabled), else `os_user` where
        `policy.trust_os_user` allows it. Pass the result as `as_user=`."""
        from agent.gates.identity import identify

        return identify(self.store, self.settings, token=token, os_user=os_user)

    async def login(self, name: str, password: str, *, label: str = "cli") -> tuple[Identity, str]:
        """Check the password (argon2id; locked for `accounts.lockout_minutes` after
        `accounts.max_failed_logins` wrong ones) and mint a personal token: (the identity,
        the token). The token is returned once: only its sha256 is stored."""
        from agent.gates.identity import sign_in

        return sign_in(self.store, self.settings, name, password, label=label)

    async def sign_in_external(
        self, name: str, *, proof: str, label: str = "console"
    ) -> tuple[Identity, str]:
        """Mint a personal token for `name` proven elsewhere (`proof` "oidc <issuer>": the
        console checked the provider's ID token): (the identity, the token). The account
        must exist and be enabled (PolicyError otherwise; sign-in never creates one), and
        each decision made with the token records `proof`."""
        from agent.gates.identity import sign_in_external

        return sign_in_external(self.store, self.settings, name, proof=proof, label=label)

    async def logout(self, token: str) -> TokenRecord | None:
        """Revoke a personal token (None: this store does not know it)."""
        from agent.gates.identity import sign_out

        return sign_out(self.store, token)

    async def users(self) -> list[UserRecord]:
        """Every account: name, roles, disabled, who created it, lock-out state."""
        return self.store.list_users()

    async def add_user(
        self, name: str, *, roles: Sequence[str], password: str, by: str | Identity | None
    ) -> UserRecord:
        """A new account. The first one (no account yet) needs the admin role and no `by`;
        after that `by` must be a signed-in admin (agent/gates/accounts.py)."""
        from agent.gates.accounts import add_user
        from agent.gates.identity import as_identity

        actor = as_identity(by) if by is not None else None
        return add_user(
            self.store, self.settings, name, roles=roles, password=password, actor=actor
        )

    async def set_user_enabled(
        self, name: str, *, enabled: bool, by: str | Identity | None
    ) -> UserRecord:
        """Disable an account (its tokens stop working at once) or enable it; admins only."""
        from agent.gates.accounts import set_enabled
        from agent.gates.identity import as_identity

        actor = as_identity(by) if by is not None else None
        return set_enabled(self.store, self.settings, name, enabled=enabled, actor=actor)

    async def set_password(
        self, name: str, *, password: str, by: str | Identity | None
    ) -> UserRecord:
        """A new password, set by the user themselves or an admin (lifts a lock-out)."""
        from agent.gates.accounts import set_password
        from agent.gates.identity import as_identity

        actor = as_identity(by) if by is not None else None
        return set_password(self.store, self.settings, name, password=password, actor=actor)

    async def tokens(self, name: str, *, by: str | Identity | None) -> list[TokenRecord]:
        """A user's personal tokens (never the tokens themselves): their own, or an admin."""
        from agent.gates.accounts import tokens_of
        from agent.gates.identity import as_identity

        actor = as_identity(by) if by is not None else None
        return tokens_of(self.store, self.settings, name, actor=actor)

    async def revoke_token(self, token_id: str, *, by: str | Identity | None) -> TokenRecord:
        """Revoke a personal token: its owner or an admin."""
        from agent.gates.accounts import revoke_token
        from agent.gates.identity import as_identity

        actor = as_identity(by) if by is not None else None
        return revoke_token(self.store, self.settings, token_id, actor=actor)
