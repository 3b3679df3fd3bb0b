"""Run inputs from the command line: `--input k=v` pairs and CSV/JSONL/JSON batch files.

Values stay strings here (CSV has no types); the recipe's input schema coerces them.
Every problem names the file and the line, and nothing is read past a broken row. The file is
refused whole, before any row, when it is not a regular UTF-8 text file of at most MAX_BYTES.

Each row remembers where it came from (`InputRow.where`), so that a lead reads "orders.csv:8"
and finds line 8 in an editor: in a CSV file the header is line 1 and the first data row line
2; in a JSONL file a row is its line; in a JSON array a row is its item index (0-based, as
JSON tools count: "orders.json item [2]"). `write_rows` writes rows back in the file's own
format (CSV with the same header), for a failed-rows file that can be fed back as it is.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent.core.errors import InputError
from agent.core.files import MIB, FileRefused, read_text

# Limits on an inputs file (see 'Limits on input files' in the README): a batch of this size
# is already hours of runs; a larger file is more likely a mistake (or an attack) than a plan.
MAX_BYTES = 20 * MIB
MAX_ROWS = 100_000

FileKind = Literal["csv", "jsonl", "json"]
_KINDS: dict[str, FileKind] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}


@dataclass(frozen=True)
class InputRow:
    """One row of an inputs file: its values as written, and where it is in the file."""

    values: dict[str, Any]
    line: int  # CSV/JSONL: the file line the row starts on; JSON array: the item index
    where: str  # "orders.csv:8", "orders.jsonl:3", "orders.json item [2]"

    @property
    def place(self) -> str:
        """Where in its file, without the file: "line 8", or "item [2]" in a JSON array."""
        return self.where.rsplit(" ", 1)[1] if self.where.endswith("]") else f"line {self.line}"


@dataclass(frozen=True)
class InputFile:
    """The rows of an inputs file, with what `write_rows` needs to write some of them back."""

    path: Path
    kind: FileKind
    rows: list[InputRow]
    header: list[str] = field(default_factory=list)  # CSV only: the columns, in file order


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
    """The values of every row of an inputs file (`read_input_file` says where each is)."""
    return [row.values for row in read_input_file(path).rows]


def read_input_file(path: Path) -> InputFile:
    """Rows of a .csv (header line first), .jsonl (one JSON object a line) or .json (an array
    of objects) file, each with its place in the file.

    The file is read like every file we did not write (agent.core.files): a regular file of
    at most MAX_BYTES, strict UTF-8, no NUL bytes; then at most MAX_ROWS rows.
    """
    kind = _KINDS.get(path.suffix.lower())
    if kind is None:
        if not path.exists():
            raise InputError(f"inputs file {path} does not exist")
        raise InputError(
            f"inputs file {path} has an unknown type {path.suffix or '(none)'}",
            hint="use a .csv file with a header line, a .jsonl file or a .json array",
        )
    try:
        text = read_text(path, what="inputs file", max_bytes=MAX_BYTES)
    except FileRefused as exc:
        raise InputError(f"{exc.location}: {exc.message}", hint=exc.hint) from None
    if kind == "csv":
        header, rows = _read_csv(path, text)
        return InputFile(path, kind, rows, header)
    return InputFile(
        path, kind, _read_jsonl(path, text) if kind == "jsonl" else _read_json(path, text)
    )


def write_rows(source: InputFile, rows: list[InputRow], path: Path) -> None:
    """`rows` (of `source`) written to `path` in `source`'s format — a CSV keeps its header —
    so that `aijia run … -f PATH` runs exactly these rows again. Written whole or not at all
    (a temporary file renamed over `path`), 0600: the rows may hold customer data."""
    if source.kind == "csv":
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=source.header, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({name: row.values.get(name, "") for name in source.header})
        text = buffer.getvalue()
    elif source.kind == "jsonl":
        text = "".join(json.dumps(row.values, ensure_ascii=False) + "\n" for row in rows)
    else:
        text = json.dumps([row.values for row in rows], ensure_ascii=False, indent=2) + "\n"
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as out:
        out.write(text)
    os.replace(temporary, path)


def _too_many(path: Path, line: int) -> InputError:
    return InputError(
        f"{path}:{line}: more than {MAX_ROWS} rows",
        hint="split the file; see 'Limits on input files' in the README",
    )


def _read_csv(path: Path, text: str) -> tuple[list[str], list[InputRow]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        if not reader.fieldnames:
            raise InputError(f"{path}:1: the CSV file is empty; expected a header line")
        blank = [i + 1 for i, name in enumerate(reader.fieldnames) if not (name or "").strip()]
        if blank:
            raise InputError(f"{path}:1: header column {blank[0]} has no name")
        header = [name.strip() for name in reader.fieldnames]
        rows: list[InputRow] = []
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
            # line_num is the row's last line; a quoted value may span lines
            line = reader.line_num - sum((v or "").count("\n") for v in row.values())
            values = {k.strip(): (v or "").strip() for k, v in row.items()}
            rows.append(InputRow(values, line, f"{path}:{line}"))
    except csv.Error as exc:
        # the csv module's own limits: a value over 128 KiB (field_size_limit), bad quoting
        raise InputError(
            f"{path}:{reader.line_num + 1}: not readable as CSV: {exc}",
            hint="check the quoting around this line; a single value may hold at most "
            f"{csv.field_size_limit() // 1024} KiB",
        ) from None
    return header, rows


def _read_jsonl(path: Path, text: str) -> list[InputRow]:
    rows: list[InputRow] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        value = _json_object(line, f"{path}:{number}")
        if len(rows) >= MAX_ROWS:
            raise _too_many(path, number)
        rows.append(InputRow(value, number, f"{path}:{number}"))
    return rows


def _read_json(path: Path, text: str) -> list[InputRow]:
    items = _json_value(text, str(path))
    if not isinstance(items, list):
        raise InputError(
            f"{path}: expected a JSON array of objects, got {type(items).__name__}",
            hint='write [{"order_id": …}, …], or one object a line in a .jsonl file',
        )
    if len(items) > MAX_ROWS:
        raise _too_many(path, MAX_ROWS)
    rows: list[InputRow] = []
    for index, value in enumerate(items):
        where = f"{path} item [{index}]"
        if not isinstance(value, dict):
            raise InputError(
                f"{path} item [{index}]: expected a JSON object, got {type(value).__name__}"
            )
        rows.append(InputRow(value, index, where))
    return rows


def _json_object(text: str, where: str) -> dict[str, Any]:
    value = _json_value(text, where)
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def _json_value(text: str, where: str) -> Any:
    try:
        return json.loads(
            text, parse_constant=_no_constant, object_pairs_hook=_object_without_duplicates
        )
    except json.JSONDecodeError as exc:
        at = (
            f" (line {exc.lineno}, column {exc.colno})"
            if "\n" in text.strip()
            else f" (column {exc.colno})"
        )
        raise InputError(f"{where}: not valid JSON: {exc.msg}{at}") from None
    except RecursionError:
        raise InputError(f"{where}: not valid JSON: nested too deeply") from None
    except ValueError as exc:  # NaN/Infinity, duplicate keys, integers past 4300 digits
        raise InputError(f"{where}: not valid JSON: {exc}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} is given twice")
        out[key] = value
    return out
