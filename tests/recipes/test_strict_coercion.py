"""Strict values: text read from a page (`extract … as:`) and run inputs parse exactly or
fail loudly, naming the field, the text and what was expected. The rules are in
agent/recipes/coerce.py and the README ("Values read from pages")."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from agent.core.errors import InputError
from agent.core.states import RunState
from agent.recipes.coerce import coerce
from agent.recipes.inputs import InputSpec
from agent.recipes.inputs import coerce as coerce_input
from agent.recipes.model import load_recipe
from tests.engine.conftest import (  # noqa: F401  (fixtures: the local back office)
    RUNNER,
    aijia,
    local_site,
    local_site_server,
    settings,
    store,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("58", 58),
        (" 58 ", 58),
        ("-3", -3),
        ("+7", 7),
        ("1,234", 1234),
        ("1,234,567", 1234567),
        ("1 234 567", 1234567),
        ("1'234", 1234),
        ("1.234.567", 1234567),
        ("0", 0),
    ],
)
def test_int_accepts_whole_numbers(text: str, expected: int) -> None:
    assert coerce(text, "int") == expected


@pytest.mark.parametrize(
    "text",
    ["$58.00", "58.00", "1.234", "1,204 pcs", "1,2345", "12,34", "", "five", "5-", "--5", "1e3"],
)
def test_int_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected an integer .*, saw"):
        coerce(text, "int")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1234.5", 1234.5),
        ("1,234.56", 1234.56),
        ("1.234,56", 1234.56),
        ("1,234", 1234.0),
        ("12,5", 12.5),
        ("1.234", 1.234),
        ("-0.5", -0.5),
        ("1 234,5", 1234.5),
    ],
)
def test_number_rules(text: str, expected: float) -> None:
    assert coerce(text, "number") == expected


@pytest.mark.parametrize("text", ["$5", "5%", "1e5", "1,23,456", "1.2.3,4,5", "12 kg", "n/a"])
def test_number_refuses_units_and_odd_grouping(text: str) -> None:
    with pytest.raises(ValueError, match="expected a number"):
        coerce(text, "number")


@pytest.mark.parametrize(
    "text, amount, currency",
    [
        ("$1,234.56", 1234.56, "USD"),
        ("€1.234,50", 1234.5, "EUR"),
        ("RM 12.00", 12.0, "MYR"),
        ("12.50 SGD", 12.5, "SGD"),
        ("MYR 1,234.50", 1234.5, "MYR"),  # ShopLane and MarketHub
        ("RM1,234.50 MYR", 1234.5, "MYR"),  # Storefront: symbol and code
        ("$5.00 SGD", 5.0, "SGD"),  # a code wins over a symbol
        ("-$5.00", -5.0, "USD"),
        ("($5.00)", -5.0, "USD"),
        ("12,50 €", 12.5, "EUR"),
        ("12", 12.0, None),
    ],
)
def test_money_keeps_the_currency(text: str, amount: float, currency: str | None) -> None:
    assert coerce(text, "money") == {"amount": amount, "currency": currency}


@pytest.mark.parametrize(
    "text, why",
    [
        ("about $5", "expected an amount of money"),
        ("$5.005", "at most two decimals"),
        ("€1.234", "at most two decimals"),  # 1234 or 1.234? not guessed
        ("USD 5 EUR", "one currency"),
        ("-$-5", "one sign"),
        ("$", "expected an amount of money"),
        ("Refundable: $5", "expected an amount of money"),
    ],
)
def test_money_refuses_what_it_cannot_read_exactly(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        coerce(text, "money")


def test_bool_is_strict() -> None:
    assert coerce("Yes", "bool") is True
    assert coerce("unchecked", "bool") is False
    with pytest.raises(ValueError, match=r"expected yes/no.*saw 'maybe'"):
        coerce("maybe", "bool")


def test_long_page_text_is_shortened_in_the_error() -> None:
    with pytest.raises(ValueError) as info:
        coerce("x" * 10_000, "int")
    assert len(str(info.value)) < 200


@pytest.mark.parametrize("raw", ["inf", "nan", "-Infinity", "1_000", "$12", "1e999", "0x10"])
def test_number_inputs_are_plain_decimal_notation(raw: str) -> None:
    spec = InputSpec(type="number")
    with pytest.raises(ValueError, match=r"amount: expected a (finite )?number"):
        coerce_input(spec, raw, "amount")


def test_number_inputs_still_take_ordinary_values() -> None:
    spec = InputSpec(type="number")
    assert [coerce_input(spec, v, "amount") for v in ("12.50", "-3", "1e3", " 7 ", 4)] == [
        12.5,
        -3.0,
        1000.0,
        7.0,
        4,
    ]
    assert coerce_input(InputSpec(type="integer"), "5", "n") == 5


def test_an_input_file_with_infinity_is_refused_before_anything_runs(tmp_path: Path) -> None:
    from agent.recipes.inputs import bind_inputs

    recipe = load_recipe(_write(tmp_path, "inputs:\n  amount: {type: number}\nsteps: []\n"))
    with pytest.raises(InputError, match="amount: expected a finite number"):
        bind_inputs(recipe, {"amount": float("inf")})


def _write(tmp_path: Path, body: str) -> Path:
    folder = tmp_path / "local"
    folder.mkdir(exist_ok=True)
    path = folder / "case.yaml"
    path.write_text("name: case\nsite: local\n" + textwrap.dedent(body), encoding="utf-8")
    return path


def test_extract_as_int_on_a_price_fails_naming_the_field_and_the_text(
    tmp_path: Path,
    run: Any,
    aijia: Any,  # noqa: F811  (the fixture imported above)
    local_site: Any,  # noqa: F811
) -> None:
    """Real Chromium, the local back office: `RM 1,299.00` is money, never the int 129900."""
    path = _write(
        tmp_path,
        """\
        steps:
          - goto: /static
          - extract: {price: {testid: price, as: money}}
          - extract: {units: {testid: price, as: int}}
        outputs:
          price: "{{ price }}"
        """,
    )
    result = run(aijia.run(load_recipe(path), {}, as_user=RUNNER))
    assert result.state is RunState.FAILED
    assert result.exit_code == 1
    assert result.error_step == "3"
    assert "extracting `units`: expected an integer" in result.error
    assert "saw 'RM 1,299.00'" in result.error
    assert "case.yaml:6:5" in result.error
    assert result.outputs["price"] == {"amount": 1299.0, "currency": "MYR"}
