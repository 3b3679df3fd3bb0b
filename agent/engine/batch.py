"""Many runs of one recipe: check every row first, run them a few at a time, sum up.

Rows are checked against the recipe's input schema before any browser starts, so a typo in
row 180 of a CSV does not surface after 179 runs. Rows then run `concurrency` at a time (each
in its own browser context of one shared Chromium); a failing row never stops the others,
and results come back in row order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from agent.core.errors import AgentError, InputError
from agent.core.states import RunState
from agent.engine.result import ProgressCallback, RunResult
from agent.recipes.inputs import bind_inputs
from agent.recipes.model import Recipe

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
