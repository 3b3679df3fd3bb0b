"""`aijia run`: one run, or one per row of an inputs file, through the facade.

A batch from a file is sorted first (`agent.engine.batch.sort_rows`): invalid rows refuse the
batch, or with `--skip-invalid` are skipped and reported by file line; a row repeating an
earlier row's inputs runs once. Rows that failed or were skipped as invalid are written to a
failed-rows file in the input's own format, which `-f` takes back as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from agent.backends import run_on_temporal, uses_temporal
from agent.cli.common import (
    ConfigOption,
    ExitCode,
    RemovedAsOption,
    acting_identity,
    console,
    handles_errors,
    open_aijia,
    overall_exit_code,
)

if TYPE_CHECKING:
    from agent import Aijia, RunResult
    from agent.cli.present import BatchView
    from agent.engine.batch import SortedRows
    from agent.recipes.model import Recipe
    from agent.recipes.rows import InputFile

InputOption = typer.Option(
    None, "--input", "-i", help="An input as key=value; repeat for several inputs."
)


@handles_errors
def run(
    recipe: str = typer.Argument(..., help="Recipe name (recipes/<site>/NAME.yaml) or a path."),
    inputs: list[str] | None = InputOption,
    inputs_file: Path | None = typer.Option(
        None,
        "--inputs-file",
        "-f",
        help="A .csv (with header), .jsonl or .json (array) file: one run a row.",
    ),
    skip_invalid: bool = typer.Option(
        False,
        "--skip-invalid",
        help="Run the good rows of -f and report each invalid one by file line (default: "
        "one invalid row refuses the batch). A batch that skipped rows exits 2.",
    ),
    failed_rows: Path | None = typer.Option(
        None,
        "--failed-rows",
        help="Where to write the rows of -f that failed or were invalid, in the file's own "
        "format, to run them again with -f (default: next to the file, "
        "orders.csv -> orders.failed.csv).",
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
    whoami`), and show what happened. A run that pauses at a gate says who may approve it
    and what to run next.

    Exit codes: 0 all done, 1 a run failed, 2 invalid recipe, config or input (or an inputs
    file refused: see 'Limits on input files' in the README; or rows skipped by
    --skip-invalid), 3 a run paused at a gate, 4 the browser could not start or the site did
    not answer. A batch exits with the most urgent code of its runs: 2 > 4 > 1 > 3 > 0.
    Duplicate rows (the same inputs as an earlier row) run once and do not change the code.
    """
    from agent.cli import present
    from agent.recipes.rows import parse_pairs

    given = parse_pairs(inputs or [])
    with open_aijia(config) as aijia:
        user = acting_identity(aijia)
        # policy first (exit 6), then every row (exit 2), before anything runs or is recorded
        chosen = aijia.check_run(recipe, [], as_user=user, site=site)
        source, batch = None, None
        if inputs_file is None:
            aijia.check_run(chosen, [given], as_user=user, site=site, numbered=False)
            rows = [given]
        else:
            source, batch = _sorted_file(chosen, inputs_file, given, skip_invalid=skip_invalid)
            present.duplicate_warnings(batch.duplicates)
            rows = [{**row.values, **given} for row in batch.good]
        if case and ask:
            aijia.open_case(case, channel=channel, ask=ask)
        options: dict[str, Any] = {
            "as_user": user,
            "site": site,
            "case": case,
            "dry_run": dry_run,
            "headed": headed,
        }
        if not rows:
            results = []
        elif uses_temporal(aijia.settings) and not (dry_run or headed):  # `aijia worker`s run it
            results = run_on_temporal(aijia, recipe, rows, options, numbered=batch is not None)
        elif len(rows) == 1 and batch is None:
            results = [aijia.run(chosen, rows[0], **options)]
        else:
            results = _batch(aijia, chosen, rows, concurrency, quiet=as_json, options=options)
        guides = {r.gate.gate_id: _pause_guide(aijia, r.gate.gate_id) for r in _gated(results)}
        evidence_dir = aijia.settings.data_dir / "evidence"
    code = overall_exit_code(results)
    view = None
    if source is not None and batch is not None:
        code = ExitCode.INVALID if batch.invalid else code
        view = _batch_view(chosen, source, batch, results, failed_rows, code)
    if as_json:
        present.run_lines(results, guides, view)
    else:
        present.run_summary(results, evidence_dir, guides, view, code)
    if code:
        raise typer.Exit(code)


def _sorted_file(
    recipe: Recipe, path: Path, given: dict[str, Any], *, skip_invalid: bool
) -> tuple[InputFile, SortedRows]:
    """The file's rows sorted into good, invalid and duplicate ones; InputError (exit 2,
    nothing run) over an empty file, or over invalid rows unless they are to be skipped."""
    from agent.core.errors import InputError
    from agent.engine.batch import sort_rows
    from agent.recipes.rows import read_input_file

    source = read_input_file(path)
    if not source.rows:
        raise InputError(f"inputs file {path} has no rows")
    batch = sort_rows(recipe, source.rows, given)
    if batch.invalid and not skip_invalid:
        raise batch.refusal(len(source.rows))
    return source, batch


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


def _gated(results: list[RunResult]) -> list[Any]:
    """The paused results that wait at a stored gate (a dry run's preview has no gate id)."""
    return [r for r in results if r.state.value == "paused" and r.gate and r.gate.gate_id]


def _pause_guide(aijia: Aijia, gate_id: str) -> dict[str, Any]:
    """What a lead needs about a paused run: its gate, who may approve it (policy, the
    initiator excluded), what it takes, and the next command or the console link."""
    view = aijia.gate(gate_id, verify=False)  # for showing; approve verifies anyway
    link = aijia.settings.console.gate_link(gate_id)
    return {
        "gate_id": gate_id,
        "approvers": list(view.approvers),
        "needs": view.needs.describe(),
        "next": [f"aijia gates show {gate_id}", f"aijia approve {gate_id}"],
        "link": link,
    }


def _batch_view(
    recipe: Recipe,
    source: InputFile,
    batch: SortedRows,
    results: list[RunResult],
    failed_rows: Path | None,
    code: int,
) -> BatchView:
    """Where each result's row is in the file, its key input, what was skipped, and the
    failed-rows file (written here when any row failed or was invalid)."""
    from agent.cli.present import BatchView
    from agent.recipes.rows import write_rows

    key = "order_id" if "order_id" in recipe.inputs else next(iter(recipe.inputs), "")
    failed = [row for row, r in zip(batch.good, results, strict=True) if r.state.value == "failed"]
    redo = sorted(failed + [bad.row for bad in batch.invalid], key=lambda row: row.line)
    path = failed_rows or default_failed_path(source.path)
    if redo:
        if path.resolve() == source.path.resolve():
            path = default_failed_path(source.path)  # never overwrite the input itself
        write_rows(source, redo, path)
    elif failed_rows is None and path.exists():
        console(stderr=True).print(
            f"[yellow]note:[/] nothing failed; {path} is from an earlier batch", soft_wrap=True
        )
    return BatchView(
        key=key,
        rows=list(batch.good),
        invalid=list(batch.invalid),
        duplicates=list(batch.duplicates),
        failed_rows=path if redo else None,
        failed_count=len(redo),
        exit_code=code,
    )


def default_failed_path(path: Path) -> Path:
    """`orders.csv` -> `orders.failed.csv`, next to it (the same format, so `-f` takes it)."""
    return path.with_name(f"{path.stem}.failed{path.suffix}")
