"""`aijia init DIR`: start a team project (config.yaml, recipes/, .gitignore, README.md).

The files come from agent/project_template/ (its docstring lists them); this command writes
them and says what to do next.
"""

from __future__ import annotations

from pathlib import Path

import typer

from agent.cli.common import console, handles_errors


@handles_errors
def init(
    directory: Path = typer.Argument(..., help="Where to create the project (new or empty)."),
    force: bool = typer.Option(
        False, "--force", help="Write into a non-empty directory, overwriting the project files."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the project directory and the files written as JSON."
    ),
) -> None:
    """Create a team project: a commented config.yaml with a sample site (the sandbox's
    ShopLane), recipes/ with sample recipes, .gitignore and a README of next steps.

    Recipes are then found next to the config; run the commands printed at the end from DIR."""
    from agent.project_template import scaffold

    written = scaffold(directory, force=force)
    if as_json:
        from agent.cli.common import print_json

        root = directory.resolve()
        print_json(
            {"directory": str(root), "files": [str(p.relative_to(directory)) for p in written]}
        )
        return
    out = console()
    out.print(f"[green]created[/] an Aijia project in {directory.resolve()}:")
    for path in written:
        out.print(f"  {path.relative_to(directory)}", markup=False)
    out.print("\nnext:")
    for line in (
        f"cd {directory}",
        "aijia doctor                 # where config, recipes and data are",
        "aijia sandbox serve          # in another terminal; copy its export line here",
        "aijia recipes list",
        "aijia run lookup_order -i order_id=ORDER_ID",
    ):
        out.print(f"  {line}", markup=False, soft_wrap=True)
