"""`aijia evidence …`: verify and export through the facade; show, report, list and prune
read (and prune trims) the evidence store the facade opened."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from agent.cli.common import ConfigOption, ExitCode, console, handles_errors, open_aijia, print_json

if TYPE_CHECKING:
    from evidence.timeline import Entry, RunTimeline
    from evidence.verify import VerifyReport

app = typer.Typer(
    help="The evidence store: verify, export, show and prune what runs recorded.",
    no_args_is_help=True,
)


@app.command("verify")
@handles_errors
def evidence_verify(
    runs: list[str] | None = typer.Argument(None, help="Run ids to check (default: all)."),
    all_runs: bool = typer.Option(False, "--all", help="Check every run in the store."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """Recompute chains, artifacts, rows and seals, check signatures and the root log; exit
    1 naming the first break of each run. Prints the key fingerprint it trusted."""
    from dataclasses import asdict

    with open_aijia(config) as aijia:
        report = aijia.verify(None if all_runs or not runs else runs)
    if as_json:
        print_json({**asdict(report), "ok": report.ok})
    else:
        _show_verified(report)
    if not report.ok:
        raise typer.Exit(ExitCode.FAILED)


def _show_verified(report: VerifyReport) -> None:
    from agent.cli.present import shown

    out = console()
    for found in report.breaks:
        out.print(f"[bold red]BROKEN[/] {shown(found)}", soft_wrap=True)
    # What the result rests on: compare the fingerprint with one from a trusted channel.
    for key in report.trusted_keys:
        out.print(f"signatures trusted from key {key}", soft_wrap=True)
    if report.root_log:
        out.print(f"compared with the root log {shown(report.root_log)}", soft_wrap=True)
    status = "[green]ok[/]" if report.ok else f"[red]{len(report.breaks)} broken[/]"
    out.print(
        f"{report.runs_checked} run(s), {report.events_checked} event(s), "
        f"{report.artifacts_checked} artifact(s) checked: {status}"
    )
    if report.unsealed:
        out.print(f"[yellow]not sealed since the last manifest:[/] {len(report.unsealed)}")


@app.command("export")
@handles_errors
def evidence_export(
    run: list[str] | None = typer.Argument(None, help="Run id(s) to export."),
    case: str | None = typer.Option(None, "--case", help="Export every run of this case."),
    output: Path = typer.Option(..., "--output", "-o", help="The bundle to write (.zip)."),
    platform: str | None = typer.Option(
        None, "--for", help="Also fit an upload/ folder to: stripe, paypal, amazon, shopee."
    ),
    max_file_mb: float | None = typer.Option(None, help="Override the platform's per-file MB."),
    max_total_mb: float | None = typer.Option(None, help="Override the platform's total MB."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """Write a zip anyone can verify offline: manifest, report, action log, screenshots, DOM."""
    from agent.cli.present import shown

    with open_aijia(config) as aijia:
        result = aijia.export(
            output,
            run or [],
            case=case,
            platform=platform,
            max_file_mb=max_file_mb,
            max_total_mb=max_total_mb,
        )
    if as_json:
        from dataclasses import asdict

        print_json({**asdict(result), "path": str(result.path)})
        return
    out = console()
    out.print(f"wrote {result.path} ({result.size:,} bytes, {result.files} files)")
    out.print(f"bundle root hash {result.root_hash}", soft_wrap=True)
    for note in result.notes:
        out.print(f"[yellow]note:[/] {shown(note)}", soft_wrap=True)
    if result.fingerprint:
        out.print(f"signed with key {result.fingerprint}", soft_wrap=True)
        out.print("send this fingerprint to the recipient over another channel than the bundle")


@app.command("verify-bundle")
@handles_errors
def evidence_verify_bundle(
    bundle: Path = typer.Argument(..., help="The bundle (.zip) or its unpacked folder."),
    key: list[str] | None = typer.Option(
        None,
        "--key",
        help="A key fingerprint (SHA256:…) received from the sender over a channel you trust; "
        "repeatable. Default: this install's key and evidence.signing.trusted_keys.",
    ),
    tsa_ca: Path | None = typer.Option(
        None, "--tsa-ca", help="The TSA's root certificate(s), PEM: verify each timestamp too."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """Check a received bundle with this install's verifier (never the copy inside it):
    exit 0 ok, 1 changed (each change named), 2 unreadable or hostile."""
    from agent.core.errors import InputError
    from agent.core.settings import load_config
    from evidence.bundle_check import check_bundle, trusted_keys
    from evidence.signing import parse_fingerprint

    try:
        keys = {parse_fingerprint(text) for text in key or []}
    except ValueError as exc:
        raise InputError(f"--key: {exc}") from None
    if not keys:
        signing = load_config(config).evidence.signing
        keys = trusted_keys(signing.key_file, signing.trusted_keys)
    roots = []
    if tsa_ca is not None:
        from evidence.timestamp import load_roots

        roots = load_roots(tsa_ca)
    result = check_bundle(bundle, keys=keys, tsa_roots=roots)
    if as_json:
        print_json(
            {
                "ok": result.ok,
                "problems": result.problems,
                "notes": [*result.notes, *result.report.notes],
                "root_hash": result.report.root_hash,
                "signed_by": sorted(result.report.signers),
                "sealed": result.report.sealed,
            }
        )
    else:
        for line in result.lines():
            typer.echo(line)
    if not result.ok:
        raise typer.Exit(ExitCode.FAILED)


@app.command("show")
@handles_errors
def evidence_show(
    run: str = typer.Argument(..., help="Run id."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """Print a run's timeline and the six questions it answers."""
    from evidence.timeline import build_timeline

    with open_aijia(config) as aijia:
        timeline = build_timeline(aijia.store, run)
    if as_json:
        print_json(_timeline_json(timeline))
        return
    _show_timeline(timeline)


