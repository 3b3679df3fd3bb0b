"""What every command module shares: the console, the common options, who is acting, the
facade, and `handles_errors` — the one place errors become exit codes.

Who is acting is proven, never typed (`acting_identity`): the account of the personal token
in $AIJIA_TOKEN or saved by `aijia login`, else — only where `policy.trust_os_user` is on —
the OS user. `--as` no longer exists (a hidden option that refuses with a message), and
$AIJIA_USER is ignored with a warning.

Exit codes (the same for every command; `aijia run --json` and the schedulers rely on them):

    0  ok: every run done
    1  a run failed (or a check failed: verify, doctor, schedule status/trigger)
    2  invalid recipe, input or config: nothing was run          ConfigError, RecipeError,
                                                                 InputError, SecretError
    3  a run paused at a gate (waiting for a human)
    4  browser, sandbox or site unavailable: nothing answered    BrowserError, SandboxError,
       (a run that found its site unreachable is recorded        SiteUnreachable
       failed, with what it captured, and exits 4, not 1)
    5  gate error: expired, already decided, not resumable       GateError
    6  refused by policy: role, separation of duties,            PolicyError
       unknown user
    7  evidence error: store unusable, unknown run, bad export   EvidenceError
    8  schedule error: unknown schedule, another daemon runs     ScheduleError

Errors map through their class's `exit_code` (`agent.core.errors` draws the hierarchy;
`sandbox.errors.SandboxError` is the sandbox's own, since the sandbox imports nothing from
agent/). Run results carry their own code (`RunResult.exit_code`); a batch reports the most
urgent one (`overall_exit_code`: 2 > 4 > 1 > 3 > 0, then the highest other code): a batch
where some rows found the site down exits 4 so that a scheduler retries it later, even if
other rows failed for their own reasons (each row's own code is in `--json`). Rows skipped
as invalid (`aijia run --skip-invalid`) count as rows with code 2, so such a batch exits 2,
never 0: its input needs a human, and re-running it unchanged would skip them again. A
duplicate row runs once and does not change the code.

`EXIT_CODES` below is the one list of codes and their short meanings: `aijia --help` prints it
and a test checks that the README's table and the table above say the same.

Conventions every command follows (set once, in the top-level callback in cli.py):
`NO_COLOR` (any non-empty value) or `--no-color` turns colour and styles off; `-v` shows debug
lines and `-q` hides info lines, in Python logging and in the JSON log lines of `schedule run`
and `serve` (without either, `log_level` of config.yaml decides); `--json` prints one JSON
document on stdout and nothing else there (errors stay on stderr, with their exit code).
"""

from __future__ import annotations

import functools
import getpass
import logging
import os
import sys
from collections.abc import Callable, Iterable
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from agent.core.text import json_printable, printable

if TYPE_CHECKING:
    from rich.console import Console

    from agent import Aijia, RunResult
    from agent.gates.identity import Identity

F = TypeVar("F", bound=Callable[..., Any])


class ExitCode(IntEnum):
    """The table above, for the codes commands raise themselves (`typer.Exit(ExitCode.…)`)."""

    OK = 0
    FAILED = 1
    INVALID = 2
    PAUSED = 3
    UNAVAILABLE = 4
    GATE = 5
    POLICY = 6
    EVIDENCE = 7
    SCHEDULE = 8


# (code, meaning): the one source of the exit-code table in `aijia --help` and the README
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (0, "ok: every run done"),
    (1, "a run failed (or a check failed: verify, doctor, schedule status/trigger)"),
    (2, "invalid recipe, input or config: nothing was run"),
    (3, "a run paused at a gate (waiting for a human)"),
    (4, "browser, sandbox or site unavailable: nothing answered"),
    (5, "gate error: expired, already decided, not resumable"),
    (6, "refused by policy: role, separation of duties, unknown user"),
    (7, "evidence error: store unusable, unknown run, bad export"),
    (8, "schedule error: unknown schedule, another daemon runs"),
)


def exit_code_epilog() -> str:
    """The exit-code table for the top-level help, a line per code."""
    lines = [f"  {code}  {meaning}" for code, meaning in EXIT_CODES]
    return "Exit codes (every command):\n" + "\n".join(lines)


ConfigOption = typer.Option(
    None, "--config", "-c", help="config.yaml to use (default: $AIJIA_CONFIG, ./config.yaml)."
)


def _refuse_as(value: str | None) -> None:
    if value is not None:
        raise typer.BadParameter(
            "--as no longer exists: Aijia acts as the user you signed in as, never a typed "
            "name. Sign in with `aijia login` (or set $AIJIA_TOKEN to a personal token); "
            "`aijia whoami` shows who you are."
        )


# Kept hidden on the commands that had it, so that an old script fails with the reason
# (exit 2) instead of "no such option".
RemovedAsOption = typer.Option(
    None, "--as", hidden=True, is_eager=True, expose_value=False, callback=_refuse_as
)


SiteOption = typer.Option(None, "--site", help="Site from config.yaml (its recipe folder).")
# `-s` and `--flavor` were other spellings of --site: they keep working, hidden from help
SiteAliasOption = typer.Option(None, "-s", "--flavor", hidden=True)


