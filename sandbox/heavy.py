"""Heavy pages: what a real back office loads around its content.

With the `heavy` fault on, every page of a seller center also loads tens of subresources,
as production back offices do: stylesheets, deferred scripts, icons, a font, a JSON config
fetched by a script — some of them slow — and one script from a CDN, a separate origin
(`cdn_url`, its own small server). Assets are cacheable (`max-age`), like fingerprinted
assets on real sites, so a browser context that is reused loads them once.

The numbers are deterministic: the same asset always has the same size and delay.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from markupsafe import Markup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

CACHE = {"Cache-Control": "public, max-age=3600"}
CDN_SCRIPT = "/lib/vendor.bundle.js"


@dataclass(frozen=True)
class Asset:
    name: str
    media_type: str
    size: int  # bytes
    delay_ms: int


def _assets() -> dict[str, Asset]:
    found: list[Asset] = []
    for i in range(8):
        found.append(Asset(f"style-{i}.css", "text/css", 2_000 + 900 * i, 5 + 7 * (i % 3)))
    for i in range(12):
        slow = 60 if i in (3, 9) else 0  # a couple of slow bundles, as on real sites
        found.append(
            Asset(f"app-{i}.js", "text/javascript", 4_000 + 3_000 * i, 8 + 4 * (i % 4) + slow)
        )
    for i in range(12):
        found.append(Asset(f"icon-{i}.svg", "image/svg+xml", 600 + 400 * i, 3 + 2 * (i % 5)))
    found.append(Asset("font.css", "text/css", 1_500, 10))
    found.append(Asset("config.json", "application/json", 3_000, 40))
    return {a.name: a for a in found}


ASSETS = _assets()


def head_tags(cdn_url: str) -> Markup:
    """<link>/<script> tags for the page head: the site's assets and the CDN script."""
    tags = [
        f'<link rel="stylesheet" href="/assets/{a.name}">'
        for a in ASSETS.values()
        if a.media_type == "text/css"
    ]
    tags += [
        f'<script defer src="/assets/{a.name}"></script>'
        for a in ASSETS.values()
        if a.media_type == "text/javascript"
    ]
    tags.append(f'<script defer src="{cdn_url}{CDN_SCRIPT}"></script>')
    return Markup("\n".join(tags))


def body_tags() -> Markup:
    """Icons shown in a footer strip, as a back office's chrome would."""
    icons = "".join(
        f'<img src="/assets/{a.name}" alt="" width="16" height="16">'
        for a in ASSETS.values()
        if a.media_type == "image/svg+xml"
    )
    return Markup(f'<footer aria-hidden="true" style="opacity:.4">{icons}</footer>')


def _body(asset: Asset) -> bytes:
    if asset.media_type == "text/css":
        rule = f".x-{asset.name.split('.')[0]} {{ color: #333; margin: 0 }}\n"
        text = rule * (asset.size // len(rule) + 1)
    elif asset.media_type == "text/javascript":
        head = "window.__heavy = (window.__heavy || 0) + 1;\n"
        if asset.name == "app-0.js":  # the app reads its config as real back offices do
            head += "fetch('/assets/config.json').then(r => r.json()).catch(() => 0);\n"
        filler = "/* bundled module code */ function f(a) { return a + 1; }\n"
        text = head + filler * (asset.size // len(filler) + 1)
    elif asset.media_type == "image/svg+xml":
        path = '<path d="M1 1h14v14H1z" fill="#999"/>'
        text = (
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
            + path * (asset.size // len(path) + 1)
            + "</svg>"
        )
    else:
        text = '{"features": [' + ",".join(['"flag"'] * (asset.size // 7)) + "]}"
    return text.encode()


async def asset(request: Request) -> Response:
    """GET /assets/{name}: a heavy page's subresource, after its delay."""
    found = ASSETS.get(request.path_params["name"])
    if found is None:
        return Response(status_code=404)
    await asyncio.sleep(found.delay_ms / 1000)
    return Response(_body(found), media_type=found.media_type, headers=CACHE)


def routes() -> list[Route]:
    return [Route("/assets/{name}", asset)]


def cdn_app() -> Starlette:
    """The CDN: one vendor bundle (~60 KB, 40 ms away), on its own origin."""
    body = b"window.__vendor = true;\n" + b"/* vendor */ var v = 0;\n" * 2_500

    async def vendor(request: Request) -> Response:
        del request
        await asyncio.sleep(0.04)
        return Response(body, media_type="text/javascript", headers=CACHE)

    return Starlette(routes=[Route(CDN_SCRIPT, vendor)])
