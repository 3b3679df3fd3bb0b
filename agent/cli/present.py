"""Presenters for runs: what a run gave back (`RunResult`) and what the store recorded
(`RunRecord`), as JSON-ready dicts, rich tables and a progress bar. They render; they decide
nothing, and they never raise `typer.Exit` (the commands do).

Seller data (names, summaries, bound values, errors, URLs) is hostile: every command puts it
into a line or a cell through `shown` (rich markup escaped, control characters shown escaped)
and into JSON through `common.json_text`; the console itself (`agent.cli.terminal`) is the
net under both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from agent.cli.common import console, json_text
from agent.core.text import printable

if TYPE_CHECKING:
    from agent import RunResult
    from agent.engine.batch import DuplicateRow, InvalidRow
    from agent.recipes.rows import InputRow
    from evidence.api import RunRecord

# --------------------------------------------------------------------------- run results


@dataclass(frozen=True)
class BatchView:
    """A batch from an inputs file, as `aijia run` shows it: where each run's row is in the
    file (`rows[i]` is `results[i]`'s), its key input, the rows skipped (invalid, or repeating
    an earlier row) and the failed-rows file. Built by the command; rendered here."""

    key: str  # the key input shown next to each row: order_id, else the recipe's first input
    rows: list[InputRow]
    invalid: list[InvalidRow]
    duplicates: list[DuplicateRow]
    failed_rows: Path | None  # written: the rows that failed or were invalid, to run again
    failed_count: int
    exit_code: int


Guides = dict[str, dict[str, Any]]  # gate id -> what to do next (`aijia run`'s _pause_guide)


def result_json(result: RunResult, guides: Guides | None = None) -> dict[str, Any]:
    """One run as a JSON-ready object (for `aijia run --json`, one line per run); a run paused
    at a gate also carries gate_id, approvers, needs, next (commands) and link."""
    data = asdict(result)
    data["state"] = result.state.value
    gate_id = result.gate.gate_id if result.gate else None
    if guides and gate_id in guides:
        data.update(guides[gate_id])
    return data


def summary_counts(results: Iterable[RunResult]) -> dict[str, int]:
    """How many runs ended in each state, e.g. {"done": 180, "paused": 3, "failed": 2}."""
    from agent.core.states import RunState

    counts = Counter(r.state.value for r in results)
    return {state.value: counts[state.value] for state in RunState if counts[state.value]}


def run_lines(
    results: Sequence[RunResult], guides: Guides | None = None, batch: BatchView | None = None
) -> None:
    """One JSON object per run on stdout; in a batch from a file each carries its `line`
    (`where`: "orders.csv:8"), and every skipped row is an object of state "skipped" with
    `skipped` ("invalid" or "duplicate") and why."""
    for number, result in enumerate(results):
        data = result_json(result, guides)
        if batch is not None:
            data.update(line=batch.rows[number].line, where=batch.rows[number].where)
        typer.echo(json_text(data))
    if batch is None:
        return
    for bad in batch.invalid:
        typer.echo(json_text(_skipped(bad.row, "invalid", bad.problem, 2)))
    for dup in batch.duplicates:
        same = f"the same inputs as {dup.first.place}: run once"
        typer.echo(json_text(_skipped(dup.row, "duplicate", same, 0)))


def _skipped(row: InputRow, why: str, error: str, code: int) -> dict[str, Any]:
    return {
        "state": "skipped",
        "skipped": why,
        "line": row.line,
        "where": row.where,
        "inputs": row.values,
        "error": error,
        "exit_code": code,
    }


def duplicate_warnings(duplicates: Sequence[DuplicateRow]) -> None:
    """On stderr, before the batch runs: which rows repeat an earlier one and run once."""
    out = console(stderr=True)
    for dup in duplicates[:10]:
        out.print(
            f"[yellow]warning:[/] {shown(dup.row.where)} has the same inputs as "
            f"{shown(dup.first.place)}: run once",
            soft_wrap=True,
        )
    if len(duplicates) > 10:
        out.print(f"[yellow]warning:[/] … and {len(duplicates) - 10} more duplicate rows")


def run_summary(
    results: Sequence[RunResult],
    evidence_dir: Path,
    guides: Guides | None = None,
    batch: BatchView | None = None,
    exit_code: int = 0,
) -> None:
    """The outputs of a single run, a table of runs, what was skipped, the counts and the
    exit code, what a paused run needs next, where the evidence is."""
    out = console()
    if len(results) == 1 and results[0].outputs and batch is None:
        out.print_json(json_text(results[0].outputs))
    if results or (batch and batch.invalid):
        out.print(_results_table(results, batch))
    if batch is not None:
        for line in _skipped_lines(batch):
            out.print(line, soft_wrap=True)
    out.print(_counts_line(results, batch, exit_code))
    for line in pause_lines(results, guides or {}):
        out.print(line, soft_wrap=True)
    if batch is not None and batch.failed_rows is not None:
        out.print(
            f"failed rows: {shown(batch.failed_rows)} ({batch.failed_count}; run them again "
            f"with -f {shown(batch.failed_rows)})",
            soft_wrap=True,
        )
    out.print(f"evidence: {evidence_dir}  (aijia evidence show RUN)")
    if len(results) == 1 and results[0].error:
        out.print(f"[red]error:[/] {shown(results[0].error, multiline=True)}", soft_wrap=True)


def _counts_line(results: Sequence[RunResult], batch: BatchView | None, code: int) -> str:
    """ "7 runs: 4 done, 1 paused, 2 failed; skipped 1 invalid, 2 duplicate; exit 2"."""
    counts = ", ".join(f"{n} {state}" for state, n in summary_counts(results).items())
    line = f"{len(results)} runs: {counts or 'none'}"
    if batch is not None and (batch.invalid or batch.duplicates):
        line += f"; skipped {len(batch.invalid)} invalid, {len(batch.duplicates)} duplicate"
    return f"{line}; exit {code}"


def _skipped_lines(batch: BatchView) -> list[str]:
    """The duplicate rows, by file line, each with the earlier row it repeats."""
    if not batch.duplicates:
        return []
    pairs = ", ".join(f"{d.row.where} (= {d.first.place})" for d in batch.duplicates[:20])
    more = f" … and {len(batch.duplicates) - 20} more" if len(batch.duplicates) > 20 else ""
    count = len(batch.duplicates)
    return [f"[yellow]skipped {count} duplicate rows, run once:[/] {shown(pairs)}{more}"]


def pause_lines(results: Sequence[RunResult], guides: Guides, limit: int = 10) -> list[str]:
    """For each run paused at a gate: its gate id, who may approve, and the next command (or
    the console link when console.public_url is set); rich markup."""
    lines: list[str] = []
    paused = [r for r in results if r.gate is not None and r.gate.gate_id in guides]
    for result in paused[:limit]:
        assert result.gate is not None and result.gate.gate_id is not None
        guide = guides[result.gate.gate_id]
        who = ", ".join(guide["approvers"]) or "nobody in policy.users (ask an admin)"
        lines.append(
            f"[yellow]paused at gate {guide['gate_id']}[/] (run {result.run_id}): "
            f"{shown(guide['needs'])}; may approve: {shown(who)}"
        )
        if guide["link"]:
            lines.append(f"  next: {gate_link_line(guide['link'])}")
        else:
            lines.append(f"  next: {guide['next'][0]}, then {guide['next'][1]}")
    if len(paused) > limit:
        lines.append(f"… and {len(paused) - limit} more paused runs: aijia gates list")
    return lines


def _results_table(results: Sequence[RunResult], batch: BatchView | None = None) -> Any:
    from rich.table import Table

    first = results[0] if results else None
    title = f"{first.recipe} on {first.site}" if first else None
    table = Table(title=title, show_lines=False)
    key = batch.key if batch else ""
    columns = ["line", key] if batch and key else ["line"] if batch else ["row"]
    for column in (*columns, "run", "state", "gate", "detail"):
        table.add_column(column, overflow="fold")
    colors = {"done": "green", "paused": "yellow", "skipped": "yellow"}
    cells: list[tuple[int, list[str]]] = []  # (file line, cells): rows in file order
    for number, result in enumerate(results):
        # a big batch lists only the runs that need a look; the counts line covers the rest
        if len(results) > 30 and result.state.value == "done":
            continue
        state = result.state.value
        if result.gate is not None:
            detail = f"waits at gate: {result.gate.summary}"
        elif result.pause_reason:
            detail = f"waits for a human ({result.pause_reason})"
        else:
            detail = (result.error or "").splitlines()[0] if result.error else ""
        head = [str(result.row or 1)]
        if batch is not None:
            row = batch.rows[number]
            head = [str(row.line)] + ([shown(row.values.get(key, ""))] if key else [])
        gate = (result.gate.gate_id or "") if result.gate else ""
        line = batch.rows[number].line if batch else number
        status = f"[{colors.get(state, 'red')}]{state}[/]"
        cells.append((line, [*head, result.run_id or "-", status, gate, shown(detail)]))
    for bad in batch.invalid if batch else []:
        head = [str(bad.row.line)] + ([shown(bad.row.values.get(key, ""))] if key else [])
        cells.append((bad.row.line, [*head, "-", "[yellow]skipped[/]", "", shown(bad.problem)]))
    for _, row_cells in sorted(cells, key=lambda item: item[0]):
        table.add_row(*row_cells)
    return table


def resumed(result: RunResult) -> None:
    """A resumed (or approved-then-resumed) run: its state, outputs, and what went wrong."""
    out = console()
    state = result.state.value
    out.print(f"run {result.run_id}: [bold]{state}[/] in {result.duration_s:.1f}s")
    if result.outputs:
        out.print_json(json_text(result.outputs))
    if result.gate is not None and state == "paused":
        why = shown(str(result.error), multiline=True)
        out.print(f"[yellow]{why}[/]; new gate {result.gate.gate_id}", soft_wrap=True)
    elif result.pause_reason == "retry":  # nothing was sent; the approval holds
        out.print(f"[yellow]{shown(str(result.error), multiline=True)}[/]", soft_wrap=True)
    elif result.error:
        out.print(f"[red]error:[/] {shown(result.error, multiline=True)}", soft_wrap=True)


class BatchProgress:
    """A rich progress bar on stderr that counts done / paused / failed as rows finish.

    `advance` is called from the facade's loop thread; rich's Progress locks its own state."""

    def __init__(self, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.counts = {"done": 0, "paused": 0, "failed": 0}
        self.bar = Progress(
            TextColumn("[bold]runs"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console(stderr=True),
            transient=False,
        )
        self.task = self.bar.add_task(self._text(), total=total)
        self.bar.start()

    def _text(self) -> str:
        c = self.counts
        return (
            f"[green]{c['done']} done[/] [yellow]{c['paused']} paused[/] "
            f"[red]{c['failed']} failed[/]"
        )

    def advance(self, result: RunResult) -> None:
        key = result.state.value if result.state.value in self.counts else "failed"
        self.counts[key] += 1
        self.bar.update(self.task, advance=1, description=self._text())

    def stop(self) -> None:
        self.bar.stop()


# --------------------------------------------------------------------------- run records


def run_dict(run: RunRecord) -> dict[str, Any]:
    """A stored run as a JSON-ready object."""
    return {**asdict(run), "state": run.state.value}


def runs_table(runs: Sequence[RunRecord], sealed: dict[str, bool] | None = None) -> None:
    """Runs, one line each: id, created, state (* sealed), recipe @ site, case."""
    from rich import box
    from rich.table import Table

    caption = "* sealed (finished, manifest written)" if sealed else None
    table = Table(box=box.SIMPLE, caption=caption)
    for column in ("run", "created", "state"):
        table.add_column(column, no_wrap=True)
    table.add_column("recipe @ site", overflow="fold")
    table.add_column("case", overflow="fold")
    for r in runs:
        mark = "*" if sealed and sealed.get(r.run_id) else ""
        table.add_row(
            r.run_id,
            r.created_at[5:16].replace("T", " "),
            r.state.value + mark,
            shown(f"{r.recipe} @ {r.site}"),
            shown(r.case_id or ""),
        )
    console().print(table)


def shown(value: object, *, multiline: bool = False) -> str:
    """Seller data (names, summaries, bound values, errors) for a line or a cell with rich
    markup: shown as written, never as markup, with control characters shown escaped
    (`multiline` keeps its newlines: an error with its hint, a list of details)."""
    from rich.markup import escape

    return escape(printable(str(value), multiline=multiline))


# --------------------------------------------------------------------------- gates


def screenshot_rows(shots: Sequence[dict[str, str]]) -> list[tuple[str, str]]:
    """Two rows a screenshot: what it shows ("step 7 · order page"), then its file — the
    store's relative path and its format (the store names files by content, without an
    extension; `name` is one to save it under). Plain text: the table escapes it."""
    rows = []
    for number, shot in enumerate(shots, 1):
        kind = shot["media_type"].removeprefix("image/")
        rows.append((f"screenshot {number}", shot["label"]))
        rows.append(("  file", f"{shot['path']} ({kind}; save as {shot['name']})"))
    return rows


def gate_link_line(link: str | None) -> str:
    """The console link of a gate, or how to get one (rich markup; the link is ours)."""
    if link:
        return f"review in the console: [link={link}]{shown(link)}[/link]"
    return "[dim]no console link: set console.public_url in config.yaml[/]"