def _timeline_json(t: RunTimeline) -> dict[str, Any]:
    """The timeline as `evidence show` prints it: the run, the six questions (answered by
    the seq of their events) and every entry with its event, url, values and screenshot."""
    from dataclasses import asdict

    from agent.cli.present import run_dict

    def entry(e: Entry) -> dict[str, Any]:
        return {
            "seq": e.event.seq,
            "at": e.event.at,
            "event": e.event.kind,
            "title": e.title,
            "url": e.url,
            "values": dict(e.values),
            "screenshot": asdict(e.screenshot) if e.screenshot else None,
            "hash": e.event.hash,
        }

    return {
        "run": run_dict(t.run),
        "root_hash": t.root_hash,
        "answers": {q: [e.event.seq for e in entries] for q, entries in t.answers.items()},
        "entries": [entry(e) for e in t.entries],
    }


def _show_timeline(t: RunTimeline) -> None:
    from rich.table import Table

    from agent.cli.present import shown

    out = console()
    r = t.run
    what = shown(f"{r.recipe} v{r.recipe_version} on {r.site}")
    out.print(f"[bold]{r.run_id}[/] {what}: {r.state.value}")
    out.print(f"case {shown(r.case_id or '-')}; root hash {t.root_hash or 'not sealed'}")
    questions = Table(show_header=False, box=None)
    for question, entries in t.answers.items():
        answer = shown("; ".join(e.title for e in entries)) or "[dim]nothing recorded[/]"
        questions.add_row(f"[bold]{question}[/]", answer)
    out.print(questions)
    table = Table(title="timeline")
    for column in ("#", "at", "event", "details"):
        table.add_column(column, overflow="fold")
    for e in t.entries:
        details = [e.url] if e.url else []
        details += [f"{k}: {v}" for k, v in e.values.items()]
        if e.screenshot:
            details.append(f"screenshot {e.screenshot.sha256[:12]}")
        # one detail a line; a detail's own newlines are shown escaped, never as lines
        table.add_row(
            str(e.event.seq), e.event.at[11:23], shown(e.title), "\n".join(map(shown, details))
        )
    out.print(table)


