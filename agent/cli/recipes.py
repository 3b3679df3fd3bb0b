"""`aijia recipes …`: list, show, validate, the step reference and the JSON Schema.

Nothing here runs a recipe: these read the recipe files (agent.recipes) and the step registry.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from agent.cli.common import (
    ExitCode,
    SiteAliasOption,
    SiteOption,
    chosen_site,
    console,
    handles_errors,
    print_json,
)

if TYPE_CHECKING:
    from agent.core.errors import Problem

app = typer.Typer(help="Declarative recipes: list, show, validate, JSON Schema.")

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
) -> None:
    """List the recipes under recipes/ (or $AIJIA_RECIPES) with their inputs and gate, a
    table per site; the description is shown on terminals of 100 columns or more."""
    rows = _recipe_rows(chosen_site(site, site_alias))
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


def _recipe_rows(site: str | None) -> list[dict[str, Any]]:
    """Each recipe file (of `site`) as a JSON-ready row; an invalid one with its problems."""
    from agent.core.errors import RecipeError
    from agent.recipes.model import list_recipes, load_recipe

    rows: list[dict[str, Any]] = []
    for path in list_recipes():
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
) -> None:
    """Show one recipe: inputs, steps with their phase (prepare / gate / commit), outputs."""
    from rich.table import Table

    from agent.recipes.model import find_recipe, load_recipe, outline

    recipe = load_recipe(find_recipe(name, chosen_site(site, site_alias)))
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
) -> None:
    """Check recipes without starting a browser; print every problem; exit 2 if any."""
    from agent.recipes.model import list_recipes, recipes_root, validate_paths

    targets = paths or [recipes_root()]
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
) -> None:
    """The step kinds a recipe can use: what each does, its fields and an example."""
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
) -> None:
    """Print (or write) the recipe JSON Schema, for editor completion and validation."""
    import json

    from agent.recipes.model import recipe_schema

    text = json.dumps(recipe_schema(), indent=2, sort_keys=False)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        console().print(f"wrote {output}")
