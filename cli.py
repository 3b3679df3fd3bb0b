"""The `aijia` command line: the typer app, assembled from the command groups in agent/cli/.

Each command parses, calls the facade (`agent.Aijia`) and renders; exit codes are mapped in
one place (`agent.cli.common`, whose docstring has the table). Nothing heavy is imported
until a command runs, so `aijia --help` is fast.
"""

from __future__ import annotations

import typer

from agent.cli import (
    demo,
    doctor,
    evidence,
    gates,
    keys,
    recipes,
    run,
    runs,
    sandbox,
    schedule,
    serve,
    users,
)

app = typer.Typer(
    name="aijia",
    help="Aijia: a headless back-office agent for ecommerce support teams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command("doctor")(doctor.doctor)
app.command("run")(run.run)
app.command("approve")(gates.approve)
app.command("reject")(gates.reject)
app.command("resume")(gates.resume)
app.command("demo")(demo.demo)
app.command("login")(users.login)
app.command("logout")(users.logout)
app.command("whoami")(users.whoami)
app.command("serve")(serve.serve)
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(recipes.app, name="recipes")
app.add_typer(evidence.app, name="evidence")
app.add_typer(runs.app, name="runs")
app.add_typer(gates.app, name="gates")
app.add_typer(schedule.app, name="schedule")
app.add_typer(keys.app, name="keys")
app.add_typer(users.app, name="users")


def main() -> None:  # pragma: no cover - `python -m cli`
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
