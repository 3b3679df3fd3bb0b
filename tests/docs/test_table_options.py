"""The table options the guide documents (agent/recipes/tables.py, TableSpec in
agent/steps/extract.py): which rows of a table are data."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent.recipes.tables import data_rows
from agent.steps.extract import TableSpec

INDEX = {"sku": 0, "qty": 1, "status": 2}
ROWS = [
    ["A-1", "2", "Refunded"],
    ["", "", ""],  # a spacer row
    ["B-2", "1", "Paid"],
    ["Subtotal", "MYR 10.00"],  # colspan rows at the end
    ["Total", "MYR 12.00"],
]


def test_footer_rows_drop_the_last_rows_and_blank_rows_are_never_data():
    assert data_rows(ROWS, INDEX, footer_rows=2) == [ROWS[0], ROWS[2]]
    assert len(data_rows(ROWS, INDEX)) == 4


def test_empty_text_turns_a_nothing_to_show_row_into_no_rows():
    assert data_rows([["No refunds yet"]], INDEX, empty_text="no refunds  YET") == []
    assert data_rows([["No refunds yet"]], INDEX) == [["No refunds yet"]]


def test_where_and_where_not_compare_cell_text_case_and_spacing_ignored():
    assert data_rows(ROWS, INDEX, where={"status": " refunded "}) == [ROWS[0]]
    assert data_rows(ROWS, INDEX, where={"status": ["Paid", "Refunded"]}) == [ROWS[0], ROWS[2]]
    kept = data_rows(ROWS, INDEX, where_not={"status": ""})
    assert kept == [ROWS[0], ROWS[2]]  # the colspan rows have no status cell


def test_where_must_name_a_column_key():
    with pytest.raises(ValidationError, match="where names state, not a key of columns"):
        TableSpec.model_validate(
            {"table": {"role": "table"}, "columns": {"status": "Status"}, "where": {"state": "x"}}
        )
