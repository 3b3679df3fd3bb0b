from __future__ import annotations

from pathlib import Path

import pytest

from agent.core.errors import InputError
from agent.recipes.rows import parse_pairs, read_rows


def test_pairs() -> None:
    assert parse_pairs(["order_id=A1", "note=a=b"]) == {"order_id": "A1", "note": "a=b"}


@pytest.mark.parametrize("bad", ["order_id", "=x"])
def test_bad_pairs(bad: str) -> None:
    with pytest.raises(InputError, match="key=value"):
        parse_pairs([bad])


def test_duplicate_pair() -> None:
    with pytest.raises(InputError, match="twice"):
        parse_pairs(["a=1", "a=2"])


def test_csv_rows(tmp_path: Path) -> None:
    f = tmp_path / "orders.csv"
    f.write_text("\ufefforder_id,amount\nA1, 5\n\n,\nB2,7\n", encoding="utf-8")
    assert read_rows(f) == [{"order_id": "A1", "amount": "5"}, {"order_id": "B2", "amount": "7"}]


def test_csv_extra_column_names_line(tmp_path: Path) -> None:
    f = tmp_path / "orders.csv"
    f.write_text("order_id\nA1\nB2,oops\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"orders.csv:3: more values"):
        read_rows(f)


def test_jsonl_rows_and_errors(tmp_path: Path) -> None:
    f = tmp_path / "orders.jsonl"
    f.write_text('{"order_id": "A1", "amount": 5}\n\n[1]\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"orders.jsonl:3: expected a JSON object"):
        read_rows(f)
    f.write_text('{"order_id": "A1"}\n{bad\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"orders.jsonl:2: not valid JSON"):
        read_rows(f)


def test_unknown_type_and_missing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_rows(tmp_path / "nope.csv")
    f = tmp_path / "orders.xlsx"
    f.write_text("x")
    with pytest.raises(InputError, match="unknown type"):
        read_rows(f)