def chosen_site(site: str | None, alias: str | None, default: str | None = None) -> str | None:
    """--site, else the value given with one of its hidden aliases, else `default`."""
    return site if site is not None else alias if alias is not None else default


def no_color() -> bool:
    """Colour and styles are off: $NO_COLOR is set and not empty (https://no-color.org);
    `--no-color` sets it for this process and the ones it starts."""
    return bool(os.environ.get("NO_COLOR"))


def console(stderr: bool = False) -> Console:
    """The console to print with: it shows control characters in anything it prints escaped
    (seller data is hostile: `agent.cli.terminal`), and without any style under NO_COLOR."""
    from agent.cli.terminal import InertConsole

    if no_color():  # rich alone keeps bold and underline under NO_COLOR: no escapes at all
        return InertConsole(stderr=stderr, highlight=False, color_system=None, no_color=True)
    return InertConsole(stderr=stderr, highlight=False)


# ----------------------------------------------------------------------------- log levels

LOG_LEVELS = ("debug", "info", "warning", "error")
_flag_level: str | None = None  # set by -v/-q: wins over config.yaml's log_level
_level = "info"  # in effect now (JSON log lines and our loggers)


def set_log_level(level: str | None, *, from_flag: bool = False) -> None:
    """Set the level of Python logging (our packages' loggers, to stderr) and of the JSON log
    lines. `-v`/`-q` (from_flag) win over config.yaml's `log_level` for the whole process;
    `from_flag` with None forgets an earlier flag (a new in-process invocation)."""
    import logging

    global _flag_level, _level
    if from_flag:
        _flag_level = level
    elif _flag_level is not None:
        return
    _level = level or "info"
    name = _level.upper()
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    for package in ("agent", "evidence", "sandbox", "aijia"):
        logging.getLogger(package).setLevel(name)


def log_enabled(level: str) -> bool:
    """Would a line of `level` (debug, info, warning, error) be written now?"""
    return LOG_LEVELS.index(level) >= LOG_LEVELS.index(_level)


def event_level(event: str, fields: dict[str, Any] | None = None) -> str:
    """The level of a JSON log line from its event name and fields: failures are errors;
    things skipped, missed or retried, and events that carry an error, are warnings (a row
    that failed: the fire goes on); the rest is info."""
    if event.endswith(("_failed", "_crashed", "_lost", "_not_reconciled")):
        return "error"
    if event.endswith(("_missed", "_skipped", "_will_retry", "_not_resumed", "_expired")):
        return "warning"
    return "warning" if (fields or {}).get("error") else "info"


class _StderrHandler(logging.StreamHandler):
    """Writes to the sys.stderr of the moment (a test runner swaps it per invocation)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def handles_errors(func: F) -> F:
    """Turn an AgentError (or SandboxError) into a one-paragraph message on stderr and its
    exit code. Every command is wrapped in this; nothing else maps errors to codes."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from rich.markup import escape

        from agent.core.errors import AgentError
        from sandbox.errors import SandboxError

        try:
            return func(*args, **kwargs)
        except (AgentError, SandboxError) as err:
            # the message may quote seller data: print it as text, never as markup, and with
            # its control characters escaped (it keeps its own lines: message, then hint)
            message = escape(printable(str(err), multiline=True))
            console(stderr=True).print(f"[bold red]error:[/] {message}", soft_wrap=True)
            raise typer.Exit(err.exit_code) from None

    return wrapper  # type: ignore[return-value]


def overall_exit_code(results: Iterable[RunResult]) -> int:
    """The exit code of several runs: the most urgent outcome, 2 > 4 > 1 > 3 > 0 (then the
    highest other code); the module docstring says why."""
    codes = {r.exit_code for r in results}
    for code in (ExitCode.INVALID, ExitCode.UNAVAILABLE, ExitCode.FAILED, ExitCode.PAUSED):
        if code in codes:
            return int(code)
    return max(codes, default=0)


def acting_identity(aijia: Aijia) -> Identity:
    """Who the command acts as, proven (the module docstring): PolicyError (exit 6) when the
    token is unknown, revoked or expired, its account disabled, or nobody is signed in."""
    from agent.cli.token_store import current_token

    if os.environ.get("AIJIA_USER"):
        console(stderr=True).print(
            "[yellow]warning:[/] $AIJIA_USER is ignored: Aijia acts as the signed-in user "
            "(`aijia whoami`)",
            soft_wrap=True,
        )
    token, _ = current_token(aijia.settings.accounts)
    return aijia.identify(token, os_user=getpass.getuser())


def open_aijia(config: Path | None) -> Aijia:
    """The facade over `config` (use it in a `with`: it closes Chromium and the store)."""
    from agent import Aijia

    aijia = Aijia.from_config(config)
    set_log_level(aijia.settings.log_level)  # unless -v/-q said otherwise
    return aijia


def json_text(value: Any, *, indent: int | None = None) -> str:
    """`value` as JSON for a terminal: non-ASCII text kept readable, but DEL, C1 and bidi
    characters (which `json.dumps` leaves raw) written as \\u escapes; same value parsed."""
    import json

    return json_printable(json.dumps(value, indent=indent, ensure_ascii=False, default=str))


def print_json(value: Any) -> None:
    """Indented JSON on stdout (for `--json` of list/show commands)."""
    typer.echo(json_text(value, indent=2))
