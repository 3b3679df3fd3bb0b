"""`aijia recipes …`: list, show, validate, new, record, the step reference, the author's
reference and the JSON Schema.

Nothing here runs a recipe: these read and write recipe files (agent.recipes) and read the step
registry. Every command takes `--config`: the recipes are those of that config's project
(agent/recipes/locate.py), so the commands work from any directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from agent.cli.common import (
    ConfigOption,
    ExitCode,
    SiteAliasOption,
    SiteOption,
    chosen_site,
    console,
    handles_errors,
    open_aijia,
    print_json,
)

if TYPE_CHECKING:
    from agent.core.errors import Problem
    from agent.core.settings import Settings

app = typer.Typer(
    help="Declarative recipes: list, show, validate, new, record, reference, JSON Schema."
)

# `validate` prints this many problems (and counts the rest): a broken or hostile file can
# have thousands, and printing them all takes longer than finding them.
SHOWN_PROBLEMS = 50

# `recipes list` drops the description column below this width (`recipes show` has it)
DESCRIPTION_MIN_WIDTH = 100


@app.command("list")
@handles_errors
def recipes_list(
    site: str | None = SiteOption,
    site_alias: str | None = SiteAliasOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON (a list, one per recipe)."),
    config: Path | None = ConfigOption,
) -> None:
    """List the recipes with their inputs and gate, a table per site.

    The recipes are those next to the config (or of $AIJIA_RECIPES); the description is
    shown on terminals of 100 columns or more."""
    rows = _recipe_rows(chosen_site(site, site_alias), _settings(config))
    if as_json:
        print_json(rows)
        return
    out = console()
    wide = out.width >= DESCRIPTION_MIN_WIDTH
    for name in dict.fromkeys(r["site"] for r in rows):
        out.print(_site_table(name, [r for r in rows if r["site"] == name], wide=wide))
    if not rows:
        out.print("no recipes found (recipes/ or $AIJIA_RECIPES)")
    elif not wide:
        out.print("`aijia recipes show NAME --site SITE` says what a recipe does.")


def _settings(config: Path | None) -> Settings:
    """The settings of `--config` (else $AIJIA_CONFIG, ./config.yaml): where recipes are."""
    from agent.core.settings import load_config

    return load_config(config)


def _recipe_rows(site: str | None, settings: Settings) -> list[dict[str, Any]]:
    """Each recipe file (of `site`) as a JSON-ready row; an invalid one with its problems."""
    from agent.core.errors import RecipeError
    from agent.recipes.model import list_recipes, load_recipe

    rows: list[dict[str, Any]] = []
    for path in list_recipes(settings=settings):
        if site and path.parent.name != site:
            continue
        row: dict[str, Any] = {"site": path.parent.name, "name": path.stem, "path": str(path)}
        try:
            recipe = load_recipe(path)
        except RecipeError as err:
            rows.append({**row, "valid": False, "problems": [p.render() for p in err.problems]})
            continue
        gate = recipe.gate_index()
        rows.append(
            {
                **row,
                "name": recipe.name,
                "version": recipe.version,
                "inputs": list(recipe.inputs),
                "gate": recipe.steps[gate].params.action if gate is not None else None,
                "description": recipe.description,
                "valid": True,
            }
        )
    return rows


def _site_table(site: str, rows: list[dict[str, Any]], *, wide: bool) -> Any:
    """One site's recipes. Names and gate actions never wrap; inputs wrap between names;
    the description (wide terminals only) is its first sentence."""
    from rich import box
    from rich.table import Table

    from agent.cli.present import shown

    table = Table(title=f"[bold]{shown(site)}[/]", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("recipe", no_wrap=True, min_width=max(len(r["name"]) for r in rows))
    table.add_column("gate", no_wrap=True, min_width=max(len(r.get("gate") or "") for r in rows))
    longest = max((len(i) for r in rows for i in r.get("inputs", [])), default=6)
    table.add_column("inputs", min_width=min(longest, 20), overflow="fold")
    if wide:
        table.add_column("description", ratio=1)
    for row in rows:
        cells = [shown(row["name"]), shown(row.get("gate") or "")]
        if row["valid"]:
            cells.append(shown(", ".join(row["inputs"])))
        else:
            cells.append(f"[red]invalid[/] ({len(row['problems'])} problems)")
        if wide:
            cells.append(shown(_first_sentence(row.get("description") or "")))
        table.add_row(*cells)
    return table


def _first_sentence(text: str) -> str:
    """Up to the first '. ', ': ' or '; ' (the rest is in `recipes show`)."""
    import re

    return re.split(r"(?<=[.:;]) ", text, maxsplit=1)[0].rstrip(":;")


@app.command("show")
@handles_errors
def recipes_show(
    name: str = typer.Argument(..., help="Recipe name (or a path to its YAML file)."),
    site: str | None = SiteOption,
    site_alias: str | None = SiteAliasOption,
    config: Path | None = ConfigOption,
    as_json: bool = typer.Option(
        False,
        "--json",
        help='Print JSON: {"name", "site", "version", "source", "description", "session", '
        '"inputs", "steps": [{"number", "phase", "step", "what"}], "outputs"}.',
    ),
) -> None:
    """Show one recipe: inputs, steps with their phase (prepare / gate / commit), outputs."""
    from rich.table import Table

    from agent.recipes.model import find_recipe, load_recipe, outline

    found = find_recipe(name, chosen_site(site, site_alias), settings=_settings(config))
    recipe = load_recipe(found)
    if as_json:
        print_json(
            {
                "name": recipe.name,
                "site": recipe.site,
                "version": recipe.version,
                "source": str(recipe.source),
                "description": recipe.description,
                "session": recipe.session,
                "inputs": {
                    key: spec.model_dump(by_alias=True, exclude_none=True, mode="json")
                    for key, spec in recipe.inputs.items()
                },
                "steps": [
                    {"number": n, "phase": phase, "step": kind, "what": what}
                    for n, phase, kind, what in outline(recipe)
                ],
                "outputs": list(recipe.outputs),
            }
        )
        return
    out = console()
    out.print(f"[bold]{recipe.name}[/] v{recipe.version}  ({recipe.source})")
    if recipe.description:
        out.print(recipe.description)
    if recipe.session:
        out.print(f"session: reuses the login of recipe [bold]{recipe.session}[/]")
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
    out.print(inputs)
    steps = Table(title="steps")
    for column in ("#", "phase", "step", "what"):
        steps.add_column(column, overflow="fold")
    for number, phase, kind, summary in outline(recipe):
        steps.add_row(number, phase, kind, summary, style="yellow" if phase == "gate" else None)
    out.print(steps)
    if recipe.outputs:
        out.print("outputs: " + ", ".join(recipe.outputs))


@app.command("validate")
@handles_errors
def recipes_validate(
    paths: list[Path] = typer.Argument(None, help="Files or folders (default: all recipes)."),
    as_json: bool = typer.Option(
        False, "--json", help='Print JSON: {"ok", "recipes", "problems": [...]}.'
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Check recipes without starting a browser; print every problem; exit 2 if any."""
    from agent.recipes.model import list_recipes, recipes_root, validate_paths

    targets = paths or [recipes_root(_settings(config))]
    problems = validate_paths(targets)
    count = sum(len(list_recipes(p)) if p.is_dir() else 1 for p in targets)
    if as_json:
        print_json({"ok": not problems, "recipes": count, "problems": _problem_dicts(problems)})
        if problems:
            raise typer.Exit(ExitCode.INVALID)
        return
    out = console(stderr=bool(problems))
    for problem in problems[:SHOWN_PROBLEMS]:
        out.print(problem.render(), markup=False, soft_wrap=True)
        out.print()
    if len(problems) > SHOWN_PROBLEMS:
        out.print(f"… and {len(problems) - SHOWN_PROBLEMS} more problem(s) not shown\n")
    if problems:
        out.print(f"[bold red]{len(problems)} problem(s)[/]")
        raise typer.Exit(ExitCode.INVALID)
    console().print(f"[green]ok[/]: {count} recipe(s) valid")


