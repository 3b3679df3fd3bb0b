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
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from agent.cli.common import console, json_text
from agent.core.text import printable

if TYPE_CHECKING:
    from agent import RunResult
    from evidence.api import RunRecord

# --------------------------------------------------------------------------- run results


def result_json(result: RunResult) -> dict[str, Any]:
    """One run as a JSON-ready object (for `aijia run --json`, one line per run)."""
    data = asdict(result)
    data["state"] = result.state.value
    return data


def summary_counts(results: Iterable[RunResult]) -> dict[str, int]:
    """How many runs ended in each state, e.g. {"done": 180, "paused": 3, "failed": 2}."""
    from agent.core.states import RunState

    counts = Counter(r.state.value for r in results)
    return {state.value: counts[state.value] for state in RunState if counts[state.value]}


def run_lines(results: Sequence[RunResult]) -> None:
    """One JSON object per run on stdout."""
    for result in results:
        typer.echo(json_text(result_json(result)))


def run_summary(results: Sequence[RunResult], evidence_dir: Path) -> None:
    """The outputs of a single run, a table of runs, the counts, where the evidence is."""
    out = console()
    if len(results) == 1 and results[0].outputs:
        out.print_json(json_text(results[0].outputs))
    out.print(_results_table(results))
    counts = ", ".join(f"{n} {state}" for state, n in summary_counts(results).items())
    out.print(f"{len(results)} runs: {counts}")
    out.print(f"evidence: {evidence_dir}  (aijia evidence show RUN)")
    if len(results) == 1 and results[0].error:
        out.print(f"[red]error:[/] {shown(results[0].error, multiline=True)}", soft_wrap=True)


def _results_table(results: Sequence[RunResult]) -> Any:
    from rich.table import Table

    table = Table(title=f"{results[0].recipe} on {results[0].site}", show_lines=False)
    for column in ("row", "run", "state", "detail"):
        table.add_column(column, overflow="fold")
    colors = {"done": "green", "paused": "yellow"}
    # A big batch lists only the runs that need a look; the counts below cover the rest.
    listed = results if len(results) <= 30 else [r for r in results if r.state.value != "done"]
    for result in listed:
        state = result.state.value
        if result.gate is not None:
            detail = f"waits at gate: {result.gate.summary}"
        elif result.pause_reason:
            detail = f"waits for a human ({result.pause_reason})"
        else:
            detail = (result.error or "").splitlines()[0] if result.error else ""
        table.add_row(
            str(result.row or 1),
            result.run_id or "-",
            f"[{colors.get(state, 'red')}]{state}[/]",
            shown(detail),
        )
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
