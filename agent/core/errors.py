"""Every error Aijia raises on purpose, in one place.

Hierarchy::

    AgentError                      base; carries a hint and maps to a CLI exit code
    ├── ConfigError                 config.yaml is missing, malformed or invalid          (exit 2)
    ├── RecipeError                 a recipe file is malformed or invalid; has locations  (exit 2)
    ├── InputError                  a run input is missing or fails the recipe's schema   (exit 2)
    ├── SecretError                 a secret reference cannot be resolved                 (exit 2)
    ├── BrowserError                no usable browser, or it failed to start              (exit 4)
    ├── StepError                   a step failed at run time (timeout, expectation …)    (exit 1)
    │   ├── SelectorError           a selector matched nothing, or more than one element
    │   ├── NotFound                the page said what the run looks for is not there (a
    │   │                           step's `not_found` marker showed): kind "not_found"
    │   ├── ExpectationFailed       an `expect` step's condition was false
    │   ├── NavigationBlocked       a URL outside the site's allowed domains was refused
    │   ├── TemplateLimitError      a template ran past its CPU time, the step's timeout, or
    │   │                           its output, value-size or loop limit
    │   └── TransientSiteError      HTTP 5xx / navigation timeout; retried with backoff
    │       └── SiteUnreachable     the site did not answer at all (refused, no such host,
    │                               the first page timed out): the run fails   (exit 4)
    ├── GateError                   a gate or approval cannot be used (expired, used …)   (exit 5)
    ├── PolicyError                 a user lacks the role for what they asked             (exit 6)
    ├── EvidenceError               the evidence store is unusable or fails verification  (exit 7)
    └── ScheduleError               a schedule is unknown, or another daemon holds the lock (exit 8)

Messages say where (recipe file:line, step number), what was expected, what was seen, and a
hint. Library code raises these; only the CLI turns them into exit codes and output.
The sandbox has its own `sandbox.errors.SandboxError` (exit 4): it depends on nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass


class AgentError(Exception):
    """Base class. `hint` tells the user what to do about it."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(AgentError):
    exit_code = 2


@dataclass(frozen=True)
class Location:
    """A place in a source file, 1-based, as editors show it."""

    path: str
    line: int
    column: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a recipe, with where it is and what to do."""

    location: Location | None
    message: str
    hint: str | None = None
    source_line: str | None = None

    def render(self) -> str:
        where = f"{self.location}: " if self.location else ""
        text = f"{where}{self.message}"
        if self.source_line is not None:
            column = self.location.column if self.location is not None else 1
            shown, caret = _excerpt(self.source_line.rstrip(), column)
            text += f"\n  The offending line appears to be:\n\n    {shown}"
            if self.location is not None:
                text += "\n    " + " " * caret + "^ here"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


_EXCERPT_CHARS = 200


def _excerpt(line: str, column: int) -> tuple[str, int]:
    """At most about 200 characters of `line` around 1-based `column`, and the caret's
    offset in them: a hostile file's 5 MB line is not printed whole."""
    if len(line) <= _EXCERPT_CHARS:
        return line, max(column - 1, 0)
    start = max(min(column - 1 - _EXCERPT_CHARS // 2, len(line) - _EXCERPT_CHARS), 0)
    shown = line[start : start + _EXCERPT_CHARS]
    caret = column - 1 - start
    if start > 0:
        shown, caret = "…" + shown, caret + 1
    if start + _EXCERPT_CHARS < len(line):
        shown += "…"
    return shown, max(caret, 0)


class RecipeError(AgentError):
    """One or more problems in a recipe file; `problems` lists all of them."""

    exit_code = 2

    shown = 20  # problems in the message; a hostile file can have thousands

    def __init__(self, problems: list[Problem], *, hint: str | None = None) -> None:
        self.problems = problems
        text = "\n".join(p.render() for p in problems[: self.shown])
        if len(problems) > self.shown:
            text += f"\n… and {len(problems) - self.shown} more problem(s)"
        super().__init__(text, hint=hint)


class InputError(AgentError):
    exit_code = 2


class SecretError(AgentError):
    exit_code = 2


class BrowserError(AgentError):
    exit_code = 4


class StepError(AgentError):
    exit_code = 1


class SelectorError(StepError):
    pass


class NotFound(StepError):
    """The page answered "there is no such thing" (a step's `not_found` marker appeared
    before the element the step wanted): the order is unknown, not the recipe broken. The
    message is the recipe's own ("order X not found on ShopLane"); exit 1 like any failed
    run, told apart by `kind` (RunResult.error_kind, `aijia run --json`)."""

    kind = "not_found"


class ExpectationFailed(StepError):
    pass


class NavigationBlocked(StepError):
    pass


class TransientSiteError(StepError):
    pass


class SiteUnreachable(TransientSiteError):
    """The site did not answer at all: connection refused or reset, its host name not
    resolved, or the first page of the run timed out. Retried like any transient error;
    when the retries run out the run is recorded failed (with what was captured) and its
    exit code is 4, like a browser that cannot start: nothing is wrong with the recipe or
    the order, try again when the site is back."""

    exit_code = 4


class TemplateLimitError(StepError):
    """A template hit a resource limit (agent/recipes/templating.py): CPU time per render,
    the running step's timeout, the size of its output or of a value it builds, or loop
    iterations. Raised by the renderer; the step runner adds the recipe file:line."""


class GateError(AgentError):
    exit_code = 5


class PolicyError(AgentError):
    exit_code = 6


class EvidenceError(AgentError):
    exit_code = 7


class ScheduleError(AgentError):
    exit_code = 8
