"""The sandbox seed config for logins: demo accounts per seller center.

The passwords and TOTP secrets are public demo values (printed by ``aijia sandbox serve``),
not secrets. Each flavor has a lead, a reviewer and a locked account.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Account:
    """A demo login. The passwords and TOTP secrets are public demo values, not secrets."""

    email: str
    password: str
    name: str
    role: str  # "lead", "reviewer" or "locked"
    totp_secret: str | None = None
    locked: bool = False


# The sandbox seed config: who can log in to which seller center.
ACCOUNTS: dict[str, tuple[Account, ...]] = {
    "shoplane": (
        Account("lead@shoplane.test", "shoplane-lead-2611", "Nur Aisyah (Lead)", "lead"),
        Account("reviewer@shoplane.test", "shoplane-review-2611", "Daniel Tan", "reviewer"),
        Account(
            "locked@shoplane.test", "shoplane-locked-2611", "Locked User", "locked", locked=True
        ),
    ),
    "markethub": (
        Account(
            "lead@markethub.test",
            "markethub-lead-2611",
            "Priya Raman (Lead)",
            "lead",
            totp_secret="MHSANDBOXLEADTOTPSECRETAIJIA2627",
        ),
        Account(
            "reviewer@markethub.test",
            "markethub-review-2611",
            "Marcus Lee",
            "reviewer",
            totp_secret="MHSANDBOXREVIEWERTOTPSECRETAIJIA",
        ),
        Account(
            "locked@markethub.test",
            "markethub-locked-2611",
            "Locked User",
            "locked",
            totp_secret="MHSANDBOXLOCKEDTOTPSECRETAIJIA26",
            locked=True,
        ),
    ),
    "storefront": (
        Account("lead@storefront.test", "storefront-lead-2611", "Camila Rocha (Lead)", "lead"),
        Account("reviewer@storefront.test", "storefront-review-2611", "Wei Jie Lim", "reviewer"),
        Account(
            "locked@storefront.test", "storefront-locked-2611", "Locked User", "locked", locked=True
        ),
    ),
    "kedai": (
        Account("lead@kedai.test", "kedai-lead-2611", "Siti Hajar (Lead)", "lead"),
        Account("reviewer@kedai.test", "kedai-review-2611", "Arjun Nair", "reviewer"),
        Account("locked@kedai.test", "kedai-locked-2611", "Locked User", "locked", locked=True),
    ),
}

# Environment variable names config.yaml reads the lead's secrets from.
ENV_NAMES = {
    "shoplane": {"password": "SHOPLANE_PASSWORD"},
    "markethub": {"password": "MARKETHUB_PASSWORD", "totp_secret": "MARKETHUB_TOTP_SECRET"},
    "storefront": {"password": "STOREFRONT_PASSWORD"},
    "kedai": {"password": "KEDAI_PASSWORD"},
}


def hash_password(email: str, password: str) -> str:
    # Few iterations on purpose: demo accounts with public passwords, seeded on every reset.
    return hashlib.pbkdf2_hmac("sha256", password.encode(), email.encode(), 2000).hex()
