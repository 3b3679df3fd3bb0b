"""Where the agent may go: the site's exact origins (scheme, host and port).

This is the check made before the agent itself opens a URL (a recipe's `goto`, a URL read
from the page): a refused URL is never handed to the browser. What the *page* does —
redirects, scripts, workers, sockets — is contained in the browser's network stack by
`agent.browser.containment`, which uses the same origins.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from agent.core.origins import Origin, origin_of, parse_origin
from agent.core.settings import SiteSettings

# Page-internal URLs Chromium uses that never leave the machine.
_INTERNAL = ("about:blank", "about:srcdoc")


class SiteGuard:
    """Decides whether a URL is inside the site."""

    def __init__(self, site: SiteSettings) -> None:
        self.base_url = site.base_url.rstrip("/") + "/"
        self.origins: tuple[Origin, ...] = site_origins(site)

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
        origin = origin_of(url)
        if origin is None:
            return "the URL's port is not a number from 0 to 65535"
        if origin in self.origins:
            return None
        allowed = ", ".join(str(o) for o in self.origins)
        return f"{origin} is not one of the site's origins ({allowed})"


def site_origins(site: SiteSettings) -> tuple[Origin, ...]:
    """base_url's origin first, then `allowed_origins`, without repeats."""
    found = [parse_origin(site.base_url, where="base_url", path_ok=True)]
    for i, text in enumerate(site.allowed_origins):
        origin = parse_origin(text, where=f"allowed_origins[{i}]")
        if origin not in found:
            found.append(origin)
    return tuple(found)
