"""DOM blanking, screenshot annotation and thumbnails, and the capture policy."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from agent.core.errors import EvidenceError
from agent.core.settings import EvidenceSettings, RedactionSettings
from evidence.capture import annotate, wants_capture
from evidence.dom import blank_dom
from evidence.store import EvidenceStore
from tests.evidence.conftest import make_png


def test_password_values_are_always_blanked() -> None:
    out = blank_dom('<input type="PASSWORD" name=pw value="hunter22"><input name=q value=ok>')
    assert "hunter22" not in out and "value=ok" in out
    assert blank_dom("<input type=password value='x1x1'/>").count("x1x1") == 0


@pytest.mark.parametrize(
    ("selector", "gone", "kept"),
    [
        (".card", "4242", "Order 2611"),
        ("#addr", "10 Downing", "Order 2611"),
        ("td[data-field=phone]", "+44 20", "Order 2611"),
        ("[data-field^=ph]", "+44 20", "4242"),
        ("table td.card", "4242", "+44 20"),
        ("tr > td.card", "4242", "+44 20"),
        ("body > td.card", "", "4242"),  # not a child of body: nothing blanked
        ("section, .card", "4242", "Order 2611"),
    ],
)
def test_selectors_blank_text_and_values(selector: str, gone: str, kept: str) -> None:
    page = (
        "<!DOCTYPE html><html><body><h1>Order 2611</h1><p id=addr>10 Downing St</p>"
        "<table><tr><td class='card x'>4242 &amp; more</td>"
        "<td data-field=phone>+44 20 7946 0958</td></tr></table></body></html>"
    )
    out = blank_dom(page, [selector])
    if gone:
        assert gone not in out
    assert kept in out
    assert out.startswith("<!DOCTYPE html>")


def test_blanked_element_is_marked_and_its_fields_emptied() -> None:
    out = blank_dom(
        '<div class=pii><input name=a value="secret1"><textarea>note</textarea></div><p>x</p>',
        [".pii"],
    )
    assert 'data-aijia-redacted="1"' in out
    assert "secret1" not in out and "note" not in out and "<p>x</p>" in out


def test_untouched_markup_survives_byte_for_byte() -> None:
    page = "<div a=1 B='2'><p>x &lt; y &#169; <br>z</div><!-- c --><unclosed>"
    assert blank_dom(page) == page


def test_broken_markup_does_not_leak_after_a_stray_end_tag() -> None:
    out = blank_dom("<div class=s>one</span>two</div><p>after</p>", [".s"])
    assert "one" not in out and "two" not in out and "after" in out


@pytest.mark.parametrize("bad", ["div:nth-child(2)", "a >", "", "p::before"])
def test_unreadable_selectors_fail_loudly(bad: str) -> None:
    with pytest.raises(EvidenceError, match="redaction selector"):
        blank_dom("<p>x</p>", [bad])


def test_a_bad_configured_selector_fails_when_the_store_opens(tmp_path: Path) -> None:
    settings = EvidenceSettings(redaction=RedactionSettings(selectors={"shoplane": ["a:hover"]}))
    with pytest.raises(EvidenceError, match="a:hover"):
        EvidenceStore(tmp_path / "ev", settings)


def test_site_and_recipe_selectors_apply_to_put_dom(tmp_path: Path) -> None:
    settings = EvidenceSettings(
        redaction=RedactionSettings(selectors={"*": [".all"], "shoplane": [".shop"]})
    )
    page = "<p class=all>A1</p><p class=shop>S1</p><p class=other>O1</p><p class=rec>R1</p>"
    with EvidenceStore(tmp_path / "ev", settings) as store:
        plain = store.read_artifact(store.put_dom(page).sha256).decode()
        shop = store.read_artifact(
            store.put_dom(page, site="shoplane", selectors=[".rec"]).sha256
        ).decode()
    assert "A1" not in plain and "S1" in plain and "R1" in plain
    assert "A1" not in shop and "S1" not in shop and "R1" not in shop and "O1" in shop


def test_annotation_outlines_the_box() -> None:
    image = Image.open(io.BytesIO(make_png()))
    marked = annotate(image, (200, 200, 100, 50))
    assert rgb(marked, 196, 225) == (230, 20, 90)  # left edge, inside padding
    assert rgb(marked, 250, 225) == rgb(image, 250, 225)
    assert rgb(image, 196, 225) != (230, 20, 90)  # the original is untouched


def rgb(image: Image.Image, x: int, y: int) -> tuple[int, ...]:
    pixel = image.convert("RGB").getpixel((x, y))
    assert isinstance(pixel, tuple)
    return pixel[:3]


def test_annotation_of_an_offscreen_box_changes_nothing() -> None:
    image = Image.open(io.BytesIO(make_png()))
    marked = annotate(image, (5000, 5000, 10, 10))
    assert marked.convert("RGB").tobytes() == image.convert("RGB").tobytes()


def test_thumbnail_size(tmp_path: Path) -> None:
    with EvidenceStore(tmp_path / "ev", EvidenceSettings(thumbnail_size=64)) as store:
        refs = store.put_screenshot(make_png(1280, 900))
        thumb = Image.open(io.BytesIO(store.read_artifact(refs[-1].sha256)))
    assert thumb.size == (64, 45)


@pytest.mark.parametrize(
    ("policy", "page", "action", "failure"),
    [
        ("every_page", True, True, True),
        ("on_action", False, True, True),
        ("on_failure", False, False, True),
        ("off", False, False, False),
    ],
)
def test_capture_policy(policy: str, page: bool, action: bool, failure: bool) -> None:
    assert wants_capture(policy, "page") is page
    assert wants_capture(policy, "action") is action
    assert wants_capture(policy, "failure") is failure


def test_unknown_capture_policy() -> None:
    with pytest.raises(EvidenceError, match="capture policy"):
        wants_capture("sometimes", "page")
