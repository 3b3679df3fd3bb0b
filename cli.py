"""The `aijia` command line: the typer app, assembled from the command groups in agent/cli/.

Each command parses, calls the facade (`agent.Aijia`) and renders; exit codes are mapped in
one place (`agent.cli.common`, whose docstring has the table and the conventions every
command follows). Nothing heavy is imported until a command runs, so `aijia --help` is fast.
"""

from __future__ import annotations

import os
import platform
import sys

import typer

from agent.cli import (
    demo,
    doctor,
    evidence,
    gates,
    init,
    keys,
    recipes,
    run,
    runs,
    sandbox,
    schedule,
    serve,
    users,
    worker,
)
from agent.cli.common import exit_code_epilog, set_log_level

app = typer.Typer(
    name="aijia",
    help="Aijia: a headless back-office agent for ecommerce support teams.",
    epilog=exit_code_epilog(),
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, pwsh)
    pretty_exceptions_enable=False,
)


def version_text() -> str:
    """Aijia's version, Python's and Playwright's, read from package metadata (Playwright is
    not imported: `--version` stays as fast as `--help`)."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return (
        f"aijia {installed('aijia')}\n"
        f"Python {platform.python_version()} ({platform.python_implementation()})\n"
        f"Playwright {installed('playwright')}"
    )


def _show_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def conventions(
    version: bool = typer.Option(
        False,
        "--version",
        "-V",
        is_eager=True,
        callback=_show_version,
        help="Print the versions of Aijia, Python and Playwright and exit.",
    ),
    no_color: bool = typer.Option(
        False, "--no-color", help="No colour or styles in the output (as $NO_COLOR does)."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also show debug lines."),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="Hide info lines (warnings and errors only)."
    ),
) -> None:
    """Aijia: a headless back-office agent for ecommerce support teams.

    -v/-q win over `log_level` in config.yaml; NO_COLOR or --no-color turn colour off.
    """
    if verbose and quiet:
        raise typer.BadParameter("-v/--verbose and -q/--quiet contradict each other: pick one")
    if no_color:
        os.environ["NO_COLOR"] = "1"  # for every console of this process and its children
    # None (no flag) forgets a flag of an earlier in-process call: config.yaml decides
    set_log_level("debug" if verbose else "warning" if quiet else None, from_flag=True)


app.command("doctor")(doctor.doctor)
app.command("init")(init.init)
app.command("run")(run.run)
app.command("approve")(gates.approve)
app.command("reject")(gates.reject)
app.command("resume")(gates.resume)
app.command("demo")(demo.demo)
app.command("login")(users.login)
app.command("logout")(users.logout)
app.command("whoami")(users.whoami)
app.command("serve")(serve.serve)
app.command("worker")(worker.worker)
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(recipes.app, name="recipes")
app.add_typer(evidence.app, name="evidence")
app.add_typer(runs.app, name="runs")
app.add_typer(gates.app, name="gates")
app.add_typer(schedule.app, name="schedule")
app.add_typer(keys.app, name="keys")
app.add_typer(users.app, name="users")


def main() -> None:
    """The `aijia` console script: the app, then, in a process that loaded Temporal's native
    bridge (the temporal backend), an exit that skips interpreter teardown, the exit code
    kept and output flushed: the bridge's Rust threads can abort a finalizing interpreter
    ("PyGILState_Release … must be current", temporalio/sdk-python#300). Every command has
    closed its store and browser by then."""
    try:
        app()
        code: int = 0
    except SystemExit as exc:
        if "temporalio.bridge.temporal_sdk_bridge" not in sys.modules:
            raise
        code = exit_status(exc.code)
    if "temporalio.bridge.temporal_sdk_bridge" not in sys.modules:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def exit_status(code: object) -> int:
    """What SystemExit(code) makes the process exit with (None: 0; text: printed, 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


if __name__ == "__main__":  # pragma: no cover
    main()
