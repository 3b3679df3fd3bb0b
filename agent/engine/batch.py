"""Many runs of one recipe: check every row first, run them a few at a time, sum up.

Rows are checked against the recipe's input schema before any browser starts, so a typo in
row 180 of a CSV does not surface after 179 runs. Rows then run `concurrency` at a time (each
in its own browser context of one shared Chromium); a failing row never stops the others,
and results come back in row order.

Rows read from a file (`sort_rows`) are sorted into good, invalid and duplicate rows, each
named by its place in the file ("orders.csv:8"): the caller refuses the batch over invalid
rows, or skips them (`aijia run --skip-invalid`); a row whose bound inputs equal an earlier
row's runs once, as the earlier row (running a refund twice is never what a lead meant).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.core.errors import AgentError, InputError
from agent.core.states import RunState
from agent.engine.result import ProgressCallback, RunResult
from agent.recipes.inputs import bind_inputs
from agent.recipes.model import Recipe
from agent.recipes.rows import InputRow

RunOne = Callable[[int, Mapping[str, Any]], Awaitable[RunResult]]


def check_rows(
    recipe: Recipe, rows: Sequence[Mapping[str, Any]], *, numbered: bool = True
) -> list[InputError]:
    """Every row's input problems (empty when all rows are fine); nothing is run.

    `numbered=False` for a single run from `--input` pairs, where "row 1" would mislead.
    """
    problems: list[InputError] = []
    for number, row in enumerate(rows, start=1):
        try:
            bind_inputs(recipe, row, row=number if numbered else None)
        except InputError as err:
            problems.append(err)
    return problems


def refuse_bad_rows(recipe: Recipe, rows: Sequence[Mapping[str, Any]], *, numbered: bool) -> None:
    """InputError listing (up to 20 of) the invalid rows, when there is any; nothing runs."""
    problems = check_rows(recipe, rows, numbered=numbered)
    if not problems:
        return
    shown = "\n".join(str(p) for p in problems[:20])
    more = f"\n… and {len(problems) - 20} more rows" if len(problems) > 20 else ""
    raise InputError(
        f"{len(problems)} of {len(rows)} rows are invalid; nothing was run:\n{shown}{more}"
    )


@dataclass(frozen=True)
class InvalidRow:
    """A row the recipe's input schema refuses, and what is wrong with it."""

    row: InputRow
    error: InputError

    @property
    def problem(self) -> str:
        """What is wrong, on one line: "amount: expected a number, got 'ten'; …"."""
        lines = [line.strip() for line in self.error.message.splitlines()[1:] if line.strip()]
        return "; ".join(lines) or self.error.message


@dataclass(frozen=True)
class DuplicateRow:
    """A row whose bound inputs equal those of an earlier row (`first`): run once, as that."""

    row: InputRow
    first: InputRow


@dataclass(frozen=True)
class SortedRows:
    """An inputs file's rows sorted for a batch: what runs, what is refused, what repeats."""

    good: list[InputRow] = field(default_factory=list)  # in file order, duplicates removed
    invalid: list[InvalidRow] = field(default_factory=list)
    duplicates: list[DuplicateRow] = field(default_factory=list)

    def refusal(self, total: int) -> InputError:
        """The error that refuses the whole batch (when invalid rows are not to be skipped),
        naming (up to 20 of) the invalid rows by file line."""
        shown = "\n".join(f"  {bad.row.where}: {bad.problem}" for bad in self.invalid[:20])
        more = len(self.invalid) - 20
        rest = f"\n  … and {more} more rows" if more > 0 else ""
        return InputError(
            f"{len(self.invalid)} of {total} rows are invalid; nothing was run:\n{shown}{rest}",
            hint="fix those lines, or add --skip-invalid to run the good rows (the bad ones "
            "are then written to the failed-rows file)",
        )


def sort_rows(
    recipe: Recipe, rows: Sequence[InputRow], overrides: Mapping[str, Any] | None = None
) -> SortedRows:
    """Bind every row (its values, `overrides` on top: `--input` pairs given with a file)
    and sort it: good, invalid (with why) or a duplicate of an earlier good row."""
    sorted_rows = SortedRows()
    seen: dict[str, InputRow] = {}
    for row in rows:
        try:
            bound = bind_inputs(recipe, {**row.values, **(overrides or {})}, where=row.where)
        except InputError as err:
            sorted_rows.invalid.append(InvalidRow(row, err))
            continue
        key = json.dumps(bound, sort_keys=True, default=str)
        if key in seen:
            sorted_rows.duplicates.append(DuplicateRow(row, seen[key]))
            continue
        seen[key] = row
        sorted_rows.good.append(row)
    return sorted_rows


async def run_rows(
    recipe: Recipe,
    site: str,
    rows: Sequence[Mapping[str, Any]],
    run_one: RunOne,
    *,
    concurrency: int,
    on_result: ProgressCallback | None = None,
    dry_run: bool = False,
) -> list[RunResult]:
    """`run_one(row_number, row)` for every row, `concurrency` at a time, in row order."""
    limit = asyncio.Semaphore(max(1, concurrency))

    async def one(index: int, row: Mapping[str, Any]) -> RunResult:
        async with limit:
            try:
                result = await run_one(index, row)
            except AgentError as exc:
                result = RunResult(
                    recipe=recipe.name,
                    site=site,
                    row=index,
                    state=RunState.FAILED,
                    error=str(exc),
                    exit_code=exc.exit_code,
                    dry_run=dry_run,
                )
        if on_result is not None:
            on_result(result)
        return result

    return list(await asyncio.gather(*(one(i, r) for i, r in enumerate(rows, start=1))))
