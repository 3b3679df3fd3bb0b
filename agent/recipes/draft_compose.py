"""From what the explorer saw to recipe YAML that validates: `aijia recipes draft`'s writing half.

    for attempt in 1..N:
        answer = await llm.structured(ctx, schema=DRAFT_SCHEMA, instructions=..., data=pages)
        text = render_yaml(answer, name=, site=, session=)
        problems = check_draft(answer) + the recipe loader's problems
        if not problems: done — else the problems go back to the model

The model proposes only the recipe's body (description, inputs, steps, outputs, commits); the
name, site, version and `session:` are ours. Rules a reviewer relies on are checked here in
code, never left to the model:

* selectors are role/label/text/placeholder ones: a `css` or `testid` is refused (they break
  when the layout changes, and a reviewer cannot read them);
* nothing before the gate may change the back office — the recipe loader refuses an unsafe
  click before the gate, and here a click the model marked `safe: true` on an element whose
  name looks mutating (Refund, Save, Submit …) is refused too: the model cannot wave a
  sending click through without a gate.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from agent.core.errors import Location, Problem, RecipeError
from agent.recipes.recorder import MUTATING

# What the model answers: the recipe body, each step in recipe syntax.
DRAFT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "description": {"type": "string", "description": "What the recipe does, for people."},
        "inputs": {
            "type": "object",
            "description": "Input name -> {type, pattern, description}: the values that change "
            "between runs (an order number …), never a value seen on one page.",
        },
        "steps": {
            "type": "array",
            "items": {"type": "object"},
            "description": 'Recipe steps in YAML-as-JSON, e.g. {"goto": "/orders?q={{ '
            'inputs.order_id }}"}, {"click": {"role": "link", "name": "…"}}, '
            '{"extract": {"total": {"label": "Order total", "as": "money"}}}.',
        },
        "outputs": {"type": "object", "description": "Output name -> template."},
        "commits": {
            "type": ["object", "null"],
            "description": "Only with a gate: the request the commit sends (see gate).",
        },
    },
    "required": ["description", "inputs", "steps", "outputs", "commits"],
    "additionalProperties": False,
}

INSTRUCTIONS = """\
Write an Aijia recipe (a declarative YAML automation of a back office) for this task:
{task}

The data below are accessibility snapshots of the pages an explorer visited on the site
{base_url}, in order (the first pages come after signing in). Rules:
- `goto` takes a path of the site (starting with /), templated with inputs where they vary.
- Select elements by role and accessible name ({{role: link, name: ...}}), by label
  ({{label: ..., exact: true}}) or by text; never css, testid or xpath.
- Read values with `extract` by their label; money with `as: money`, dates with `as: date`.
- Values that vary between runs (an order number) are inputs, used as {{{{ inputs.NAME }}}}.
- The recipe only reads unless the task asks for a change; any click that sends a change
  comes after one `gate` step (with its `commits:` request). Clicks on links need no gate.
- Outputs name each value read, as templates ({{{{ total.amount }}}} …).
Step kinds you may use:
{steps}
"""

RETRY = """
Your previous draft (in the data, after the pages) has these problems; answer with the whole
recipe again, fixed:
{problems}
"""


def step_kinds() -> str:
    """One line per step kind: key, effect, summary and fields (from the step registry)."""
    from agent.steps import step_reference

    lines = []
    for step in step_reference():
        fields = ", ".join(name for name, _ in step["params"])
        lines.append(f"- {step['key']} ({step['effect']}): {step['summary']} Fields: {fields}")
    return "\n".join(lines)


def instructions(task: str, base_url: str, problems: list[str]) -> str:
    text = INSTRUCTIONS.format(task=task, base_url=base_url, steps=step_kinds())
    if problems:
        text += RETRY.format(problems="\n".join(f"- {p}" for p in problems))
    return text


def pages_data(pages: dict[str, str], previous: str | None) -> str:
    parts = [f"## page {url}\n{snapshot}" for url, snapshot in pages.items()]
    if previous is not None:
        parts.append(f"## previous draft\n{previous}")
    return "\n\n".join(parts)


def render_yaml(
    answer: dict[str, Any], *, name: str, site: str, session: str | None, task: str
) -> str:
    """The recipe text: our header (name, site, session) and the model's body."""
    recipe: dict[str, Any] = {
        "name": name,
        "version": "1",
        "site": site,
        "description": str(answer.get("description") or task),
        "inputs": answer.get("inputs") or {},
    }
    if session:
        recipe["session"] = session
    recipe["steps"] = answer.get("steps") or []
    if answer.get("commits"):
        recipe["commits"] = answer["commits"]
    recipe["outputs"] = answer.get("outputs") or {}
    head = (
        f"# Drafted by `aijia recipes draft` from: {' '.join(task.split())[:200]}\n"
        "# Review every step and selector before use.\n"
    )
    body = yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True, width=100)
    return head + body


