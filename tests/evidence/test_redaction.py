"""Secrets never reach the store; patterns are masked in text artifacts when configured."""

from __future__ import annotations

import html
import io
import json
import quopri
import urllib.parse
import zipfile
from pathlib import Path

import pytest

from agent.core.settings import EvidenceSettings, RedactionSettings
from agent.core.states import RunState
from evidence.redaction import MASK, Redactor
from evidence.store import EvidenceStore
from tests.evidence.conftest import make_png, new_run

CANARY = 'cAnArY&7f3e<9d>"1b=Z+q'


def spellings(secret: str) -> list[bytes]:
    forms = {
        secret,
        html.escape(secret),
        html.escape(secret, quote=False),
        json.dumps(secret)[1:-1],
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret, safe=""),
        quopri.encodestring(secret.encode()).decode(),
    }
    return [f.encode("utf-8") for f in forms] + [secret.encode("utf-16-le")]


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
        for spelled in spellings(CANARY):
            assert spelled not in data, f"canary ({spelled!r}) found in {path}"


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
