"""What `aijia run` needs around the runner: check every row first, then sum up the results.

Rows are checked against the recipe's input schema before any browser starts, so a typo in
row 180 of a CSV does not surface after 179 runs. The overall exit code puts the most urgent
outcome first: 2 invalid input > 1 a run failed > 3 a run paused at a gate > 0 all done.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from agent.errors import InputError
from agent.inputs import bind_inputs
from agent.recipe import Recipe
from agent.states import RunState

if TYPE_CHECKING:
    from agent.runner import RunResult


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


def overall_exit_code(results: Iterable[RunResult]) -> int:
    codes = {r.exit_code for r in results}
    for code in (2, 1, 3):
        if code in codes:
            return code
    return max(codes, default=0)


def summary_counts(results: Iterable[RunResult]) -> dict[str, int]:
    """How many runs ended in each state, e.g. {"done": 180, "paused": 3, "failed": 2}."""
    counts = Counter(r.state.value for r in results)
    return {state.value: counts[state.value] for state in RunState if counts[state.value]}


def result_json(result: RunResult) -> dict[str, Any]:
    """One run as a JSON-ready object (for `--json`, one line per run)."""
    data = asdict(result)
    data["state"] = result.state.value
    return data
