"""`aijia run`: one run, or one per row of an inputs file, through the facade."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from agent.cli.common import (
    ConfigOption,
    RemovedAsOption,
    acting_identity,
    handles_errors,
    open_aijia,
    overall_exit_code,
)

if TYPE_CHECKING:
    from agent import Aijia, RunResult
    from agent.recipes.model import Recipe

InputOption = typer.Option(
    None, "--input", "-i", help="An input as key=value; repeat for several inputs."
)


@handles_errors
def run(
    recipe: str = typer.Argument(..., help="Recipe name (recipes/<site>/NAME.yaml) or a path."),
    inputs: list[str] | None = InputOption,
    inputs_file: Path | None = typer.Option(
        None, "--inputs-file", "-f", help="A .csv (with header) or .jsonl file: one run a row."
    ),
    site: str | None = typer.Option(
        None, "--site", help="Site from config.yaml (default: the recipe's)."
    ),
    concurrency: int = typer.Option(
        4, "--concurrency", "-n", min=1, max=32, help="Browser contexts at once in a batch."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Run the prepare phase only: nothing is changed, no gate pauses."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object per run on stdout (for schedulers)."
    ),
    headed: bool = typer.Option(False, "--headed", help="Show the browser window."),
    case: str | None = typer.Option(None, "--case", help="Attach the runs to this case id."),
    ask: str | None = typer.Option(
        None, "--ask", help="With --case: what the customer asked (starts each run's trail)."
    ),
    channel: str = typer.Option(
        "email", "--channel", help="With --case: where they asked (whatsapp, tiktok, email …)."
    ),
    _as: str | None = RemovedAsOption,
    config: Path | None = ConfigOption,
) -> None:
    """Run a recipe once, or once per row of an inputs file, as the signed-in user (`aijia
    whoami`), and show what happened.

    Exit codes: 0 all done, 1 a run failed, 2 invalid recipe, config or input (or an inputs
    file refused: see 'Limits on input files' in the README), 3 a run paused at a gate, 4 the
    browser could not start or the site did not answer. A batch exits with the most urgent
    code of its runs: 2 > 4 > 1 > 3 > 0.
    """
    from agent.cli import present

    with open_aijia(config) as aijia:
        user = acting_identity(aijia)
        # policy first (exit 6), then every row (exit 2), before anything runs or is recorded
        chosen = aijia.check_run(recipe, [], as_user=user, site=site)
        rows = _rows(inputs or [], inputs_file)
        aijia.check_run(chosen, rows, as_user=user, site=site, numbered=inputs_file is not None)
        if case and ask:
            aijia.open_case(case, channel=channel, ask=ask)
        options: dict[str, Any] = {
            "as_user": user,
            "site": site,
            "case": case,
            "dry_run": dry_run,
            "headed": headed,
        }
        if len(rows) == 1:
            results = [aijia.run(chosen, rows[0], **options)]
        else:
            results = _batch(aijia, chosen, rows, concurrency, quiet=as_json, options=options)
        evidence_dir = aijia.settings.data_dir / "evidence"
    if as_json:
        present.run_lines(results)
    else:
        present.run_summary(results, evidence_dir)
    code = overall_exit_code(results)
    if code:
        raise typer.Exit(code)


def _rows(pairs: list[str], inputs_file: Path | None) -> list[dict[str, Any]]:
    """`--input` pairs, merged over each row of `-f FILE` (or alone: one row)."""
    from agent.core.errors import InputError
    from agent.recipes.rows import parse_pairs, read_rows

    given = parse_pairs(pairs)
    if inputs_file is None:
        return [given]
    rows = [{**row, **given} for row in read_rows(inputs_file)]
    if not rows:
        raise InputError(f"inputs file {inputs_file} has no rows")
    return rows


def _batch(
    aijia: Aijia,
    recipe: Recipe,
    rows: list[dict[str, Any]],
    concurrency: int,
    *,
    quiet: bool,
    options: dict[str, Any],
) -> list[RunResult]:
    """Every row, `concurrency` at a time, with a progress bar on stderr unless `quiet`."""
    from agent.cli.present import BatchProgress

    progress = None if quiet else BatchProgress(len(rows))
    try:
        return aijia.run_batch(
            recipe,
            rows,
            concurrency=concurrency,
            on_result=progress.advance if progress else None,
            **options,
        )
    finally:
        if progress:
            progress.stop()