def _problem_dicts(problems: list[Problem]) -> list[dict[str, Any]]:
    """Problems as JSON: where (file, line, column), what, the hint and the offending line."""
    return [
        {
            "file": str(p.location.path) if p.location else None,
            "line": p.location.line if p.location else None,
            "column": p.location.column if p.location else None,
            "message": p.message,
            "hint": p.hint,
            "source_line": p.source_line,
        }
        for p in problems
    ]


@app.command("steps")
@handles_errors
def recipes_steps(
    name: str | None = typer.Argument(None, help="One step kind, e.g. extract."),
    config: Path | None = ConfigOption,
) -> None:
    """The step kinds a recipe can use: what each does, its fields and an example."""
    del config  # accepted like on every `recipes` command; the step kinds are the same anywhere
    from rich.table import Table

    from agent.steps import step_reference

    steps = step_reference()
    if name is not None:
        steps = [s for s in steps if s["key"] == name]
        if not steps:
            console(stderr=True).print(f"[red]no step kind {name!r}[/]")
            raise typer.Exit(ExitCode.INVALID)
    out = console()
    if name is None:
        table = Table(title="step kinds (effect: read / stage / act / control / gate)")
        for column in ("step", "family", "effect", "what it does"):
            table.add_column(column, overflow="fold")
        for step in steps:
            table.add_row(step["key"], step["family"], step["effect"], step["summary"])
        out.print(table)
        out.print("`aijia recipes steps NAME` shows a step's fields and an example.")
        return
    step = steps[0]
    out.print(f"[bold]{step['key']}[/] ({step['family']}, effect {step['effect']})")
    out.print(step["summary"])
    fields = Table(show_header=True)
    fields.add_column("field")
    fields.add_column("meaning", overflow="fold")
    for field, meaning in step["params"]:
        fields.add_row(field, meaning)
    out.print(fields)
    out.print("Every step also takes: name, timeout (s), retries, when, safe, mutates.")
    if step["example"]:
        out.print("\nexample:\n" + step["example"], markup=False)


