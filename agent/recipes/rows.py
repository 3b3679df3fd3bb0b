"""Run inputs from the command line: `--input k=v` pairs and CSV/JSONL batch files.

Values stay strings here (CSV has no types); the recipe's input schema coerces them.
Every problem names the file and the line, and nothing is read past a broken row. The file is
refused whole, before any row, when it is not a regular UTF-8 text file of at most MAX_BYTES.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from agent.core.errors import InputError
from agent.core.files import MIB, FileRefused, read_text

# Limits on an inputs file (see 'Limits on input files' in the README): a batch of this size
# is already hours of runs; a larger file is more likely a mistake (or an attack) than a plan.
MAX_BYTES = 20 * MIB
MAX_ROWS = 100_000


def parse_pairs(pairs: list[str]) -> dict[str, Any]:
    """`["order_id=A1", "amount=5"]` -> `{"order_id": "A1", "amount": "5"}`."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(
                f"--input {pair!r} is not of the form key=value",
                hint="write e.g. --input order_id=2611260K4X7QJ8",
            )
        if key in values:
            raise InputError(f"--input {key} is given twice", hint="give each input once")
        values[key] = value
    return values


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a .csv (header line first) or .jsonl (one JSON object a line) file.

    The file is read like every file we did not write (agent.core.files): a regular file of
    at most MAX_BYTES, strict UTF-8, no NUL bytes; then at most MAX_ROWS rows.
    """
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".jsonl", ".ndjson"}:
        if not path.exists():
            raise InputError(f"inputs file {path} does not exist")
        raise InputError(
            f"inputs file {path} has an unknown type {suffix or '(none)'}",
            hint="use a .csv file with a header line or a .jsonl file",
        )
    try:
        text = read_text(path, what="inputs file", max_bytes=MAX_BYTES)
    except FileRefused as exc:
        raise InputError(f"{exc.location}: {exc.message}", hint=exc.hint) from None
    return _read_csv(path, text) if suffix == ".csv" else _read_jsonl(path, text)


def _too_many(path: Path, line: int) -> InputError:
    return InputError(
        f"{path}:{line}: more than {MAX_ROWS} rows",
        hint="split the file; see 'Limits on input files' in the README",
    )


def _read_csv(path: Path, text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        if not reader.fieldnames:
            raise InputError(f"{path}:1: the CSV file is empty; expected a header line")
        blank = [i + 1 for i, name in enumerate(reader.fieldnames) if not (name or "").strip()]
        if blank:
            raise InputError(f"{path}:1: header column {blank[0]} has no name")
        rows: list[dict[str, Any]] = []
        for row in reader:
            if None in row:
                raise InputError(
                    f"{path}:{reader.line_num}: more values than header columns",
                    hint="quote values that contain commas",
                )
            if not any((v or "").strip() for v in row.values()):
                continue  # a blank line is not a run
            if len(rows) >= MAX_ROWS:
                raise _too_many(path, reader.line_num)
            rows.append({k.strip(): (v or "").strip() for k, v in row.items()})
    except csv.Error as exc:
        # the csv module's own limits: a value over 128 KiB (field_size_limit), bad quoting
        raise InputError(
            f"{path}:{reader.line_num + 1}: not readable as CSV: {exc}",
            hint="check the quoting around this line; a single value may hold at most "
            f"{csv.field_size_limit() // 1024} KiB",
        ) from None
    return rows


def _read_jsonl(path: Path, text: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(
                line, parse_constant=_no_constant, object_pairs_hook=_object_without_duplicates
            )
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path}:{number}: not valid JSON: {exc.msg} (column {exc.colno})"
            ) from None
        except RecursionError:
            raise InputError(f"{path}:{number}: not valid JSON: nested too deeply") from None
        except ValueError as exc:  # NaN/Infinity, duplicate keys, integers past 4300 digits
            raise InputError(f"{path}:{number}: not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise InputError(f"{path}:{number}: expected a JSON object, got {type(value).__name__}")
        if len(rows) >= MAX_ROWS:
            raise _too_many(path, number)
        rows.append(value)
    return rows


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} is given twice")
        out[key] = value
    return out
