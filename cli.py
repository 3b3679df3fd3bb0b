"""The `aijia` command line: parse, call agent/ evidence/ sandbox/, print, map errors to exit codes.

No logic lives here. Heavy imports happen inside the commands so that `aijia --help` is fast.
Exit codes: 0 ok, 1 a run failed, 2 invalid recipe/input/config, 3 a run paused at a gate,
4 browser or sandbox unavailable, 5 gate error, 6 policy refused, 7 evidence error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

app = typer.Typer(
    name="aijia",
    help="Aijia: a headless back-office agent for ecommerce support teams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])

ConfigOption = typer.Option(
    None, "--config", "-c", help="config.yaml to use (default: $AIJIA_CONFIG, ./config.yaml)."
)
AsOption = typer.Option(
    None, "--as", help="Act as this user (default: $AIJIA_USER, else the OS user)."
)


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def handles_errors(func: F) -> F:
    """Turn AgentError into a one-paragraph message on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from agent.errors import AgentError

        try:
            return func(*args, **kwargs)
        except AgentError as err:
            _console(stderr=True).print(f"[bold red]error:[/] {err}", markup=True, soft_wrap=True)
            raise typer.Exit(err.exit_code) from None

    return wrapper  # type: ignore[return-value]


# --------------------------------------------------------------------------- doctor


@app.command()
@handles_errors
def doctor(config: Path | None = ConfigOption) -> None:
    """Check Python, Playwright, the browser, the config file and the data dir; suggest fixes."""
    from rich.table import Table

    from agent.doctor import run_checks

    checks = run_checks(config)
    table = Table(title="aijia doctor", show_lines=False)
    table.add_column("check")
    table.add_column("ok")
    table.add_column("detail", overflow="fold")
    for check in checks:
        mark = "[green]yes[/]" if check.ok else "[red]NO[/]"
        detail = check.detail if check.ok else f"{check.detail}\n[yellow]fix:[/] {check.fix}"
        table.add_row(check.name, mark, detail)
    _console().print(table)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


# --------------------------------------------------------------------------- sandbox
# (sandbox sub-commands: owned by the sandbox work; keep them thin)

