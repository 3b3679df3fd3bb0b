"""Jinja2 templates in recipes: sandboxed, strict about undefined names, and bounded.

A string that is exactly one expression (`"{{ inputs.amount }}"`) renders to the native value
(a number stays a number); any other string renders to text. In scope: `inputs`, `site`, `run`
and every value set or extracted by an earlier step.

Limits (module constants; a template that hits one fails its step with `TemplateLimitError`,
which the step runner locates at the recipe's file:line):

- time: `MAX_RENDER_CPU_SECONDS` of CPU per render, and never past the running step's
  timeout (`render_deadline`, set by the step runner around each step) but for a short
  grace (`DEADLINE_GRACE_SECONDS`) given to a render that starts when that time is up;
- size: no single value a template builds (text, list, number …) and no rendered output may
  exceed `MAX_OUTPUT_CHARS` characters; text written inside macros and `{% set %}` blocks
  counts towards the output; numbers may have at most `MAX_INT_DIGITS` digits;
- loops: at most `MAX_LOOP_ITERATIONS` loop iterations per render, all loops together.

How they are kept: `agent.recipes.template_limits`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from jinja2 import (
    StrictUndefined,
    Template,
    TemplateSyntaxError,
    Undefined,
    UndefinedError,
    meta,
    nodes,
)
from jinja2.environment import TemplateExpression
from jinja2.sandbox import (
    SandboxedEnvironment,
)

from agent.core.errors import StepError
from agent.recipes import order_filters
from agent.recipes.template_limits import (
    Budget,
    LimitedEnvironment,
    LimitHit,
    current_budget,
    limit_error,
    limited_filter,
    lipsum_limited,
    step_deadline,
)

# Names every template may use besides the recipe's own values.
BUILTIN_NAMES = frozenset({"inputs", "site", "run"})

_WHOLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)

_env: SandboxedEnvironment | None = None


def environment() -> SandboxedEnvironment:
    global _env
    if _env is None:
        env = LimitedEnvironment(undefined=StrictUndefined, autoescape=False)
        env.filters.update(order_filters.FILTERS)  # money, sums, rows, refundable, status
        env.filters["days_since"] = days_since
        env.filters = {name: limited_filter(name, f) for name, f in env.filters.items()}
        env.globals["lipsum"] = lipsum_limited
        _env = env
    return _env


def days_since(value: Any) -> float:
    """Days from a date/datetime (or ISO text) until now, UTC; for delay checks in recipes."""
    from datetime import UTC, date, datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace(" UTC", "+00:00").replace("Z", "+00:00"))
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, datetime):
        raise StepError(f"days_since needs a date, got {type(value).__name__} {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return round((datetime.now(UTC) - value).total_seconds() / 86400, 2)


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def _whole_expression(text: str) -> str | None:
    match = _WHOLE_EXPRESSION.match(text)
    if match is None:
        return None
    expr = match.group("expr")
    # "{{ a }} and {{ b }}" is not one expression
    return None if "{{" in expr or "}}" in expr else expr


def render(value: Any, scope: Mapping[str, Any]) -> Any:
    """Render strings (recursively in lists and dicts); other values pass through."""
    if isinstance(value, str):
        return render_text(value, scope)
    if isinstance(value, list):
        return [render(v, scope) for v in value]
    if isinstance(value, dict):
        return {k: render(v, scope) for k, v in value.items()}
    return value


@functools.lru_cache(maxsize=4096)
def _compiled(text: str) -> Template | TemplateExpression:
    """Compiling is the slow part of Jinja2; a recipe's templates are few and reused."""
    env = environment()
    expr = _whole_expression(text)
    if expr is not None:
        return env.compile_expression(expr, undefined_to_none=False)
    return env.from_string(text)


def render_text(text: str, scope: Mapping[str, Any]) -> Any:
    if not is_template(text):
        return text
    budget = Budget(step_deadline.get())
    token = current_budget.set(budget)
    try:
        compiled = _compiled(text)  # under the budget: compiling folds constant filters
        if isinstance(compiled, Template):
            return budget.collect(compiled.generate(**scope))
        value = compiled(**scope)
        if isinstance(value, Undefined):
            str(value)  # StrictUndefined raises UndefinedError naming the variable
        return value
    except (LimitHit, RecursionError, MemoryError) as exc:
        raise limit_error(text, exc) from None
    except UndefinedError as exc:
        raise StepError(
            f"template {text!r}: {exc.message}",
            hint="the name is not an input and no earlier step set or extracted it",
        ) from None
    except TemplateSyntaxError as exc:
        raise StepError(f"template {text!r} is not valid Jinja2: {exc.message}") from None
    except Exception as exc:  # a filter or comparison failing on the values it got
        raise StepError(f"template {text!r} failed: {type(exc).__name__}: {exc}") from None
    finally:
        current_budget.reset(token)


def truthy(value: Any) -> bool:
    """Conditions: native truthiness, and the strings 'false', 'no', '0', '' are false."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "no", "0", "none")
    return bool(value)


def parse(text: str) -> nodes.Template:
    """Parse a template (a whole expression counts as `{{ … }}`); TemplateSyntaxError."""
    return environment().parse(text)


def referenced_names(text: str) -> set[str]:
    """Top-level names a template reads (jinja2.meta), excluding its own loop/set names."""
    return set(meta.find_undeclared_variables(parse(text)))


def attribute_uses(text: str, base: str) -> list[str]:
    """`inputs.order_id` and `inputs['order_id']` in the template -> ["order_id"]."""
    found: list[str] = []
    tree = parse(text)
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        target = node.node  # type: ignore[attr-defined]
        if isinstance(target, nodes.Name) and target.name == base:
            if isinstance(node, nodes.Getattr):
                found.append(node.attr)
            else:
                arg = node.arg  # type: ignore[attr-defined]
                if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                    found.append(arg.value)
    return found