@app.command("schema")
@handles_errors
def recipes_schema(
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here, not stdout."),
    config: Path | None = ConfigOption,
) -> None:
    """Print (or write) the recipe JSON Schema, for editor completion and validation."""
    del config  # accepted like on every `recipes` command; the schema is the same anywhere
    import json

    from agent.recipes.model import recipe_schema

    text = json.dumps(recipe_schema(), indent=2, sort_keys=False)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        console().print(f"wrote {output}")


KIND_HELP = "What to start from: lookup (reads, no gate), refund or note (a gate before sending)."


@app.command("new")
@handles_errors
def recipes_new(
    site: str = typer.Argument(
        ..., help="Site from config.yaml (its recipe folder gets the file)."
    ),
    name: str = typer.Argument(..., help="Recipe name, snake_case (also the file name)."),
    kind: str = typer.Option("lookup", "--kind", help=KIND_HELP),
    force: bool = typer.Option(False, "--force", help="Overwrite the recipe if it exists."),
    as_json: bool = typer.Option(False, "--json", help='Print JSON: {"path", "written"}.'),
    config: Path | None = ConfigOption,
) -> None:
    """Scaffold a recipe from a template, in the site's recipe folder.

    The file has name, site, inputs, `session: login`, steps with CHANGE ME comments and
    outputs; a refund or note recipe has its gate before the click that sends. It validates as
    written. A folder without a login recipe gets one too."""
    from agent.recipes.model import load_recipe
    from agent.recipes.scaffold import KINDS, new_recipe

    if kind not in KINDS:
        raise typer.BadParameter(f"{kind!r} is not one of {', '.join(KINDS)}", param_hint="--kind")
    written = new_recipe(_settings(config), site, name, kind=kind, force=force)
    load_recipe(written[0])  # the template's promise: a RecipeError here is a bug to report
    _print_written(written, as_json, f"aijia recipes show {written[0]}")


