"""Origins: the exact (scheme, host, port) triples a site's browser may reach.

An origin in config is written `scheme://host[:port]`; the port defaults to the scheme's
(80, 443). Matching is exact on all three: `https://shop.example` does not allow
`http://shop.example`, `https://shop.example:8443` or `https://cdn.shop.example`. WebSocket
URLs match the origin of the same security (ws -> http, wss -> https), as browsers treat them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
_SAME_ORIGIN_SCHEME = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


@dataclass(frozen=True)
class Origin:
    scheme: str  # "http" or "https"
    host: str  # lower case; IPv6 without brackets
    port: int

    def __str__(self) -> str:
        return f"{self.scheme}://{self._host_in_url()}:{self.port}"

    def _host_in_url(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def bypass_rule(self) -> str:
        """This origin as a Chromium proxy-bypass rule (`scheme://host:port`)."""
        return str(self)


def parse_origin(text: str, *, where: str, path_ok: bool = False) -> Origin:
    """`text` as an Origin, or ValueError saying what is wrong with it and where."""
    parts = urlsplit(text.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(
            f"{where}: {text!r} must start with http:// or https:// (scheme://host[:port])"
        )
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{where}: {text!r} must not carry a user name or password")
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError(f"{where}: {text!r} has no host")
    if "*" in host:
        raise ValueError(
            f"{where}: {text!r} has a wildcard; list every host exactly (containment is exact)"
        )
    if host.endswith("."):
        raise ValueError(f"{where}: {text!r} ends its host with a dot; write it without")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        raise ValueError(f"{where}: {text!r} has a port that is not 0-65535") from None
    if (not path_ok and parts.path not in ("", "/")) or parts.query or parts.fragment:
        raise ValueError(f"{where}: {text!r} must be an origin only, without a path or query")
    return Origin(scheme, _canonical_host(host), port)


def origin_of(url: str) -> Origin | None:
    """The origin a URL would reach, or None for URLs that reach none (about:, data:,
    javascript:, file:, a malformed port) or that carry credentials."""
    try:
        parts = urlsplit(url)
        scheme = _SAME_ORIGIN_SCHEME.get(parts.scheme.lower())
        if scheme is None or parts.username is not None or parts.password is not None:
            return None
        host = (parts.hostname or "").lower()
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        return None
    if not host:
        return None
    return Origin(scheme, _canonical_host(host), port)


def _canonical_host(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host