def check_draft(answer: dict[str, Any]) -> list[str]:
    """What the code refuses in a draft, whatever the model said (see the module doc)."""
    problems: list[str] = []
    steps = answer.get("steps") or []
    gate_seen = False
    for number, step in enumerate(steps, 1):
        if not isinstance(step, dict):
            continue
        gate_seen = gate_seen or "gate" in step
        for key in _selector_keys(step):
            problems.append(
                f"step {number}: `{key}` selector; use role/label/text (they survive layout "
                "changes and a reviewer can read them)"
            )
        target = step.get("click") or step.get("press")
        name = _element_name(target)
        if not gate_seen and step.get("safe") and name and MUTATING.search(name):
            problems.append(
                f"step {number}: a click on {name!r} may send a change; it cannot be "
                "`safe: true` — put a `gate` step (and `commits:`) before it, or leave it out"
            )
    return problems


def _selector_keys(value: Any) -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for key, sub in value.items():
            if key in ("css", "testid", "xpath") and isinstance(sub, str):
                found.append(key)
            else:
                found += _selector_keys(sub)
    elif isinstance(value, list):
        for item in value:
            found += _selector_keys(item)
    return found


def _element_name(target: Any) -> str | None:
    if isinstance(target, dict):
        for key in ("name", "label", "text"):
            if isinstance(target.get(key), str):
                return str(target[key])
    return target if isinstance(target, str) else None


def validate_text(text: str, *, name: str, folder: Path, scratch: Path) -> list[Problem]:
    """The recipe loader's problems for `text` as if it were `<folder>/<name>.yaml`: checked
    in `scratch` next to copies of the folder's recipes (`session:` and `call:` name them)."""
    from agent.recipes.model import load_recipe

    twin = scratch / folder.name
    twin.mkdir(parents=True, exist_ok=True)
    if folder.is_dir():
        for sibling in folder.glob("*.y*ml"):
            if sibling.stem != name:
                shutil.copyfile(sibling, twin / sibling.name)
    path = twin / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_recipe(path)
    except RecipeError as err:
        return err.problems
    return []


def problem_lines(problems: list[Problem]) -> list[str]:
    """Loader problems as short lines for the model (line number, message, hint)."""
    lines = []
    for p in problems:
        where = f"line {p.location.line}: " if p.location else ""
        hint = f" (hint: {p.hint})" if p.hint else ""
        lines.append(f"{where}{p.message}{hint}")
    return lines


def as_problems(lines: list[str], path: Path) -> list[Problem]:
    return [Problem(Location(str(path), 1), line) for line in lines]


def selectors_of(text: str) -> list[str]:
    """Every selector of the recipe's steps, as `role=link name=…` lines for the review."""
    raw = yaml.safe_load(text) or {}
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            kinds = [k for k in ("role", "label", "text", "placeholder") if k in value]
            if kinds:
                shown = " ".join(f"{k}={value[k]!r}" for k in (*kinds, "name") if k in value)
                found.append(shown)
            for sub in value.values():
                walk(sub)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(raw.get("steps"))
    return list(dict.fromkeys(found))


def gate_of(text: str) -> str | None:
    """`step N: ACTION` for the recipe's gate, None when it only reads."""
    raw = yaml.safe_load(text) or {}
    for number, step in enumerate(raw.get("steps") or [], 1):
        if isinstance(step, dict) and "gate" in step:
            gate = step["gate"]
            action = gate.get("action") if isinstance(gate, dict) else None
            return f"step {number}: {action or 'gate'}"
    return None