sandbox_app = typer.Typer(help="The simulated seller centers used by the demo and the tests.")
app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.command("serve")
@handles_errors
def sandbox_serve(
    flavor: str = typer.Option("all", help="all, shoplane, markethub or storefront."),
    host: str | None = typer.Option(None, help="Interface to bind (default: config, 127.0.0.1)."),
    port: int | None = typer.Option(
        None, help="First port; markethub +1, storefront +2 (default: config, 8700)."
    ),
    seed: int | None = typer.Option(None, help="Seed of the demo data (default: config)."),
    db: Path | None = typer.Option(
        None, help="SQLite file (default: <data_dir>/sandbox/sandbox.db)."
    ),
    fault: list[str] = typer.Option(
        [],
        "--fault",
        help="NAME=VALUE, repeatable: latency=300, error_rate=0.2, commit_error_rate=0.5, "
        "session_ttl=60, maintenance=true, layout=v2, challenge=true.",
    ),
    token: str | None = typer.Option(
        None, help="X-Sandbox-Token for /__sandbox (default: random)."
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Serve the seller centers on 127.0.0.1 and print URLs and logins; Ctrl-C stops."""
    from agent.config import load_config
    from agent.errors import SandboxError
    from sandbox.faults import parse_fault_flags
    from sandbox.server import Running, ServeOptions, parse_flavors, serve, startup_lines

    settings = load_config(config)
    try:
        faults = parse_fault_flags(fault)
    except ValueError as exc:
        raise SandboxError(str(exc), hint="see `aijia sandbox serve --help`") from None
    options = ServeOptions(
        flavors=parse_flavors(flavor),
        host=host or settings.sandbox.host,
        port=settings.sandbox.port if port is None else port,
        db_path=db or settings.data_dir / "sandbox" / "sandbox.db",
        seed=settings.sandbox.seed if seed is None else seed,
        count=settings.sandbox.orders_per_flavor,
        token=token,
        faults=faults,
    )
    console = _console()

    def ready(running: Running) -> None:
        for line in startup_lines(running):
            console.print(line, markup=False, soft_wrap=True)

    serve(options, ready)
    console.print("sandbox stopped", markup=False)


@sandbox_app.command("orders")
@handles_errors
def sandbox_orders(
    flavor: str = typer.Option("shoplane", help="shoplane, markethub or storefront."),
    case: str | None = typer.Option(None, help="delivered, delayed, lost, unpaid … (see --cases)."),
    limit: int | None = typer.Option(None, help="At most this many orders."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table."),
    cases: bool = typer.Option(False, "--cases", help="List the cases and exit."),
    seed: int | None = typer.Option(None, help="Seed of the demo data (default: config)."),
    config: Path | None = ConfigOption,
) -> None:
    """List seeded sandbox orders by case, so recipes and tests can pick one."""
    import json

    from agent.config import load_config
    from agent.errors import InputError
    from sandbox.fixtures import CASES, find_orders

    console = _console()
    if cases:
        for name, text in CASES.items():
            console.print(f"{name:20} {text}", markup=False)
        return
    settings = load_config(config)
    try:
        found = find_orders(
            flavor,
            case,
            limit=limit,
            seed=settings.sandbox.seed if seed is None else seed,
            count=settings.sandbox.orders_per_flavor,
        )
    except ValueError as exc:
        raise InputError(str(exc), hint="`aijia sandbox orders --cases` lists the cases") from None
    if as_json:
        for order in found:
            print(json.dumps(order.to_dict(), ensure_ascii=False))
        return
    from rich.table import Table

    table = Table(title=f"{flavor} orders" + (f" ({case})" if case else ""))
    for column in ("order id", "status", "total", "refundable", "buyer", "url path"):
        table.add_column(column, no_wrap=column in ("order id", "url path"))
    for order in found:
        table.add_row(
            order.order_id,
            order.status,
            order.total_display,
            order.refundable_display,
            order.buyer_name,
            order.url_path,
        )
    console.print(table)


# --------------------------------------------------------------------------- recipes / run

recipes_app = typer.Typer(help="Declarative recipes: list, show, validate, JSON Schema.")
app.add_typer(recipes_app, name="recipes")

SiteOption = typer.Option(None, "--site", "-s", help="Site flavor folder under recipes/.")


@recipes_app.command("list")
@handles_errors
def recipes_list(site: str | None = SiteOption) -> None:
    """List the recipes under recipes/ (or $AIJIA_RECIPES) with their inputs and gate."""
    from rich.table import Table

    from agent.errors import RecipeError
    from agent.recipe import list_recipes, load_recipe

    table = Table(title="recipes")
    for column in ("site", "name", "version", "inputs", "gate", "description"):
        table.add_column(column, overflow="fold")
    for path in list_recipes():
        if site and path.parent.name != site:
            continue
        try:
            recipe = load_recipe(path)
        except RecipeError as err:
            table.add_row(
                path.parent.name,
                path.stem,
                "",
                "",
                "",
                f"[red]invalid[/] ({len(err.problems)} problems)",
            )
            continue
        gate = recipe.gate_index()
        action = recipe.steps[gate].params.action if gate is not None else ""
        table.add_row(
            path.parent.name,
            recipe.name,
            recipe.version,
            ", ".join(recipe.inputs),
            action,
            recipe.description,
        )
    _console().print(table)


@recipes_app.command("show")
@handles_errors
def recipes_show(name: str, site: str | None = SiteOption) -> None:
    """Show one recipe: inputs, steps with their phase (prepare / gate / commit), outputs."""
    from rich.table import Table

    from agent.recipe import find_recipe, load_recipe, outline

    recipe = load_recipe(find_recipe(name, site))
    console = _console()
    console.print(f"[bold]{recipe.name}[/] v{recipe.version}  ({recipe.source})")
    if recipe.description:
        console.print(recipe.description)
    if recipe.session:
        console.print(f"session: reuses the login of recipe [bold]{recipe.session}[/]")
    inputs = Table(title="inputs")
    for column in ("name", "type", "required", "rule", "description"):
        inputs.add_column(column, overflow="fold")
    for key, spec in recipe.inputs.items():
        rule = spec.model_dump(
            by_alias=True, exclude_none=True, exclude={"type", "description", "required"}
        )
        inputs.add_row(
            key, spec.type, "yes" if spec.is_required else "no", str(rule or ""), spec.description
        )
    console.print(inputs)
    steps = Table(title="steps")
    for column in ("#", "phase", "step", "what"):
        steps.add_column(column, overflow="fold")
    for number, phase, kind, summary in outline(recipe):
        steps.add_row(number, phase, kind, summary, style="yellow" if phase == "gate" else None)
    console.print(steps)
    if recipe.outputs:
        console.print("outputs: " + ", ".join(recipe.outputs))


@recipes_app.command("validate")
@handles_errors
def recipes_validate(
    paths: list[Path] = typer.Argument(None, help="Files or folders (default: all recipes)."),
) -> None:
    """Check recipes without starting a browser; print every problem; exit 2 if any."""
    from agent.recipe import list_recipes, recipes_root, validate_paths

    targets = paths or [recipes_root()]
    problems = validate_paths(targets)
    console = _console(stderr=bool(problems))
    for problem in problems:
        console.print(problem.render(), markup=False, soft_wrap=True)
        console.print()
    if problems:
        console.print(f"[bold red]{len(problems)} problem(s)[/]")
        raise typer.Exit(2)
    count = sum(len(list_recipes(p)) if p.is_dir() else 1 for p in targets)
    _console().print(f"[green]ok[/]: {count} recipe(s) valid")


@recipes_app.command("steps")
@handles_errors
def recipes_steps(
    name: str | None = typer.Argument(None, help="One step kind, e.g. extract."),
) -> None:
    """The step kinds a recipe can use: what each does, its fields and an example."""
    from rich.table import Table

    from agent.steps import step_reference

    steps = step_reference()
    if name is not None:
        steps = [s for s in steps if s["key"] == name]
        if not steps:
            _console(stderr=True).print(f"[red]no step kind {name!r}[/]")
            raise typer.Exit(2)
    console = _console()
    if name is None:
        table = Table(title="step kinds (effect: read / stage / act / control / gate)")
        for column in ("step", "family", "effect", "what it does"):
            table.add_column(column, overflow="fold")
        for step in steps:
            table.add_row(step["key"], step["family"], step["effect"], step["summary"])
        console.print(table)
        console.print("`aijia recipes steps NAME` shows a step's fields and an example.")
        return
    step = steps[0]
    console.print(f"[bold]{step['key']}[/] ({step['family']}, effect {step['effect']})")
    console.print(step["summary"])
    fields = Table(show_header=True)
    fields.add_column("field")
    fields.add_column("meaning", overflow="fold")
    for field, meaning in step["params"]:
        fields.add_row(field, meaning)
    console.print(fields)
    console.print("Every step also takes: name, timeout (s), retries, when, safe, mutates.")
    if step["example"]:
        console.print("\nexample:\n" + step["example"], markup=False)


@recipes_app.command("schema")
@handles_errors
def recipes_schema(
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here, not stdout."),
) -> None:
    """Print (or write) the recipe JSON Schema, for editor completion and validation."""
    import json

    from agent.recipe import recipe_schema

    text = json.dumps(recipe_schema(), indent=2, sort_keys=False)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        _console().print(f"wrote {output}")


InputOption = typer.Option(
    None, "--input", "-i", help="An input as key=value; repeat for several inputs."
)


@app.command("run")
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
    as_user: str | None = AsOption,
    config: Path | None = ConfigOption,
) -> None:
    """Run a recipe once, or once per row of an inputs file, and show what happened.

    Exit codes: 0 all done, 1 a run failed, 2 invalid recipe or input, 3 a run paused at a gate.
    """
    import asyncio

    from agent.batch import check_rows, overall_exit_code
    from agent.config import load_config
    from agent.errors import InputError
    from agent.policy import Policy, current_user
    from agent.recipe import find_recipe, load_recipe
    from agent.rows import parse_pairs, read_rows

    settings = load_config(config)
    recipe_obj = load_recipe(find_recipe(recipe, _flavor_of(settings, site)))
    user = current_user(as_user)
    Policy(settings.policy).check_may_run(user, recipe_obj.name)
    pairs = parse_pairs(inputs or [])
    if inputs_file is not None:
        rows = [{**row, **pairs} for row in read_rows(inputs_file)]
        if not rows:
            raise InputError(f"inputs file {inputs_file} has no rows")
    else:
        rows = [pairs]
    problems = check_rows(recipe_obj, rows, numbered=inputs_file is not None)
    if problems:
        shown = "\n".join(str(p) for p in problems[:20])
        more = f"\n… and {len(problems) - 20} more rows" if len(problems) > 20 else ""
        raise InputError(
            f"{len(problems)} of {len(rows)} rows are invalid; nothing was run:\n{shown}{more}"
        )
    results = asyncio.run(
        _run_rows(
            recipe_obj,
            rows,
            settings,
            site,
            concurrency,
            dry_run,
            headed,
            case,
            as_json,
            user,
            (ask, channel),
        )
    )
    if as_json:
        _print_run_lines(results)
    else:
        _print_run_summary(results, settings)
    code = overall_exit_code(results)
    if code:
        raise typer.Exit(code)


def _flavor_of(settings: Any, site: str | None) -> str | None:
    if site is None:
        return None
    if site not in settings.sites:
        from agent.errors import ConfigError

        known = ", ".join(settings.sites) or "none"
        raise ConfigError(f"no site {site!r} in config.yaml", hint=f"known sites: {known}")
    return str(settings.sites[site].flavor or site)


async def _run_rows(
    recipe: Any,
    rows: list[dict[str, Any]],
    settings: Any,
    site: str | None,
    concurrency: int,
    dry_run: bool,
    headed: bool,
    case: str | None,
    quiet: bool,
    user: str,
    case_ask: tuple[str | None, str] = (None, "email"),
) -> list[Any]:
    from agent.gates import GateRecorder, auto_approve
    from agent.runner import run_batch, run_recipe
    from evidence.store import EvidenceStore

    with EvidenceStore.open(settings) as opened:
        ask, channel = case_ask
        if case and ask:
            opened.open_case(case, channel=channel, ask=ask)
        # records who started each run, and each gate with what policy requires
        recorder = GateRecorder(opened, settings, user)
        store = recorder.sink
        if len(rows) == 1:
            return [
                await auto_approve(
                    await run_recipe(
                        recipe,
                        rows[0],
                        settings=settings,
                        store=store,
                        dry_run=dry_run,
                        headed=headed,
                        site=site,
                        case_id=case,
                    ),
                    recipe,
                    recorder,
                )
            ]
        progress = None if quiet else _batch_progress(len(rows))
        try:
            results = await run_batch(
                recipe,
                rows,
                settings=settings,
                store=store,
                concurrency=concurrency,
                progress_callback=progress.advance if progress else None,
                dry_run=dry_run,
                headed=headed,
                site=site,
                case_id=case,
            )
        finally:
            if progress:
                progress.stop()
        return [await auto_approve(r, recipe, recorder) for r in results]


class _BatchProgress:
    """A rich progress bar on stderr that counts done / paused / failed as rows finish."""

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
            console=_console(stderr=True),
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

    def advance(self, result: Any) -> None:
        key = result.state.value if result.state.value in self.counts else "failed"
        self.counts[key] += 1
        self.bar.update(self.task, advance=1, description=self._text())

    def stop(self) -> None:
        self.bar.stop()


def _batch_progress(total: int) -> _BatchProgress:
    return _BatchProgress(total)


def _print_run_lines(results: list[Any]) -> None:
    import json

    from agent.batch import result_json

    for result in results:
        typer.echo(json.dumps(result_json(result), ensure_ascii=False, default=str))


def _print_run_summary(results: list[Any], settings: Any) -> None:
    import json

    from rich.table import Table

    from agent.batch import summary_counts

    console = _console()
    if len(results) == 1:
        result = results[0]
        if result.outputs:
            console.print_json(json.dumps(result.outputs, ensure_ascii=False, default=str))
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
            detail,
        )
    console.print(table)
    counts = ", ".join(f"{n} {state}" for state, n in summary_counts(results).items())
    console.print(f"{len(results)} runs: {counts}")
    console.print(f"evidence: {settings.data_dir / 'evidence'}  (aijia evidence show RUN)")
    for result in results:
        if result.error and len(results) == 1:
            console.print(f"[red]error:[/] {result.error}", soft_wrap=True)


# --------------------------------------------------------------------------- evidence

evidence_app = typer.Typer(
    help="The evidence store: verify, export, show and prune what runs recorded.",
    no_args_is_help=True,
)
app.add_typer(evidence_app, name="evidence")


def _store(config: Path | None) -> Any:
    from agent.config import load_config
    from evidence.store import EvidenceStore

    return EvidenceStore.open(load_config(config))


def _print_json(value: Any) -> None:
    import json

    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _run_dict(run: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {**asdict(run), "state": run.state.value}


@evidence_app.command("verify")
@handles_errors
def evidence_verify(
    runs: list[str] | None = typer.Argument(None, help="Run ids to check (default: all)."),
    all_runs: bool = typer.Option(False, "--all", help="Check every run in the store."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """Recompute hash chains, artifact hashes and manifests; exit 1 naming the first break."""
    from dataclasses import asdict

    with _store(config) as store:
        report = store.verify(None if all_runs or not runs else runs)
    if as_json:
        _print_json({**asdict(report), "ok": report.ok})
    else:
        console = _console()
        for found in report.breaks:
            console.print(f"[bold red]BROKEN[/] {found}", soft_wrap=True)
        status = "[green]ok[/]" if report.ok else f"[red]{len(report.breaks)} broken[/]"
        console.print(
            f"{report.runs_checked} run(s), {report.events_checked} event(s), "
            f"{report.artifacts_checked} artifact(s) checked: {status}"
        )
        if report.unsealed:
            console.print(f"[yellow]not sealed since the last manifest:[/] {len(report.unsealed)}")
    if not report.ok:
        raise typer.Exit(1)


@evidence_app.command("export")
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
    config: Path | None = ConfigOption,
) -> None:
    """Write a zip anyone can verify offline: manifest, report, action log, screenshots, DOM."""
    from evidence.bundle import export_bundle, resolve_runs
    from evidence.profiles import get_profile

    profile = (
        get_profile(platform, max_file_mb=max_file_mb, max_total_mb=max_total_mb)
        if platform
        else None
    )
    with _store(config) as store:
        run_ids = resolve_runs(store, run or [], case)
        result = export_bundle(store, run_ids, output, profile=profile)
    console = _console()
    console.print(f"wrote {result.path} ({result.size:,} bytes, {result.files} files)")
    console.print(f"bundle root hash {result.root_hash}", soft_wrap=True)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}", soft_wrap=True)


@evidence_app.command("show")
@handles_errors
def evidence_show(
    run: str = typer.Argument(..., help="Run id."), config: Path | None = ConfigOption
) -> None:
    """Print a run's timeline and the six questions it answers."""
    from rich.table import Table

    from evidence.timeline import build_timeline

    with _store(config) as store:
        t = build_timeline(store, run)
    console = _console()
    r = t.run
    console.print(
        f"[bold]{r.run_id}[/] {r.recipe} v{r.recipe_version} on {r.site}: {r.state.value}"
    )
    console.print(f"case {r.case_id or '-'}; root hash {t.root_hash or 'not sealed'}")
    questions = Table(show_header=False, box=None)
    for question, entries in t.answers.items():
        answer = "; ".join(e.title for e in entries) or "[dim]nothing recorded[/]"
        questions.add_row(f"[bold]{question}[/]", answer)
    console.print(questions)
    table = Table(title="timeline")
    for column in ("#", "at", "event", "details"):
        table.add_column(column, overflow="fold")
    for e in t.entries:
        details = [e.url] if e.url else []
        details += [f"{k}: {v}" for k, v in e.values.items()]
        if e.screenshot:
            details.append(f"screenshot {e.screenshot.sha256[:12]}")
        table.add_row(str(e.event.seq), e.event.at[11:23], e.title, "\n".join(details))
    console.print(table)


@evidence_app.command("report")
@handles_errors
def evidence_report(
    run: str = typer.Argument(..., help="Run id."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Default: <run>.html."),
    open_it: bool = typer.Option(False, "--open", help="Open it in the default browser."),
    config: Path | None = ConfigOption,
) -> None:
    """Write a self-contained HTML report (screenshots embedded) for one run."""
    from evidence.report import standalone_report

    with _store(config) as store:
        html = standalone_report(store, [run])
    target = output or Path(f"{run}.html")
    target.write_text(html, encoding="utf-8")
    _console().print(f"wrote {target}")
    if open_it:
        import webbrowser

        webbrowser.open(target.resolve().as_uri())


@evidence_app.command("list")
@handles_errors
def evidence_list(
    case: str | None = typer.Option(None, "--case", help="Only runs of this case."),
    since: str | None = typer.Option(None, "--since", help="An ISO date or an age (7d, 12h)."),
    limit: int = typer.Option(50, help="At most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """List runs in the evidence store, newest first."""
    from evidence.ids import parse_since

    with _store(config) as store:
        runs = store.list_runs(
            case_id=case, since=parse_since(since) if since else None, limit=limit
        )
        sealed = {r.run_id: store.manifest(r.run_id) is not None for r in runs}
    if as_json:
        _print_json([{**_run_dict(r), "sealed": sealed[r.run_id]} for r in runs])
        return
    _runs_table(runs, sealed)


def _runs_table(runs: list[Any], sealed: dict[str, bool] | None = None) -> None:
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
            f"{r.recipe} @ {r.site}",
            r.case_id or "",
        )
    _console().print(table)


@evidence_app.command("prune")
@handles_errors
def evidence_prune(
    older_than: str = typer.Option(..., "--older-than", help="An age: 180d, 12w, 24h."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be removed."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    config: Path | None = ConfigOption,
) -> None:
    """Remove whole finished runs older than an age that no open case or live gate needs."""
    from evidence.ids import parse_age

    age = parse_age(older_than)
    with _store(config) as store:
        plan = store.prune(age, dry_run=True)
        console = _console()
        console.print(f"{len(plan.pruned)} run(s) to remove, {len(plan.kept)} old run(s) kept")
        for run_id, why in plan.kept.items():
            console.print(f"  keep {run_id}: {why}")
        if dry_run or not plan.pruned:
            return
        if not yes:
            typer.confirm(f"Remove {len(plan.pruned)} run(s) for good?", abort=True)
        result = store.prune(age, reason=f"aijia evidence prune --older-than {older_than}")
    console.print(
        f"removed {len(result.pruned)} run(s) and {result.files_removed} file(s) "
        f"({result.bytes_freed:,} bytes); recorded in the prune log"
    )


# --------------------------------------------------------------------------- runs
# (read from the evidence store; the runner may add run/resume/reconcile commands here)

runs_app = typer.Typer(help="Runs recorded in the evidence store.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


@runs_app.command("list")
@handles_errors
def runs_list(
    status: str | None = typer.Option(None, "--status", help="Only runs in this state."),
    case: str | None = typer.Option(None, "--case", help="Only runs of this case."),
    limit: int = typer.Option(50, help="At most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """List runs, newest first."""
    from agent.errors import InputError
    from agent.states import RunState

    if status is not None and status not in {s.value for s in RunState}:
        raise InputError(
            f"unknown run state {status!r}",
            hint=f"use one of: {', '.join(s.value for s in RunState)}",
        )
    with _store(config) as store:
        runs = store.list_runs(state=status, case_id=case, limit=limit)
    if as_json:
        _print_json([_run_dict(r) for r in runs])
    else:
        _runs_table(runs)


@runs_app.command("show")
@handles_errors
def runs_show(
    run: str = typer.Argument(..., help="Run id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """Show one run: state, inputs, outputs, error, gates and approvals."""
    from dataclasses import asdict

    from rich.table import Table

    with _store(config) as store:
        record = store.get_run(run)
        gates = store.list_gates(run_id=run)
        approvals = {g.gate_id: store.approvals(g.gate_id) for g in gates}
        events = len(store.events(run))
    if as_json:
        _print_json(
            {
                **_run_dict(record),
                "events": events,
                "gates": [
                    {**asdict(g), "approvals": [asdict(a) for a in approvals[g.gate_id]]}
                    for g in gates
                ],
            }
        )
        return
    table = Table(show_header=False)
    for key, value in _run_dict(record).items():
        table.add_row(key, "" if value is None else str(value))
    table.add_row("events", str(events))
    for g in gates:
        decided = ", ".join(f"{a.decision} by {a.approver}" for a in approvals[g.gate_id])
        table.add_row(f"gate {g.gate_id}", f"{g.action}: {g.summary} [{g.state}] {decided}")
    _console().print(table)


@runs_app.command("reconcile")
@handles_errors
def runs_reconcile(
    run: str = typer.Argument(..., help="Run id (in_doubt, or committing in a process that died)."),
    as_user: str | None = AsOption,
    config: Path | None = ConfigOption,
) -> None:
    """Settle a run whose commit may or may not have happened, by reading the back office
    with the recipe's `reconcile` steps: done when it happened, else back to approved (then
    `aijia resume RUN`). Never retries the action."""
    import asyncio

    from agent.config import load_config
    from agent.gates import reconcile
    from agent.policy import current_user
    from evidence.store import EvidenceStore

    settings = load_config(config)
    with EvidenceStore.open(settings) as store:
        outcome = asyncio.run(
            reconcile(run, user=current_user(as_user), settings=settings, store=store)
        )
    console = _console()
    console.print(f"run {run}: [bold]{outcome.state.value}[/] — {outcome.reason}")
    if outcome.state.value == "approved":
        console.print(f"  the approval still holds: `aijia resume {run}` commits it once")


# --------------------------------------------------------------------------- gates
# Reviewers: list and show pending gates, approve or reject them, resume approved runs.

gates_app = typer.Typer(help="Permission gates waiting for a human decision.", no_args_is_help=True)
app.add_typer(gates_app, name="gates")


def _age(iso: str) -> str:
    """How long ago `iso` was: 5m, 3h07m, 2d; '-' first when it is in the future."""
    from datetime import UTC, datetime

    delta = datetime.now(UTC) - datetime.fromisoformat(iso.replace("Z", "+00:00"))
    sign, seconds = (
        ("-", -delta.total_seconds()) if delta.total_seconds() < 0 else ("", delta.total_seconds())
    )
    minutes = int(seconds // 60)
    if minutes >= 24 * 60:
        return f"{sign}{minutes // (24 * 60)}d"
    if minutes >= 60:
        return f"{sign}{minutes // 60}h{minutes % 60:02d}m"
    return f"{sign}{minutes}m"


def _gate_dict(view: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {
        **asdict(view.gate),
        "run_state": view.run.state.value,
        "recipe": view.run.recipe,
        "site": view.run.site,
        "initiator": view.initiator,
        "requires": view.needs.describe(),
        "policy": view.needs.why,
        "approvers": view.approvers,
        "approved_by": view.approved_by,
        "drift": view.drift,
    }


@gates_app.command("list")
@handles_errors
def gates_list(
    mine: bool = typer.Option(False, "--mine", help="Only gates you may approve."),
    action: str | None = typer.Option(None, "--action", help="Only gates of this action."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    as_user: str | None = AsOption,
    config: Path | None = ConfigOption,
) -> None:
    """Pending gates, oldest first: age, action, amount, who asked, who may approve."""
    from rich.table import Table

    from agent.approvals import gate_view
    from agent.config import load_config
    from agent.policy import Policy, current_user
    from evidence.store import EvidenceStore

    settings = load_config(config)
    policy, user = Policy(settings.policy), current_user(as_user)
    with EvidenceStore.open(settings) as store:
        views = [gate_view(store, policy, g.gate_id) for g in store.list_gates(state="pending")]
    views = [v for v in views if action is None or v.gate.action == action]
    if mine:
        views = [v for v in views if user in v.approvers and user not in v.approved_by]
    if as_json:
        _print_json([_gate_dict(v) for v in views])
        return
    table = Table(title=f"pending gates ({len(views)})")
    for column in ("gate", "age", "action", "amount", "asked by", "may approve", "summary"):
        table.add_column(column, overflow="fold", no_wrap=column == "gate")
    for v in views:
        amount = f"{v.needs.amount} {v.needs.currency or ''}" if v.needs.amount is not None else ""
        got = f" ({len(v.approved_by)}/{v.needs.approvals})" if v.needs.approvals > 1 else ""
        expired = v.gate.expires_at is not None and _age(v.gate.expires_at)[0] != "-"
        table.add_row(
            v.gate.gate_id,
            _age(v.gate.created_at) + (" [red](expired)[/]" if expired else ""),
            v.gate.action,
            amount,
            v.initiator or "?",
            ", ".join(v.approvers) + got,
            v.gate.summary,
        )
    _console().print(table)


@gates_app.command("show")
@handles_errors
def gates_show(
    gate: str = typer.Argument(..., help="Gate id (g-…)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """One gate: bound values, summary, screenshots, drift since the last approval, policy."""
    from rich.table import Table

    from agent.approvals import gate_view
    from agent.config import load_config
    from agent.policy import Policy
    from evidence.store import EvidenceStore

    settings = load_config(config)
    with EvidenceStore.open(settings) as store:
        view = gate_view(store, Policy(settings.policy), gate)
        refs = [store.artifact(sha) for e in store.events(view.gate.run_id) for sha in e.artifacts]
        shots = list(
            dict.fromkeys(str(store.root / a.path) for a in refs if a.kind == "screenshot")
        )
    data = {**_gate_dict(view), "screenshots": shots}
    if as_json:
        _print_json(data)
        return
    table = Table(show_header=False, title=f"gate {view.gate.gate_id}")
    table.add_column("what", no_wrap=True)
    table.add_column("value", overflow="fold")
    rows = [
        ("summary", view.gate.summary),
        ("action", view.gate.action),
        ("state", f"{view.gate.state} (run {view.run.run_id}: {view.run.state.value})"),
        ("recipe", f"{view.run.recipe} on {view.run.site}"),
        ("asked by", view.initiator or "?"),
        ("created", view.gate.created_at),
        ("expires", view.gate.expires_at or "never"),
        ("requires", view.needs.describe()),
        ("policy", "; ".join(view.needs.why) or "default: one approver"),
        ("may approve", ", ".join(view.approvers) or "nobody listed"),
        ("approved by", ", ".join(view.approved_by) or "-"),
        ("bind hash", view.gate.bind_hash),
    ]
    rows += [(f"bind {k}", str(v)) for k, v in view.gate.binds.items()]
    rows += [
        (f"drift {k}", f"approved {d.get('approved')!r} -> now {d.get('now')!r}")
        for k, d in view.drift.items()
    ]
    rows += [("screenshot", s) for s in shots]
    for key, value in rows:
        table.add_row(key, value)
    _console().print(table)


@app.command("approve")
@handles_errors
def approve(
    gate: str = typer.Argument(..., help="Gate id (g-…), from `aijia gates list`."),
    note: str = typer.Option("", "--note", help="Why; kept in the evidence."),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Do not ask to type the bound value (needed without a TTY)."
    ),
    no_resume: bool = typer.Option(
        False, "--no-resume", help="Only approve; a worker or `aijia resume RUN` commits later."
    ),
    as_user: str | None = AsOption,
    config: Path | None = ConfigOption,
) -> None:
    """Approve the exact bound action of a gate; then resume the run and commit it once.

    Exit codes: 0 approved (and committed), 3 re-gated after drift, 5 gate refused (used,
    expired, …), 6 policy refused (self-approval, role, unknown user).
    """
    import asyncio
    import sys

    from agent.approvals import approve_gate, gate_view
    from agent.config import load_config
    from agent.errors import GateError
    from agent.gates import resume_approved
    from agent.policy import Policy, current_user
    from evidence.store import EvidenceStore

    settings = load_config(config)
    policy, user = Policy(settings.policy), current_user(as_user)
    console = _console()
    with EvidenceStore.open(settings) as store:
        if not yes:
            view = gate_view(store, policy, gate)
            key, expected = view.confirm_key
            if not sys.stdin.isatty():
                raise GateError(
                    f"approving gate {gate} needs a confirmation: no terminal to ask on",
                    hint="run it in a terminal, or pass --yes when you have checked the gate",
                )
            console.print(f"[bold]{view.gate.summary}[/]  ({view.needs.describe()})")
            for k, v in view.gate.binds.items():
                console.print(f"  {k}: {v}", markup=False)
            typed = typer.prompt(f"Type the {key} to approve")
            if typed.strip() != expected:
                raise GateError(
                    f"typed {typed.strip()!r}, expected the {key} {expected!r}; not approved",
                    hint="check `aijia gates show` and try again",
                )
        decision = approve_gate(store, policy, gate, user=user, note=note)
        if not decision.complete:
            console.print(
                f"approved by {user}: {decision.approvals} of {decision.needed} approvals; "
                "waiting for another approver"
            )
            return
        console.print(f"gate {gate} approved by {user}; run {decision.run_id} is approved")
        if no_resume:
            console.print(f"  not resumed: `aijia resume {decision.run_id}` commits it once")
            return
        result = asyncio.run(
            resume_approved(decision.run_id, user=user, settings=settings, store=store)
        )
    _print_resumed(result)


def _print_resumed(result: Any) -> None:
    import json

    console = _console()
    state = result.state.value
    console.print(f"run {result.run_id}: [bold]{state}[/] in {result.duration_s:.1f}s")
    if result.outputs:
        console.print_json(json.dumps(result.outputs, ensure_ascii=False, default=str))
    if result.gate is not None and state == "paused":
        console.print(f"[yellow]{result.error}[/]; new gate {result.gate.gate_id}", soft_wrap=True)
    elif result.error:
        console.print(f"[red]error:[/] {result.error}", soft_wrap=True)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


@app.command("reject")
@handles_errors
def reject(
    gate: str = typer.Argument(..., help="Gate id (g-…)."),
    reason: str = typer.Option(..., "--reason", help="Why; kept in the evidence."),
    as_user: str | None = AsOption,
    config: Path | None = ConfigOption,
) -> None:
    """Reject a gate: the run closes as rejected with its evidence; nothing is committed."""
    from agent.approvals import reject_gate
    from agent.config import load_config
    from agent.policy import Policy, current_user
    from evidence.store import EvidenceStore

    settings = load_config(config)
    user = current_user(as_user)
    with EvidenceStore.open(settings) as store:
        decision = reject_gate(store, Policy(settings.policy), gate, user=user, reason=reason)
    _console().print(f"gate {gate} rejected by {user}; run {decision.run_id} is rejected")


@app.command("resume")
@handles_errors
def resume(
    run: str = typer.Argument(..., help="Run id of an approved run."),
    as_user: str | None = AsOption,
    config: Path | None = ConfigOption,
) -> None:
    """Commit an approved run once: prepare again, re-check the bound values, commit.

    Exit codes: 0 done, 1 failed, 3 re-gated after drift, 5 not resumable (not approved,
    expired, in doubt).
    """
    import asyncio

    from agent.config import load_config
    from agent.gates import resume_approved
    from agent.policy import current_user
    from evidence.store import EvidenceStore

    settings = load_config(config)
    with EvidenceStore.open(settings) as store:
        result = asyncio.run(
            resume_approved(run, user=current_user(as_user), settings=settings, store=store)
        )
    _print_resumed(result)


# --------------------------------------------------------------------------- demo


@app.command()
@handles_errors
def demo(
    config: Path | None = ConfigOption,
    headed: bool = typer.Option(False, "--headed", help="Show the browser window."),
) -> None:
    """Start the sandbox seller centers and run the main job: look up an order, prepare a
    refund that stops at a permission gate, approve it as the seeded reviewer, commit it once,
    and show the refund in the sandbox ledger and where the evidence is."""
    import asyncio
    import json

    from agent.approvals import approve_gate, gate_view
    from agent.config import load_config
    from agent.demo import demo_sandbox, pick_demo_order
    from agent.gates import resume_approved, start_run
    from agent.policy import Policy
    from agent.recipe import find_recipe, load_recipe
    from evidence.store import EvidenceStore

    console = _console()
    settings = load_config(config)
    console.print("[bold]Aijia demo[/] — starting the sandbox seller centers …")
    with demo_sandbox(settings) as server:
        for flavor, url in server.base_urls.items():
            console.print(f"  {settings.sites[flavor].title or flavor}: {url}")
        pick = pick_demo_order(server)
        order = pick.order
        console.print(
            f"\nOrder [bold]{order.order_id}[/] on ShopLane: {order.status}, total "
            f"{order.total_display}, refundable {order.refundable_display}"
        )
        lookup = load_recipe(find_recipe("lookup_order", pick.flavor))
        refund = load_recipe(find_recipe("prepare_refund", pick.flavor))
        with EvidenceStore.open(settings) as store:
            case = f"DEMO-{order.order_id}"
            store.open_case(case, channel="whatsapp", ask=pick.customer_ask)
            console.print(f'\nCase {case} (whatsapp): "{pick.customer_ask}"')
            console.print("\n[bold]1. lookup_order[/] — reading the order in real Chromium …")
            found = asyncio.run(
                start_run(
                    lookup,
                    {"order_id": order.order_id},
                    user="lead",  # the seeded support lead (config.yaml policy.users)
                    settings=settings,
                    store=store,
                    headed=headed,
                    case_id=case,
                )
            )
            if found.error:
                console.print(f"[red]lookup_order failed:[/] {found.error}")
                raise typer.Exit(found.exit_code)
            console.print_json(json.dumps(found.outputs, ensure_ascii=False, default=str))
            console.print(f"   run {found.run_id}: {found.state.value} in {found.duration_s:.1f}s")
            inputs = {
                "order_id": order.order_id,
                "amount": pick.refund_amount,
                "reason": pick.reason,
            }
            console.print(
                f"\n[bold]2. prepare_refund[/] — refund {pick.refund_amount} {order.currency} "
                f"({pick.reason}); it must stop at the permission gate …"
            )
            prepared = asyncio.run(
                start_run(
                    refund,
                    inputs,
                    user="lead",
                    settings=settings,
                    store=store,
                    headed=headed,
                    case_id=case,
                )
            )
            if prepared.gate is None or prepared.gate.gate_id is None:
                console.print(f"[red]prepare_refund did not reach its gate:[/] {prepared.error}")
                raise typer.Exit(prepared.exit_code or 1)
            console.print(
                f"   run {prepared.run_id}: [yellow]{prepared.state.value}[/] at the gate"
            )
            console.print(f"   gate: {prepared.gate.summary}")
            console.print(f"   binds: {json.dumps(prepared.gate.binds, ensure_ascii=False)}")
            refunds = server.ledger(pick.flavor)["refunds"]
            console.print(
                f"   sandbox ledger: {len(refunds)} refunds written by the agent "
                "(none until a reviewer approves)"
            )
            policy = Policy(settings.policy)
            view = gate_view(store, policy, prepared.gate.gate_id)
            console.print(
                f"\n[bold]3. aijia gates list → aijia approve[/] — gate {view.gate.gate_id}, "
                f"asked by {view.initiator}; needs {view.needs.describe()}; "
                f"may approve: {', '.join(view.approvers)}"
            )
            approvers = sorted(view.approvers, key=lambda u: u != "reviewer")
            for approver in approvers[: view.needs.approvals]:
                decision = approve_gate(
                    store, policy, view.gate.gate_id, user=approver, note="aijia demo"
                )
                console.print(f"   approved by {approver} ({decision.approvals}/{decision.needed})")
            done = asyncio.run(
                resume_approved(
                    prepared.run_id or "", user=approvers[0], settings=settings, store=store
                )
            )
            console.print(
                f"   resumed: prepare phase repeated, binds re-verified, committed once → "
                f"run {done.run_id}: [green]{done.state.value}[/] in {done.duration_s:.1f}s"
            )
            if done.error:
                console.print(f"[red]resume failed:[/] {done.error}")
                raise typer.Exit(done.exit_code or 1)
            for row in server.ledger(pick.flavor)["refunds"]:
                console.print(
                    f"   sandbox ledger: refund {row['refund_id']} {row['amount']} "
                    f"{row['currency']} on {row['order_id']} ({row['reason']})"
                )
        evidence_dir = settings.data_dir / "evidence"
        console.print(f"\nEvidence: {evidence_dir}")
        console.print(f"  aijia evidence show {found.run_id}")
        console.print(f"  aijia evidence show {prepared.run_id}")
        console.print(f"  aijia evidence report {prepared.run_id}")
    console.print("Sandbox stopped. `aijia sandbox serve` keeps one running to explore.")


# --------------------------------------------------------------------------- schedule

schedule_app = typer.Typer(
    help="Schedules from config.yaml: list them, run the daemon, trigger one, check status.",
    no_args_is_help=True,
)
app.add_typer(schedule_app, name="schedule")


def _scheduler(config: Path | None, log: Any = None) -> Any:
    from agent.config import load_config
    from agent.scheduler import Scheduler
    from evidence.store import EvidenceStore

    settings = load_config(config)
    store = EvidenceStore.open(settings)
    return Scheduler(settings, store, log=log) if log else Scheduler(settings, store)


def _json_log_line(event: str, **fields: Any) -> None:
    """One structured log line on stderr: {"at": …, "event": …, …}."""
    import json
    import sys
    from datetime import UTC, datetime

    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    line = json.dumps({"at": at, "event": event, **fields}, ensure_ascii=False, default=str)
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _fire_dict(fire: Any) -> dict[str, Any] | None:
    from dataclasses import asdict

    return asdict(fire) if fire is not None else None


def _view_dict(view: Any) -> dict[str, Any]:
    return {
        "name": view.name,
        "enabled": view.enabled,
        "trigger": view.trigger,
        "recipe": view.recipe,
        "next_fire": view.next_fire.isoformat() if view.next_fire else None,
        "last": _fire_dict(view.last),
        "running": _fire_dict(view.open),
        "overdue": view.overdue,
        "problem": view.problem,
    }


@schedule_app.command("list")
@handles_errors
def schedule_list(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    config: Path | None = ConfigOption,
) -> None:
    """Every schedule with its trigger, next fire time and last outcome."""
    from rich.table import Table

    views = _scheduler(config).views()
    if as_json:
        _print_json([_view_dict(v) for v in views])
        return
    table = Table(title="schedules")
    for column in ("name", "trigger", "recipe", "next fire (UTC)", "last outcome"):
        table.add_column(column, overflow="fold")
    for v in views:
        last = v.last
        outcome = (
            f"{last.state} {last.slot}: {last.done} done, {last.failed} failed, "
            f"{last.skipped} skipped"
            if last
            else "never ran"
        )
        if v.open is not None:
            outcome = f"running since {v.open.claimed_at}; before: {outcome}"
        next_fire = v.next_fire.strftime("%Y-%m-%d %H:%M:%S") if v.next_fire else "disabled"
        table.add_row(v.name, v.trigger, v.recipe, next_fire, outcome)
    _console().print(table)


@schedule_app.command("run")
@handles_errors
def schedule_run(config: Path | None = ConfigOption) -> None:
    """Run the scheduler daemon in the foreground; JSON-lines logs on stderr.

    SIGTERM or SIGINT stops it: no new run starts, in-flight runs get scheduler.stop_grace_s
    to finish, then they are marked interrupted (evidence kept) and finished by the next daemon.
    Exit 8 when another daemon already runs on the same evidence store.
    """
    import asyncio
    import signal

    scheduler = _scheduler(config, log=_json_log_line)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await scheduler.serve(stop)

    asyncio.run(serve())


@schedule_app.command("trigger")
@handles_errors
def schedule_trigger(
    name: str = typer.Argument(..., help="The schedule to fire once, now."),
    as_json: bool = typer.Option(False, "--json", help="Print the fire as JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """Fire one schedule once, now (a manual slot); exit 1 unless every row ended well."""
    import asyncio

    scheduler = _scheduler(config, log=_json_log_line)
    fire = asyncio.run(scheduler.trigger(name))
    if as_json:
        _print_json(_fire_dict(fire))
    else:
        _console().print(
            f"{fire.schedule} {fire.fire_id}: {fire.state} — {fire.rows} rows, {fire.done} done, "
            f"{fire.failed} failed, {fire.skipped} skipped"
            + (f" ({fire.reason})" if fire.reason else ""),
            markup=False,
        )
    if fire.state != "done":
        raise typer.Exit(1)


@schedule_app.command("status")
@handles_errors
def schedule_status(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of lines."),
    config: Path | None = ConfigOption,
) -> None:
    """For monitoring: exit 1 when an enabled schedule's last fire failed or it is overdue."""
    views = [v for v in _scheduler(config).views() if v.enabled]
    if as_json:
        _print_json([_view_dict(v) for v in views])
    else:
        console = _console()
        for v in views:
            console.print(f"{v.name}: {v.problem or 'ok'}", markup=False)
        if not views:
            console.print("no enabled schedules", markup=False)
    if any(v.problem for v in views):
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - `python cli.py`
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
