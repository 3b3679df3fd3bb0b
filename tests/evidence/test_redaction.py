"""Secrets never reach the store, in any spelling; password values, cookies and session headers
are stripped from what is stored; patterns are masked in text artifacts when configured.

Whether a secret survived is decided by `tests.security.leaks`, which decodes every layer
(quoted-printable, URL, character references, JS/JSON escapes, base64, zip members) rather
than listing spellings: the code under test is never its own judge.
"""

from __future__ import annotations

import base64
import html
import io
import json
import quopri
import urllib.parse
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.core.secrets import Masker
from agent.core.settings import EvidenceSettings, RedactionSettings
from agent.core.states import RunState
from evidence.artifacts import blank_frame, prepare_content
from evidence.redaction import MASK, Redactor
from evidence.store import EvidenceStore
from tests.evidence.conftest import make_png, new_run
from tests.security.leaks import find_in_bytes

CANARY = 'cAnArY&7f3e<9d>"1b=Z+q'


def every_byte(root: Path) -> list[tuple[Path, bytes]]:
    """Every file under root, and every member of every zip among them."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found.append((path, data))
        if data[:2] == b"PK":
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                found.extend((path / name, zf.read(name)) for name in zf.namelist())
    return found


def assert_no_canary(root: Path) -> None:
    for path, data in every_byte(root):
        hits = find_in_bytes(data, CANARY)
        assert not hits, f"canary found in {path} ({hits})"


def mhtml_with(secret: str) -> bytes:
    body = quopri.encodestring(f"<html><body><p>{'x' * 52}{secret}</p></body></html>".encode())
    assert secret[:5].encode() in body and secret.encode() not in body  # split by a soft break
    return (
        b"From: <Saved by Blink>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/related; type="text/html"; boundary="----B"\r\n\r\n'
        b"------B\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n"
        b"Content-Location: http://127.0.0.1:8700/order\r\n\r\n"
        + body.replace(b"\n", b"\r\n")
        + b"\r\n------B--\r\n"
    )


def trace_with(secret: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("trace.trace", json.dumps({"type": "input", "text": secret}) + "\n")
        zf.writestr("trace.network", json.dumps({"postData": f"password={secret}"}))
        zf.writestr("resources/page.png", make_png(64, 64))
    return out.getvalue()


def test_canary_secret_never_reaches_any_byte_of_the_store(store_dir: Path) -> None:
    settings = EvidenceSettings(redaction=RedactionSettings(selectors={"*": [".secret"]}))
    store = EvidenceStore(store_dir, settings)
    store.register_secret(CANARY)
    store.open_case("T-CANARY", channel="email", ask=f"my password is {CANARY}")
    run = new_run(store, inputs={"password": CANARY, "order_id": "2611"}, case_id="T-CANARY")
    store.transition(run.run_id, RunState.PENDING, RunState.RUNNING, reason=f"typed {CANARY}")
    refs = [
        store.put_dom(
            f'<form><input type="password" value="{html.escape(CANARY)}">'
            f"<p>{html.escape(CANARY)}</p><a href='/x?p={urllib.parse.quote(CANARY)}'>x</a>"
            f"<script>var p = {json.dumps(CANARY)};</script><div class=secret>{CANARY}</div>"
        ),
        store.put_artifact(f"log: typed {CANARY}".encode(), kind="log", media_type="text/plain"),
        store.put_artifact(
            json.dumps({"v": CANARY}).encode(), kind="extract", media_type="application/json"
        ),
        store.put_artifact(mhtml_with(CANARY), kind="mhtml", media_type="multipart/related"),
        store.put_artifact(trace_with(CANARY), kind="trace", media_type="application/zip"),
        store.put_artifact(
            b"\x00\x01BIN" + CANARY.encode() + b"\xff", kind="blob", media_type="application/x-raw"
        ),
        *store.put_screenshot(make_png()),
    ]
    store.append_event(
        run.run_id,
        "step_finished",
        {"typed": CANARY, "nested": [{"k": f"pw={CANARY}"}], CANARY: "as a key"},
        refs,
    )
    gate = store.record_gate(
        run.run_id, action="login", summary=f"use {CANARY}", binds={"password": CANARY}
    )
    store.record_approval(
        gate.gate_id,
        approver="sam",
        decision="rejected",
        bind_hash=gate.bind_hash,
        note=f"saw {CANARY}",
    )
    store.finish_run(run.run_id, outputs={"echo": CANARY}, error=f"failed with {CANARY}")
    assert_no_canary(store_dir)  # with the WAL still holding the latest pages
    assert store.verify().ok
    store.close()
    assert_no_canary(store_dir)  # after the checkpoint, in the main database file
    with EvidenceStore(store_dir) as reopened:
        assert MASK in json.dumps(reopened.get_run(run.run_id).inputs)
        [mhtml] = [r for r in refs if r.kind == "mhtml"]
        assert MASK.encode() in reopened.read_artifact(mhtml.sha256)


def test_short_values_are_not_treated_as_secrets() -> None:
    redactor = Redactor()
    redactor.register("ab")
    assert redactor.mask_text("abc") == "abc"


def test_secret_inside_a_longer_secret_masks_the_whole() -> None:
    redactor = Redactor()
    redactor.register("hunter2")
    redactor.register("hunter2hunter2")
    assert redactor.mask_text("x hunter2hunter2 y") == f"x {MASK} y"


def test_patterns_are_masked_in_text_artifacts_when_configured(tmp_path: Path) -> None:
    text = (
        "card 4242 4242 4242 4242, order 2611ABCDEFGHIJ, tracking 123456789012345, "
        "mail ann.lee@example.com, call +44 20 7946 0958 or (415) 555-0132"
    )
    settings = EvidenceSettings(
        redaction=RedactionSettings(
            patterns=["card", "email", "phone"],
            custom_patterns={"iban": r"\bGB\d{2}[A-Z]{4}\d{14}\b"},
        )
    )
    with EvidenceStore(tmp_path / "ev", settings) as store:
        ref = store.put_artifact(
            (text + " GB82WEST12345698765432").encode(), kind="log", media_type="text/plain"
        )
        masked = store.read_artifact(ref.sha256).decode()
    for gone in ("4242 4242", "ann.lee@example.com", "7946 0958", "555-0132", "GB82WEST"):
        assert gone not in masked
    # Order and tracking numbers are evidence, not personal data: they stay.
    assert "2611ABCDEFGHIJ" in masked and "123456789012345" in masked


def test_patterns_are_left_alone_when_not_configured(store: EvidenceStore) -> None:
    ref = store.put_artifact(b"ann.lee@example.com", kind="log", media_type="text/plain")
    assert store.read_artifact(ref.sha256) == b"ann.lee@example.com"


def test_images_are_not_altered_by_patterns(tmp_path: Path) -> None:
    settings = EvidenceSettings(redaction=RedactionSettings(patterns=["email", "card"]))
    png = make_png()
    with EvidenceStore(tmp_path / "ev", settings) as store:
        [shot, _] = store.put_screenshot(png)
        assert store.read_artifact(shot.sha256) == png


def test_unchanged_traces_keep_their_bytes(store: EvidenceStore) -> None:
    trace = trace_with("nothing secret here")
    ref = store.put_artifact(trace, kind="trace", media_type="application/zip")
    assert store.read_artifact(ref.sha256) == trace


@pytest.mark.parametrize("digits", ["4242424242424242", "4000 0566 5566 5556"])
def test_card_numbers_need_a_valid_checksum(digits: str) -> None:
    redactor = Redactor(patterns=["card"])
    assert redactor.mask_patterns(f"pay {digits} now") == f"pay {MASK} now"
    assert redactor.mask_patterns("pay 4242424242424241 now") == "pay 4242424242424241 now"


# ------------------------------------------------------------------ every spelling of a secret

# Quotes, an ampersand, a less-than sign, a space, latin-1 and windows-1252 letters.
SECRET = "pa\"ss'w&rd<é€ 42"
# Other shapes: the rarest character first or last, a slash and a backslash, characters that
# latin-1 lacks (a form posted in latin-1 sends them as `&#NNN;`), one outside the BMP.
SECRETS = [SECRET, "Xylophone-7/9", "tok_3f9a8b7c6d5e", 'ab/cd\\ef"gh', "őzőne-Ő-42", "😀joy-pw😀"]

Spelling = Callable[[str], bytes | None]


def _refs(fmt: str) -> Spelling:
    return lambda s: "".join(fmt.format(ord(c)) for c in s).encode()


def _named(s: str) -> bytes:
    names = {
        '"': "&quot;",
        "'": "&apos;",
        "&": "&amp;",
        "<": "&lt;",
        "é": "&eacute;",
        "€": "&euro;",
    }
    return "".join(names.get(c, c) for c in s).encode()


def _legacy_named(s: str) -> bytes:  # browsers still read these without the semicolon
    return "".join({'"': "&quot", "&": "&amp", "<": "&lt"}.get(c, c) for c in s).encode()


def _js_escape(s: str) -> bytes:  # JavaScript's escape(): %uXXXX per UTF-16 unit above 0xFF
    return "".join(
        "".join(f"%u{u:04X}" for u in _utf16_units(c))
        if ord(c) > 0xFF
        else urllib.parse.quote(c, safe="")
        for c in s
    ).encode()


def _utf16_units(s: str) -> list[int]:
    raw = s.encode("utf-16-be", "surrogatepass")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def _encoded(s: str, codec: str) -> bytes | None:
    try:
        return s.encode(codec)
    except UnicodeEncodeError:
        return None


def _b64(prefix: bytes, suffix: bytes, urlsafe: bool = False) -> Spelling:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return lambda s: encode(prefix + s.encode() + suffix)


SPELLINGS: dict[str, Spelling] = {
    "raw UTF-8": lambda s: s.encode(),
    "raw windows-1252": lambda s: _encoded(s, "cp1252"),
    "raw ISO-8859-1": lambda s: _encoded(s, "latin-1"),
    "UTF-16-LE": lambda s: s.encode("utf-16-le"),
    "UTF-16-BE": lambda s: s.encode("utf-16-be"),
    "html.escape": lambda s: html.escape(s).encode(),
    "html.escape, text": lambda s: html.escape(s, quote=False).encode(),
    "Chromium attribute": lambda s: s.replace("&", "&amp;").replace('"', "&quot;").encode(),
    "Chromium text": lambda s: (
        s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode()
    ),
    "decimal references": _refs("&#{};"),
    "hex references": _refs("&#x{:x};"),
    "hex references, upper case, zeros": _refs("&#X{:06X};"),
    "decimal references without ;": _refs("&#{}"),
    "named references": _named,
    "legacy named references": _legacy_named,
    "escaped twice": lambda s: html.escape(html.escape(s)).encode(),
    "JSON, ensure_ascii": lambda s: json.dumps(s)[1:-1].encode(),
    "JSON, UTF-8": lambda s: json.dumps(s, ensure_ascii=False)[1:-1].encode(),
    "JSON, escaped slashes": lambda s: json.dumps(s)[1:-1].replace("/", "\\/").encode(),
    "JSON, HTML-safe": lambda s: (
        json.dumps(s)[1:-1].replace("<", "\\u003c").replace("&", "\\u0026").encode()
    ),
    "JSON in JSON": lambda s: json.dumps(json.dumps(s, ensure_ascii=False))[1:-1].encode(),
    "JSON in JSON in JSON": lambda s: json.dumps(json.dumps(json.dumps(s)))[1:-1].encode(),
    "JSON in an attribute": lambda s: html.escape(json.dumps(s)).encode(),
    "JS single quotes": lambda s: s.replace("\\", "\\\\").replace("'", "\\'").encode(),
    "JS \\xNN": lambda s: "".join(
        f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{u:04x}"
        for c in s
        for u in _utf16_units(c)[: 1 if ord(c) < 256 else 2]
    ).encode(),
    "JS \\u{...}": lambda s: "".join(f"\\u{{{ord(c):X}}}" for c in s).encode(),
    "URL quote": lambda s: urllib.parse.quote(s, safe="").encode(),
    "URL quote, lower-case hex": lambda s: (
        urllib.parse.quote(s, safe="").lower().encode() if s.islower() else None
    ),
    "URL quote_plus": lambda s: urllib.parse.quote_plus(s).encode(),
    "URL latin-1 form": lambda s: (
        urllib.parse.quote_plus(s, encoding="cp1252").encode() if _encoded(s, "cp1252") else None
    ),
    "URL latin-1 form, NCRs": lambda s: urllib.parse.quote_plus(
        s.encode("cp1252", "xmlcharrefreplace")
    ).encode(),
    "URL twice": lambda s: urllib.parse.quote(urllib.parse.quote(s, safe=""), safe="").encode(),
    "JS escape()": _js_escape,
    "base64": _b64(b"", b""),
    "base64 in a blob, +1": _b64(b"x", b"yz"),
    "base64 in a blob, +2": _b64(b"xy", b"z"),
    "base64 URL-safe": _b64(b"\xff", b"\xfe", urlsafe=True),
    "basic auth": lambda s: b"Basic " + base64.b64encode(b"lead@shop.test:" + s.encode()),
    "base64 form body": lambda s: base64.b64encode(
        b"user=lead&password=" + urllib.parse.quote_plus(s).encode() + b"&remember=1"
    ),
}


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_is_masked(secret: str, spelling: str) -> None:
    spelled = SPELLINGS[spelling](secret)
    if spelled is None:
        pytest.skip(f"{secret!r} has no {spelling} spelling")
    assert find_in_bytes(spelled, secret), "the scanner sees this spelling"
    redactor = Redactor()
    redactor.register(secret)
    document = b"<p>before " + spelled + b" after</p>"
    masked = prepare_content(document, kind="log", media_type="text/plain", redactor=redactor)
    assert find_in_bytes(masked, secret) == []
    assert masked.startswith(b"<p>before ") and masked.endswith(b" after</p>")
    assert MASK.encode() in masked and len(masked) < len(document) + len(MASK)


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_the_runners_masker_knows_every_spelling_too(spelling: str) -> None:
    """Error messages and event data (text, never raw bytes) are masked by the runner before
    they reach the store."""
    spelled = SPELLINGS[spelling](SECRET)
    try:
        text = spelled.decode("utf-8") if spelled is not None else None
    except UnicodeDecodeError:
        text = None
    if text is None or not find_in_bytes(text.encode(), SECRET):
        pytest.skip(f"{spelling} is not text")
    masker = Masker()
    masker.add(SECRET)
    masked = masker.text(f"failed at {text}!")
    assert MASK in masked and find_in_bytes(masked.encode(), SECRET) == []


def test_binary_content_keeps_its_length() -> None:
    redactor = Redactor()
    redactor.register(SECRET)
    blob = b"\x89BIN\x00" + SECRET.encode("cp1252") + b"\xff\x00" + SECRET.encode()
    masked = prepare_content(blob, kind="blob", media_type="application/x-raw", redactor=redactor)
    assert len(masked) == len(blob) and find_in_bytes(masked, SECRET) == []


def test_unrelated_text_is_left_alone() -> None:
    """Near misses — a prefix, escapes of other characters — stay as they are."""
    redactor = Redactor()
    redactor.register(SECRET)
    text = (
        "pa\"ss'w&rd<é€ 4 | pa&quot;ss | %70%61 | \\u0070a | cGEic3Mnd | &amp;&lt;&gt; | "
        "pa\"ss'w&rd<e€ 42"
    ).encode()
    assert prepare_content(text, kind="log", media_type="text/plain", redactor=redactor) == text


# ------------------------------------------------------------------ password fields


def test_password_values_are_blanked_without_any_secret_registered(store: EvidenceStore) -> None:
    page = (
        '<form><input type="password" name=p value="hunter2!"><INPUT TYPE=PASSWORD VALUE=x1y2z3>'
        "<input value='keep-me' name=q><input value=\"one&gt;two\" type='password'></form>"
    )
    stored = store.read_artifact(store.put_dom(page).sha256).decode()
    assert "hunter2!" not in stored and "x1y2z3" not in stored and "one&gt;two" not in stored
    assert "keep-me" in stored
    raw = store.put_artifact(page.encode(), kind="dom", media_type="text/html")
    assert b"hunter2!" not in store.read_artifact(raw.sha256)


def mhtml(*parts: tuple[str, str, bytes], subject: bytes = b"Order") -> bytes:
    """An MHTML document as Chromium writes it: (content type, transfer encoding, body)."""
    out = [
        b"From: <Saved by Blink>\r\nSubject: " + subject + b"\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/related;\r\n\ttype="text/html";\r\n\tboundary="----B"\r\n\r\n'
    ]
    for ctype, encoding, body in parts:
        encoded = (
            quopri.encodestring(body).replace(b"\n", b"\r\n")
            if encoding == "quoted-printable"
            else base64.encodebytes(body).replace(b"\n", b"\r\n")
        )
        out.append(
            f"\r\n------B\r\nContent-Type: {ctype}\r\nContent-Transfer-Encoding: {encoding}\r\n"
            "Content-Location: http://127.0.0.1:8700/order\r\n\r\n".encode()
            + encoded
        )
    out.append(b"\r\n------B--\r\n")
    return b"".join(out)


def test_mhtml_parts_are_decoded_masked_and_encoded_again(store: EvidenceStore) -> None:
    store.register_secret(SECRET)
    padding = "x" * 70  # the quoted-printable soft line break falls inside the secret
    page = (
        f"<p>{padding}{html.escape(SECRET)}</p><input type=password name=other value=kept-secret>"
        f'<input name=copy value="{html.escape(SECRET)}">'
    ).encode()
    latin1 = f"<p>{SECRET}</p>".encode("cp1252")  # a latin-1 page: =E9=80 in the part
    css = f'a::after {{ content: "{SECRET}" }}'.encode()
    subject = b"=?utf-8?Q?" + quopri.encodestring(SECRET.encode(), header=True) + b"?="
    document = mhtml(
        ("text/html", "quoted-printable", page),
        ("text/html", "quoted-printable", latin1),
        ("text/css", "base64", css),
        ("image/png", "base64", make_png(32, 32)),
        subject=subject,
    )
    assert find_in_bytes(document, SECRET)
    ref = store.put_artifact(document, kind="mhtml", media_type="multipart/related")
    stored = store.read_artifact(ref.sha256)
    assert find_in_bytes(stored, SECRET) == []
    assert b"kept-secret" not in stored, "password field blanked"
    decoded = quopri.decodestring(stored)
    assert b'name=copy value="******"' in decoded and b"x" * 70 in decoded
    assert base64.b64encode(make_png(32, 32))[:40] in stored.replace(b"\r\n", b""), "image kept"


def test_an_mhtml_with_nothing_to_mask_keeps_its_bytes(store: EvidenceStore) -> None:
    store.register_secret(SECRET)
    document = mhtml(("text/html", "quoted-printable", b"<p>order 2611</p>" * 20))
    ref = store.put_artifact(document, kind="mhtml", media_type="multipart/related")
    assert store.read_artifact(ref.sha256) == document


# ------------------------------------------------------------------ traces and HARs

SESSION_ID = "5f2b9c0e4d7a48e1b3c6a9d2f0e1c7b4"


def jsonl(*events: object) -> bytes:
    return "\n".join(json.dumps(e, ensure_ascii=False) for e in events).encode() + b"\n"


def zipped(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def playwright_trace() -> bytes:
    """A trace as Playwright writes it, holding a live session and a typed password."""
    cookie = {"name": "sid", "value": SESSION_ID, "domain": "127.0.0.1", "path": "/"}
    network = jsonl(
        {
            "type": "resource-snapshot",
            "snapshot": {
                "request": {
                    "method": "POST",
                    "url": "http://127.0.0.1:8700/login",
                    "headers": [
                        {"name": "Accept", "value": "text/html"},
                        {"name": "Cookie", "value": f"sid={SESSION_ID}; theme=dark"},
                        {"name": "Authorization", "value": "Bearer tok_live_0123456789"},
                        {"name": "X-CSRF-Token", "value": "csrf-5e4d3c2b1a"},
                    ],
                    "cookies": [{"name": "sid", "value": SESSION_ID}],
                    "postData": {"mimeType": "application/x-www-form-urlencoded", "_sha1": "b.dat"},
                },
                "response": {
                    "status": 303,
                    "headers": [{"name": "Set-Cookie", "value": f"sid={SESSION_ID}; HttpOnly"}],
                    "cookies": [{"name": "sid", "value": SESSION_ID, "httpOnly": True}],
                },
            },
        }
    )
    calls = jsonl(
        {
            "type": "context-options",
            "options": {"httpCredentials": {"username": "u", "password": "basic-pass-1"}},
        },
        {"type": "before", "method": "fill", "params": {"selector": "#pw", "value": SECRET}},
        {
            "type": "frame-snapshot",
            "snapshot": {
                "html": [
                    "HTML",
                    {},
                    [
                        "INPUT",
                        {"type": "password", "__playwright_value_": "typed-but-not-registered"},
                    ],
                    ["INPUT", {"name": "q", "__playwright_value_": "order 2611"}],
                ]
            },
        },
        {
            "type": "after",
            "result": {
                "cookies": [cookie],
                "origins": [
                    {
                        "origin": "http://x",
                        "localStorage": [{"name": "jwt", "value": "eyJhbGciOiJIUzI1NiJ9.e30.sig"}],
                    }
                ],
            },
        },
        {"type": "before", "method": "addCookies", "params": {"cookies": [cookie]}},
        {
            "type": "after",
            "result": {"value": '<input type="password" value="also-not-registered">'},
        },
    )
    page = f"<p>your session: {SESSION_ID}</p><p>{html.escape(SECRET)}</p>".encode()
    return zipped(
        {
            "trace.trace": calls,
            "trace.network": network,
            "resources/b.dat": b"user=u&pw="
            + urllib.parse.quote_plus(SECRET, encoding="cp1252").encode(),
            "resources/page.html": page,
            "resources/frame.jpeg": b"\xff\xd8\xff\xe0" + SECRET.encode("cp1252") + b"\xff\xd9",
            "resources/download.zip": zipped({"inner.txt": SECRET.encode()}),
            "screencast/page@0a1b-1796152937040.jpeg": make_png(64, 32, text=SECRET),
        }
    )


def test_traces_keep_no_session_and_no_secret(store: EvidenceStore) -> None:
    store.register_secret(SECRET)
    trace = playwright_trace()
    ref = store.put_artifact(trace, kind="trace", media_type="application/zip")
    stored = store.read_artifact(ref.sha256)
    with zipfile.ZipFile(io.BytesIO(stored)) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    for name, data in members.items():
        assert find_in_bytes(data, SECRET) == [], name
        for live in (SESSION_ID, "tok_live_0123456789", "csrf-5e4d3c2b1a", "eyJhbGciOiJIUzI1NiJ9"):
            assert live.encode() not in data, (name, live)
        for typed in (b"typed-but-not-registered", b"also-not-registered", b"basic-pass-1"):
            assert typed not in data, (name, typed)
    network = [json.loads(line) for line in members["trace.network"].splitlines()]
    headers = {h["name"]: h["value"] for h in network[0]["snapshot"]["request"]["headers"]}
    assert headers == {
        "Accept": "text/html",
        "Cookie": MASK,
        "Authorization": MASK,
        "X-CSRF-Token": MASK,
    }
    calls = [json.loads(line) for line in members["trace.trace"].splitlines()]
    assert calls[2]["snapshot"]["html"][3][1]["__playwright_value_"] == "order 2611"
    assert len(members["resources/frame.jpeg"]) == 4 + len(SECRET.encode("cp1252")) + 2
    assert b"your session: ******" in members["resources/page.html"]
    # a picture of the page may show the secret: the frame is blanked, the viewer still opens
    assert members["screencast/page@0a1b-1796152937040.jpeg"] == blank_frame()


def test_traces_are_scrubbed_even_when_no_secret_is_registered(store: EvidenceStore) -> None:
    trace = playwright_trace()
    ref = store.put_artifact(trace, kind="trace", media_type="application/zip")
    stored = store.read_artifact(ref.sha256)
    with zipfile.ZipFile(io.BytesIO(stored)) as zf:
        assert all(SESSION_ID.encode() not in zf.read(n) for n in zf.namelist())
        assert b"typed-but-not-registered" not in zf.read("trace.trace")
        assert zf.read("screencast/page@0a1b-1796152937040.jpeg") != blank_frame()


def test_hars_keep_no_session_and_no_secret(store: EvidenceStore) -> None:
    store.register_secret(SECRET)
    body = b"user=lead&password=" + urllib.parse.quote_plus(SECRET).encode()
    har = {
        "log": {
            "entries": [
                {
                    "request": {
                        "headers": [{"name": "cookie", "value": f"sid={SESSION_ID}"}],
                        "postData": {
                            "params": [{"name": "password", "value": "not-registered-pw"}],
                            "text": base64.b64encode(body).decode(),
                            "encoding": "base64",
                        },
                    },
                    "response": {"headers": [{"name": "set-cookie", "value": f"sid={SESSION_ID}"}]},
                }
            ]
        }
    }
    ref = store.put_artifact(json.dumps(har).encode(), kind="har", media_type="application/json")
    stored = store.read_artifact(ref.sha256)
    assert find_in_bytes(stored, SECRET) == []
    assert SESSION_ID.encode() not in stored and b"not-registered-pw" not in stored
    assert json.loads(stored)["log"]["entries"][0]["request"]["headers"][0]["value"] == MASK
