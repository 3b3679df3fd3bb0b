"""(being written) Optional OpenID Connect sign-in (Authlib)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from agent.core.settings import OidcSettings


def routes(settings: OidcSettings | None) -> list[BaseRoute]:
    """The provider's sign-in routes, or none when `console.oidc` is not configured."""
    return []
