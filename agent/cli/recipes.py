"""`aijia recipes …`: list, show, validate, the step reference and the JSON Schema.

Nothing here runs a recipe: these read the recipe files (agent.recipes) and the step registry.
"""

from __future__ import annotations

from pathlib import Path

import typer

from agent.cli.common import ExitCode, console, handles_errors

app = typer.Typer(help="Declarative recipes: list, show, validate, JSON Schema.")

# `validate` prints this many problems (and counts the rest): a broken or hostile file can
# have thousands, and printing them all takes longer than finding them.
SHOWN_PROBLEMS = 50

SiteOption = typer.Option(None, "--site", "-s", help="Site flavor folder under recipes/.")


@app.command("list")
@handles_errors
def recipes_list(site: str | None = SiteOption) -> None:
    """List the recipes under recipes/ (or $AIJIA_RECIPES) with their inputs and gate."""
    from rich.table import Table

    from agent.core.errors import RecipeError
    from agent.recipes.model import list_recipes, load_recipe

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
    console().print(table)


@app.command("show")
@handles_errors
def recipes_show(name: str, site: str | None = SiteOption) -> None:
    """Show one recipe: inputs, steps with their phase (prepare / gate / commit), outputs."""
    from rich.table import Table

    from agent.recipes.model import find_recipe, load_recipe, outline

    recipe = load_recipe(find_recipe(name, site))
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
) -> None:
    """Check recipes without starting a browser; print every problem; exit 2 if any."""
    from agent.recipes.model import list_recipes, recipes_root, validate_paths

    targets = paths or [recipes_root()]
    problems = validate_paths(targets)
    out = console(stderr=bool(problems))
    for problem in problems[:SHOWN_PROBLEMS]:
        out.print(problem.render(), markup=False, soft_wrap=True)
        out.print()
    if len(problems) > SHOWN_PROBLEMS:
        out.print(f"… and {len(problems) - SHOWN_PROBLEMS} more problem(s) not shown\n")
    if problems:
        out.print(f"[bold red]{len(problems)} problem(s)[/]")
        raise typer.Exit(ExitCode.INVALID)
    count = sum(len(list_recipes(p)) if p.is_dir() else 1 for p in targets)
    console().print(f"[green]ok[/]: {count} recipe(s) valid")


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
