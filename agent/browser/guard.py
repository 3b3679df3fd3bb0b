"""Where the agent may go: a site's allowed domains, enforced by route interception.

Allowed: http(s) URLs whose host (or host:port) is the base_url's or listed in
`allowed_domains` (`*.example.com` matches sub-domains). Refused, and recorded as a
`navigation_blocked` event: other hosts, `data:`, `javascript:`, `file:` and other schemes,
and URLs carrying credentials (`https://user:pass@host/`).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from agent.core.settings import SiteSettings

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Route

# Page-internal URLs Chromium uses that never leave the machine.
_INTERNAL = ("about:blank", "about:srcdoc")


class SiteGuard:
    """Decides whether a URL is inside the site; installs itself on a browser context."""

    def __init__(self, site: SiteSettings) -> None:
        self.base_url = site.base_url.rstrip("/") + "/"
        base = urlsplit(site.base_url)
        self.allowed = {base.netloc.lower()} | {d.lower() for d in site.allowed_domains}

    def absolute(self, url: str) -> str:
        """A path or relative URL joined to the site's base URL."""
        return urljoin(self.base_url, url)

    def refusal(self, url: str) -> str | None:
        """Why `url` is refused, or None when it is allowed."""
        if url in _INTERNAL:
            return None
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            return f"the {scheme or 'empty'}: scheme is never allowed"
        if parts.username is not None or parts.password is not None:
            return "URLs with credentials in them are never allowed"
        host = (parts.hostname or "").lower()
        try:
            netloc = f"{host}:{parts.port}" if parts.port else host
        except ValueError:
            return "the URL's port is not a number from 0 to 65535"

        for allowed in self.allowed:
            if fnmatch.fnmatchcase(netloc, allowed) or fnmatch.fnmatchcase(host, allowed):
                return None
        return (
            f"{netloc} is not one of the site's allowed domains ({', '.join(sorted(self.allowed))})"
        )

    async def install(self, context: BrowserContext, on_block: Callable[[str, str], None]) -> None:
        """Abort every request outside the site; `on_block(url, reason)` records it."""

        async def handle(route: Route) -> None:
            url = route.request.url
            reason = self.refusal(url)
            if reason is None:
                await route.continue_()
                return
            on_block(url, reason)
            await route.abort("blockedbyclient")

        # Only URLs outside the site are sent to Python: intercepting every request would put
        # a round trip to this process in front of each image and script of the back office.
        await context.route(self.outside_pattern(), handle)

    def outside_pattern(self) -> re.Pattern[str]:
        """A regex (run by the browser driver) matching every URL that is *not* allowed."""
        hosts = []
        for allowed in sorted(self.allowed):
            host = re.escape(allowed).replace(r"\*", "[^/?#@]*")
            hosts.append(host if ":" in allowed else f"{host}(?::\\d+)?")
        inside = rf"https?://(?:{'|'.join(hosts)})(?:[/?#]|$)"
        return re.compile(rf"^(?!{inside})", re.IGNORECASE)