@app.command("report")
@handles_errors
def evidence_report(
    run: str = typer.Argument(..., help="Run id."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Default: <run>.html."),
    open_it: bool = typer.Option(False, "--open", help="Open it in the default browser."),
    as_json: bool = typer.Option(
        False, "--json", help="Print what was written ({run_id, path, bytes}) as JSON."
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Write a self-contained HTML report (screenshots embedded) for one run."""
    from evidence.report import standalone_report

    with open_aijia(config) as aijia:
        html = standalone_report(aijia.store, [run])
    target = output or Path(f"{run}.html")
    # evidence, like the bundle: readable by its owner only, whatever the umask
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(html)
    if as_json:
        print_json({"run_id": run, "path": str(target), "bytes": target.stat().st_size})
    else:
        console().print(f"wrote {target}")
    if open_it:
        import webbrowser

        webbrowser.open(target.resolve().as_uri())


@app.command("list")
@handles_errors
def evidence_list(
    case: str | None = typer.Option(None, "--case", help="Only runs of this case."),
    since: str | None = typer.Option(None, "--since", help="An ISO date or an age (7d, 12h)."),
    limit: int = typer.Option(50, help="At most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """List runs in the evidence store, newest first."""
    from agent.cli.present import run_dict, runs_table
    from evidence.ids import parse_since

    with open_aijia(config) as aijia:
        store = aijia.store
        runs = store.list_runs(
            case_id=case, since=parse_since(since) if since else None, limit=limit
        )
        sealed = {r.run_id: store.manifest(r.run_id) is not None for r in runs}
    if as_json:
        print_json([{**run_dict(r), "sealed": sealed[r.run_id]} for r in runs])
        return
    runs_table(runs, sealed)


@app.command("prune")
@handles_errors
def evidence_prune(
    older_than: str = typer.Option(..., "--older-than", help="An age: 180d, 12w, 24h."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be removed."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print the plan (--dry-run) or what was removed as JSON; needs "
        "--yes or --dry-run (nobody answers a prompt).",
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Remove whole finished runs older than an age that no open case or live gate needs."""
    from dataclasses import asdict

    from agent.core.errors import InputError
    from evidence.ids import parse_age

    if as_json and not (yes or dry_run):
        raise InputError(
            "--json cannot ask for confirmation", hint="add --yes (or --dry-run to see the plan)"
        )
    age = parse_age(older_than)
    reason = f"aijia evidence prune --older-than {older_than}"
    out = console()
    with open_aijia(config) as aijia:
        store = aijia.store
        plan = store.prune(age, dry_run=True)
        if as_json:  # the plan, or (--yes) what was removed
            done = plan if dry_run or not plan.pruned else store.prune(age, reason=reason)
            print_json(asdict(done))
            return
        out.print(f"{len(plan.pruned)} run(s) to remove, {len(plan.kept)} old run(s) kept")
        for run_id, why in plan.kept.items():
            out.print(f"  keep {run_id}: {why}")
        if dry_run or not plan.pruned:
            return
        if not yes:
            typer.confirm(f"Remove {len(plan.pruned)} run(s) for good?", abort=True)
        result = store.prune(age, reason=reason)
    out.print(
        f"removed {len(result.pruned)} run(s) and {result.files_removed} file(s) "
        f"({result.bytes_freed:,} bytes); recorded in the prune log"
    )


@app.command("migrate")
@handles_errors
def evidence_migrate(
    to: str = typer.Option(
        ...,
        "--to",
        help="The PostgreSQL database to copy into: postgresql://user@host:5432/db (new and "
        "empty; keep the password in PGPASSWORD or ~/.pgpass).",
    ),
    blobs_to: str | None = typer.Option(
        None,
        "--blobs-to",
        help="s3: also copy the artifact blobs to the bucket of evidence.blobs in config.yaml.",
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue a copy into this database that was interrupted."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """Copy the SQLite evidence store into PostgreSQL (and its blobs to S3), row for row,
    keeping ids, hashes, seals and signatures; then compare both and verify the copy. Holds
    the source's write lock while it works; deletes nothing from the source."""
    from dataclasses import asdict

    from agent.core.errors import InputError
    from agent.core.settings import load_config
    from evidence.migrate import migrate

    if blobs_to not in (None, "s3"):
        raise InputError(f"--blobs-to {blobs_to!r}: the one place blobs can go is s3")
    if not to.startswith(("postgresql://", "postgres://")):
        raise InputError(
            f"--to {to!r} is not a PostgreSQL URL", hint="write postgresql://user@host:5432/db"
        )
    settings = load_config(config)
    with _migration_progress(quiet=as_json) as progress:
        result = migrate(
            settings, to, blobs_to_s3=blobs_to == "s3", resume=resume, progress=progress
        )
    if as_json:
        print_json({**asdict(result), "rows": result.rows, "ok": True})
        return
    out = console()
    for table in result.tables:
        out.print(f"  {table.name}: {table.rows} row(s)", soft_wrap=True)
    out.print(f"copied {result.rows} row(s) in {len(result.tables)} table(s) to {result.target}")
    if result.blobs_to:
        out.print(f"copied {result.blobs} blob(s) to {result.blobs_to}", soft_wrap=True)
    out.print(
        f"row counts and digests match; {result.runs_compared} run root hash(es) match; "
        f"verify on the copy: {result.verified_runs} run(s), {result.verified_events} "
        f"event(s), {result.verified_artifacts} artifact(s): [green]ok[/]"
    )
    keep = (
        f"the root log is now {result.root_log} ({result.root_log_imported} line(s) put there)"
        if (result.root_log or "").startswith("s3://")
        else f"keep the root log at {result.root_log} (evidence.signing.root_log)"
    )
    out.print(f"next: set evidence.database to it; {keep}", soft_wrap=True)


@contextlib.contextmanager
def _migration_progress(*, quiet: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """A progress bar per table and for the blobs, on stderr (none for --json)."""
    if quiet:
        yield None
        return
    from rich.progress import Progress

    with Progress(console=console(stderr=True), transient=True) as bar:
        tasks: dict[str, Any] = {}

        def show(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total or 1)
            bar.update(tasks[what], completed=done if total else 1)

        yield show
