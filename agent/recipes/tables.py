"""Which rows of a table are data: footer rows, "nothing to show" rows and row filters.

A table read by `extract` (agent/steps/extract.py) comes back as header texts and the cell
texts of every body row. Back offices put more than data in a table body: a plain last row
"Total", a single row "No refunds yet" spanning every column. These options say which rows
are data, before any cell is converted with `as:`:

    footer_rows: 1                        # the last row(s) of the body are totals: dropped
    empty_text: No refunds yet            # a row with this text means "no rows": dropped
    where: {status: Refunded}             # keep rows whose cell is this text (or one of a list)
    where_not: {sku: ""}                  # drop rows whose cell is this text (or one of a list)

Rows in <tfoot> are never read as data. Cell texts are compared with spaces collapsed and
case ignored; `where`/`where_not` name columns by their key under `columns:`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agent.recipes.coerce import clean_text


def _norm(text: object) -> str:
    return clean_text("" if text is None else str(text)).casefold()


def _matches(cell: str | None, wanted: object) -> bool:
    """`wanted` is a text or a list of texts (a rendered template may give a number)."""
    options = wanted if isinstance(wanted, list) else [wanted]
    return _norm(cell) in {_norm(o) for o in options}


def says_empty(row: Sequence[str], empty_text: str) -> bool:
    """True when the row's text (all cells) contains `empty_text`, case ignored."""
    return _norm(empty_text) in _norm(" ".join(row))


def data_rows(
    rows: Sequence[Sequence[str]],
    index: Mapping[str, int],
    *,
    footer_rows: int = 0,
    empty_text: str | None = None,
    where: Mapping[str, object] | None = None,
    where_not: Mapping[str, object] | None = None,
) -> list[list[str]]:
    """The rows that are data, in page order. `index` maps a column key to its cell index.

    Blank rows (every cell empty) are dropped too, as a spacer row is not data.
    """
    body = list(rows[: len(rows) - footer_rows] if footer_rows else rows)
    out: list[list[str]] = []
    for row in body:
        if not any(cell for cell in row):
            continue
        if empty_text is not None and says_empty(row, empty_text):
            continue

        def cell(key: str, row: Sequence[str] = row) -> str | None:
            i = index[key]
            return row[i] if i < len(row) else None

        if where and not all(_matches(cell(k), w) for k, w in where.items()):
            continue
        if where_not and any(_matches(cell(k), w) for k, w in where_not.items()):
            continue
        out.append(list(row))
    return out