@app.command("record")
@handles_errors
def recipes_record(
    site: str = typer.Argument(
        ..., help="Site from config.yaml (its recipe folder gets the file)."
    ),
    name: str = typer.Argument(..., help="Recipe name, snake_case (also the file name)."),
    url: str = typer.Option("/", "--url", help="Where to start: a path of the site's base_url."),
    from_file: Path | None = typer.Option(
        None,
        "--from",
        help="Translate this recording (the JSONL of `playwright codegen --target jsonl -o "
        "FILE URL`) instead of opening a browser.",
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite the recipe if it exists."),
    as_json: bool = typer.Option(False, "--json", help='Print JSON: {"path", "written"}.'),
    config: Path | None = ConfigOption,
) -> None:
    """Record a recipe in a browser window (or translate a recording with --from FILE).

    The window opens on the site, signed in with the saved session when there is one; do the
    task, then close the window. The actions become a recipe with role/label selectors, typed
    values as inputs, passwords as the site's credential (never written), and a gate before
    the first click that may change something. Needs a display."""
    import asyncio
    import os

    from agent.core.errors import ConfigError, RecipeError
    from agent.recipes.model import load_recipe
    from agent.recipes.recorder import parse_recording, translate
    from agent.recipes.scaffold import check_name, refuse_overwrite, site_folder

    settings = _settings(config)
    check_name(name)
    folder = site_folder(settings, site)
    path = folder / f"{name}.yaml"
    refuse_overwrite(path, force)
    if from_file is not None:
        try:
            actions = parse_recording(from_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"cannot read the recording {from_file}: {exc}",
                hint="pass the file `playwright codegen --target jsonl -o FILE URL` wrote",
            ) from None
    elif not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise ConfigError(
            "recording opens a browser window, and there is no display here "
            "($DISPLAY and $WAYLAND_DISPLAY are unset)",
            hint="record on a desktop (or over ssh -X), or translate a saved recording: "
            f"aijia recipes record {site} {name} --from FILE (FILE from "
            "`playwright codegen --target jsonl -o FILE URL`)",
        )
    else:
        from agent.recipes.recording import record_actions

        console(stderr=True).print("recording: do the task in the browser window, then close it")
        actions = asyncio.run(record_actions(settings, site, url))
    has_login = name != "login" and any((folder / f"login{e}").is_file() for e in (".yaml", ".yml"))
    text = translate(
        actions,
        name=name,
        site=site,
        base_url=settings.sites[site].base_url,
        session="login" if has_login else None,
    )
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    try:
        load_recipe(path)
    except RecipeError as err:
        err.hint = f"{path} was written; fix it there (`aijia recipes validate {path}`)"
        raise
    _print_written([path], as_json, f"aijia recipes show {path}")


@app.command("draft")
@handles_errors
def recipes_draft(
    site: str = typer.Argument(
        ..., help="Site from config.yaml (its recipe folder gets the file)."
    ),
    task: str = typer.Argument(
        ...,
        help='What the recipe does, in words, e.g. "look up an order and read its '
        'refundable amount".',
    ),
    name: str | None = typer.Option(
        None,
        "--name",
        help="Recipe name, snake_case (also the file name); default: the task's first words.",
    ),
    max_steps: int = typer.Option(
        12, "--max-steps", min=1, max=50, help="Most browser steps the explorer may take."
    ),
    attempts: int = typer.Option(
        3,
        "--attempts",
        min=1,
        max=5,
        help="Drafts asked for before giving up (each retry gets the previous draft's problems).",
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite the recipe if it exists."),
    as_json: bool = typer.Option(
        False,
        "--json",
        help='Print JSON: {"path", "run_id", "attempts", "pages", "selectors", "gate", '
        '"blocked", "yaml"}.',
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Draft a recipe from words: an AI agent explores the site read-only, an LLM writes it.

    Needs an `llm:` block (docs/ai.md) and the `ai` extra. The explorer signs in, then every
    request other than GET is blocked (and listed); the draft has role/label selectors and
    a gate before anything that may change the back office, and is written only when it
    validates. Nothing is run or approved: review the file before use. Every LLM call is in
    the evidence of the draft's run (`aijia evidence show RUN`)."""
    import asyncio

    from agent.engine.draft import draft_recipe

    with open_aijia(config) as aijia:
        draft = asyncio.run(
            draft_recipe(aijia.settings, aijia.store, site, task, name=name, force=force,
                         max_steps=max_steps, attempts=attempts)
        )  # fmt: skip
    if as_json:
        print_json(draft.as_json())
        return
    from agent.core.text import printable

    out = console()  # the YAML and the URLs hold the model's and the site's text: escaped
    out.print(printable(draft.text, multiline=True), markup=False, highlight=False, soft_wrap=True)
    out.print(f"[green]wrote[/] {draft.path}  (run {draft.run_id})", soft_wrap=True)
    out.print("review before use:", markup=False)
    blocked = draft.blocked or ["nothing"]
    for line in [f"blocked while exploring: {', '.join(blocked)}",
                 f"pages seen: {', '.join(draft.pages)}",
                 f"selectors: {'; '.join(draft.selectors) or 'none'}",
                 f"gate: {draft.gate or 'none (the recipe only reads)'}",
                 "check each step, its selector and the gate, then "
                 f"`aijia recipes show {draft.path}` and a `--dry-run` run"]:  # fmt: skip
        out.print(f"  - {printable(line)}", markup=False, soft_wrap=True)


def _print_written(written: list[Path], as_json: bool, next_command: str) -> None:
    """The files written (the recipe first), as JSON or as lines with the next command."""
    if as_json:
        print_json({"path": str(written[0]), "written": [str(p) for p in written]})
        return
    out = console()
    for path in written:
        out.print(f"[green]wrote[/] {path}", soft_wrap=True)
    out.print(f"next: edit the CHANGE ME lines, then `{next_command}`", markup=False)


@app.command("reference")
@handles_errors
def recipes_reference(
    out_file: Path | None = typer.Option(None, "--out", help="Write here, not stdout."),
    config: Path | None = ConfigOption,
) -> None:
    """Print (or write) the recipe author's reference, in Markdown.

    Generated from the step classes: every step and option, selectors, templates, gates."""
    del config  # accepted like on every `recipes` command; the reference is the same anywhere
    from agent.recipes.reference import reference  # generated from the step classes

    text = reference()
    if out_file is None:
        typer.echo(text)
    else:
        out_file.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        console().print(f"wrote {out_file}")


@app.command("heal")
@handles_errors
def recipes_heal(
    run: str = typer.Argument(..., help="The run whose healed selectors to review."),
    accept: bool = typer.Option(
        False, "--accept", help="Write the proposed change into the recipe file(s)."
    ),
    discard: bool = typer.Option(
        False,
        "--discard",
        help="Record in the run's evidence that it was discarded; write nothing.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: the healings and the diff."),
    config: Path | None = ConfigOption,
) -> None:
    """Review the selectors a run healed with `fallback: ai`, as a diff of the recipe.

    Without a flag it only shows the change; `--accept` edits the selector's own text in the
    file (comments and layout stay), `--discard` records the refusal. Both are recorded in the
    run's evidence (event `locator_heal_reviewed`)."""
    import difflib
    import getpass

    from agent.ai.heal import Healing, healed_text
    from agent.core.errors import InputError
    from agent.core.files import read_text
    from agent.recipes.yaml_source import RECIPE_LIMITS

    if accept and discard:
        raise InputError("--accept and --discard exclude each other", hint="choose one")
    with open_aijia(config) as aijia:
        events = aijia.store.events(run)  # EvidenceError when there is no such run
        healings = [Healing.from_event(e.data) for e in events if e.kind == "locator_healed"]
        reviewed = [e.data for e in events if e.kind == "locator_heal_reviewed"]
        if (accept or discard) and reviewed:
            raise InputError(
                f"run {run}'s healing was already {reviewed[-1]['decision']}",
                hint="run the recipe again to heal it afresh",
            )
        files: dict[str, list[Healing]] = {}
        for healing in healings:
            files.setdefault(healing.recipe_file, []).append(healing)
        changes: dict[str, str] = {}
        diff: list[str] = []
        for name, found in files.items():
            old = read_text(Path(name), what="recipe", max_bytes=RECIPE_LIMITS.max_bytes)
            changes[name] = healed_text(old, found)
            diff += difflib.unified_diff(
                old.splitlines(keepends=True),
                changes[name].splitlines(keepends=True),
                fromfile=name,
                tofile=name,
            )
        decision = "accepted" if accept else "discarded" if discard else None
        if healings and decision is not None:
            if accept:
                for name, text in changes.items():
                    _replace_text(Path(name), text)
            aijia.store.append_event(
                run,
                "locator_heal_reviewed",
                {"decision": decision, "files": sorted(changes), "by": getpass.getuser()},
            )
    rows = [
        {"step": h.step, "recipe_file": h.recipe_file, "old": h.old_selector,
         "new": h.new_selector, "why": h.why}
        for h in healings
    ]  # fmt: skip
    if as_json:
        print_json({"run": run, "healings": rows, "diff": "".join(diff), "decision": decision})
        return
    out = console()
    if not healings:
        out.print(f"run {run} healed no selector", markup=False)
        return
    for row in rows:
        out.print(f"step {row['step']}: {row['why']}", markup=False, soft_wrap=True)
    out.print("".join(diff), markup=False, highlight=False, soft_wrap=True, end="")
    if decision is not None:
        out.print(f"{decision}: {', '.join(sorted(changes))}", markup=False, soft_wrap=True)
    elif reviewed:
        out.print(f"already {reviewed[-1]['decision']}", markup=False)
    else:
        out.print(f"next: `aijia recipes heal {run} --accept` (or --discard)", markup=False)


def _replace_text(path: Path, text: str) -> None:
    """Write `text` over `path` at once (a temporary file renamed over it), keeping its mode."""
    import os

    tmp = path.with_name(f".{path.name}.heal")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, path.stat().st_mode & 0o7777)
    os.replace(tmp, path)
