"""Run inputs from the command line: `--input k=v` pairs and CSV/JSONL batch files.

Values stay strings here (CSV has no types); the recipe's input schema coerces them.
Every problem names the file and the line, and nothing is read past a broken row.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from agent.core.errors import InputError


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
    """Rows of a .csv (header line first) or .jsonl (one JSON object a line) file."""
    if not path.is_file():
        raise InputError(f"inputs file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix in {".jsonl", ".ndjson"}:
        return _read_jsonl(path)
    raise InputError(
        f"inputs file {path} has an unknown type {suffix or '(none)'}",
        hint="use a .csv file with a header line or a .jsonl file",
    )


def _read_csv(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
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
            rows.append({k.strip(): (v or "").strip() for k, v in row.items()})
    return rows


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: not valid JSON: {exc.msg}") from None
            if not isinstance(value, dict):
                raise InputError(
                    f"{path}:{number}: expected a JSON object, got {type(value).__name__}"
                )
            rows.append(value)
    return rows
