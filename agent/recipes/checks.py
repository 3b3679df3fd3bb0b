"""Static checks of a recipe, each problem with its YAML line, the line itself and a hint.

The prepare/commit rule (what "a mutating step before a gate" means):

* Steps before the first `gate` are the **prepare** phase; a recipe without a gate is all
  prepare. Prepare steps must not change the back office.
* Step kinds have an effect (agent/steps/base.py): read (goto, extract, expect, wait_for,
  screenshot, snapshot, set, handoff), stage (fill, select, check, totp: they edit a form in
  the browser, nothing is sent), act (click, press: they may send something), control (if,
  for_each, call: their nested steps are checked), gate.
* An act step in the prepare phase must be a click on a link (`role: link`: a GET) or be
  declared `safe: true` (the author asserts it only opens a dialog, a tab, runs a search or
  signs in). Any step declared `mutates: true` must come after the gate.
* There is at most one gate, at the top level of `steps` (not inside if/for_each, not in
  `reconcile`). After it, act steps are never retried automatically.
* A recipe with a gate declares its commit request (`commits:`), whose `fields` name binds
  of that gate: what is sent is compared with what was approved (agent/engine/binding.py).
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from jinja2 import TemplateSyntaxError

from agent.browser.selectors import Selector
from agent.core.errors import Location, Problem
from agent.recipes.templating import BUILTIN_NAMES, attribute_uses, is_template, referenced_names
from agent.recipes.yaml_source import PathKey, SourceMap
from agent.steps import COMMON_KEYS, STEP_TYPES, Step, step_keys

NESTED_KEYS = {"if": ("then", "else"), "for_each": ("steps",)}


# --------------------------------------------------------------------------- structure


def _walk_raw_steps(raw: Any, path: PathKey) -> list[tuple[PathKey, Any]]:
    out: list[tuple[PathKey, Any]] = []
    if not isinstance(raw, list):
        return out
    for i, step in enumerate(raw):
        out.append(((*path, i), step))
        for key in step_keys(step):
            for child in NESTED_KEYS.get(key, ()):
                out += _walk_raw_steps(step.get(child), (*path, i, child))
    return out


def check_structure(raw: dict[str, Any], smap: SourceMap) -> tuple[list[Problem], set[PathKey]]:
    """Unknown or doubled step actions, before pydantic (which would only say 'no tag')."""
    problems: list[Problem] = []
    bad: set[PathKey] = set()
    for top in ("steps", "reconcile"):
        for path, step in _walk_raw_steps(raw.get(top), (top,)):
            if not isinstance(step, dict):
                problems.append(
                    smap.problem(
                        path,
                        f"a step is a mapping with one action, got {type(step).__name__} {step!r}",
                        hint="write it like `- goto: /orders`",
                    )
                )
                bad.add(path)
                continue
            keys = step_keys(step)
            if len(keys) == 1:
                continue
            bad.add(path)
            if len(keys) > 1:
                problems.append(
                    smap.problem(
                        (*path, keys[1]),
                        f"one step has one action; this one has {' and '.join(keys)}",
                        hint="split it into two steps, each starting with `- `",
                        key=True,
                    )
                )
                continue
            unknown = [k for k in step if k not in COMMON_KEYS] or list(step)
            name = unknown[0] if unknown else "?"
            close = difflib.get_close_matches(str(name), list(STEP_TYPES), n=1, cutoff=0.5)
            hint = f"did you mean `{close[0]}`?" if close else ""
            hint += (" " if hint else "") + f"steps: {', '.join(sorted(STEP_TYPES))}"
            problems.append(
                smap.problem((*path, name), f"unknown step `{name}`", hint=hint, key=True)
            )
    return problems, bad


# --------------------------------------------------------------------------- semantic checks


def check_recipe(recipe: Any, raw: dict[str, Any], smap: SourceMap) -> list[Problem]:
    """Locations onto steps, then templates, the prepare/commit rule and recipe references."""
    attach_locations(recipe.steps, ("steps",), smap, "")
    attach_locations(recipe.reconcile, ("reconcile",), smap, "r")
    problems: list[Problem] = []
    problems += _check_gates(recipe, smap)
    problems += _check_commits(recipe, smap)
    problems += _check_templates(recipe, raw, smap)
    problems += _check_references(recipe, smap)
    problems += _check_reply_gates(recipe, smap)
    return problems


def attach_locations(steps: list[Step], path: PathKey, smap: SourceMap, prefix: str) -> None:
    for i, step in enumerate(steps):
        step_path = (*path, i)
        step._location = smap.location(step_path)
        step._number = f"{prefix}{i + 1}"
        for field, children in step.children():
            sub = f"{step._number}.{'else.' if field == 'else' else ''}"
            attach_locations(children, (*step_path, field), smap, sub)


def _walk(steps: list[Step], path: PathKey) -> list[tuple[PathKey, Step, int]]:
    out = []
    for i, step in enumerate(steps):
        out.append(((*path, i), step, len(path)))
        for field, children in step.children():
            out += _walk(children, (*path, i, field))
    return out


def _check_gates(recipe: Any, smap: SourceMap) -> list[Problem]:
    problems = []
    gate = recipe.gate_index()
    for path, step, depth in _walk(recipe.steps, ("steps",)) + _walk(
        recipe.reconcile, ("reconcile",)
    ):
        if step.key == "gate" and (depth > 1 or path[0] == "reconcile"):
            problems.append(
                smap.problem(
                    path,
                    "a gate must be a top-level step of `steps`",
                    hint="the gate is the one door to the commit phase; move it out of "
                    "if/for_each/reconcile",
                )
            )
        elif step.key == "gate" and step.when is not None:
            problems.append(
                smap.problem(
                    (*path, "when"),
                    "a gate cannot be conditional (`when`)",
                    hint="put the condition on the steps before it, or `expect` it",
                    key=True,
                )
            )
        elif step.key == "gate" and path[1] != gate:
            problems.append(
                smap.problem(path, "a recipe has at most one gate", hint="split the recipe")
            )
        if step.safe and step.mutates:
            problems.append(
                smap.problem(path, "a step cannot be both `safe: true` and `mutates: true`")
            )
    prepare_count = len(recipe.steps) if gate is None else gate
    for path, step, _depth in _walk(recipe.steps[:prepare_count], ("steps",)):
        if step.may_change_back_office():
            what = "is declared `mutates: true`" if step.mutates else "may change the back office"
            target = step.params.describe() if isinstance(step.params, Selector) else ""
            shown = f" on {target}" if target and "=" in target else ""
            where = "before the gate" if gate is not None else "in a recipe without a gate"
            problems.append(
                smap.problem(
                    path,
                    f"`{step.key}`{shown} {where} {what}",
                    hint="steps before the gate must not change the back office: if this only "
                    "opens or searches something, add `safe: true`; if it sends a change, "
                    "put it after a `gate` step",
                )
            )
    # AI steps (agent/steps/ai.py) read for the prepare phase only: after the gate, what runs
    # is what was approved, never a model's fresh reading.
    for path, step, _depth in _walk(recipe.steps, ("steps",)) + _walk(
        recipe.reconcile, ("reconcile",)
    ):
        in_commit = path[0] == "reconcile" or (gate is not None and int(path[1]) > gate)
        if in_commit and getattr(step, "prepare_only", False):
            where = "after the gate" if path[0] == "steps" else "in `reconcile`"
            problems.append(
                smap.problem(
                    path,
                    f"`{step.key}` cannot run {where} (the commit phase)",
                    hint="AI steps only read, before the gate: move it before the `gate` step",
                )
            )
        elif in_commit and step.fallback is not None:  # healing (agent/ai/heal.py) likewise
            where = "after the gate" if path[0] == "steps" else "in `reconcile`"
            problems.append(
                smap.problem(
                    (*path, "fallback"),
                    f"`fallback: ai` cannot be used {where} (the commit phase)",
                    hint="what runs after the gate is what was approved, never a model's "
                    "guess: fix the selector, or move the step before the `gate` step",
                    key=True,
                )
            )
    for path, step, _depth in _walk(recipe.reconcile, ("reconcile",)):
        if step.may_change_back_office():
            problems.append(
                smap.problem(
                    path,
                    f"`{step.key}` in `reconcile` may change the back office",
                    hint="reconcile steps only read; mark harmless clicks `safe: true`",
                )
            )
    return problems


COMMITS_EXAMPLE = 'commits: {method: POST, url: "**/refund", fields: {amount: amount}}'


def _check_commits(recipe: Any, smap: SourceMap) -> list[Problem]:
    """A gated recipe declares its commit request; its fields name the gate's binds; its
    templates use only names known at the gate."""
    gate = recipe.gate_index()
    commits = recipe.commits
    if gate is None:
        if commits is None:
            return []
        return [
            smap.problem(
                ("commits",),
                "`commits` declares the request a gate approves, but this recipe has no gate",
                hint="add a `gate` step before the commit steps, or remove `commits`",
                key=True,
            )
        ]
    if commits is None:
        return [
            smap.problem(
                ("steps", gate),
                "a recipe with a gate must declare its commit request (`commits:`)",
                hint=f"e.g. `{COMMITS_EXAMPLE}`: at commit, that request is held and released "
                "only when its fields equal the approved binds",
            )
        ]
    binds = sorted(recipe.steps[gate].params.binds)
    problems = []
    for field, bind in commits.fields.items():
        if bind in binds:
            continue
        close = difflib.get_close_matches(bind, binds, n=1)
        hint = (f"did you mean `{close[0]}`? " if close else "") + (
            f"the gate binds: {', '.join(binds) or 'nothing'}"
        )
        problems.append(
            smap.problem(
                ("commits", "fields", field),
                f"`{bind}` (for request field `{field}`) is not a bind of the gate",
                hint=hint,
            )
        )
    if "{%" in commits.url:
        problems.append(
            smap.problem(
                ("commits", "url"),
                "`commits.url` may use `{{ … }}` expressions only, not `{% … %}` blocks",
                hint="compute the value in a `set` step before the gate",
            )
        )
    scope = {name for step in recipe.steps[:gate] for name in step.defines()}
    inputs = list(recipe.inputs)
    texts: list[tuple[PathKey, str]] = [(("commits", "url"), commits.url)]
    texts += [(("commits", "fields", field), field) for field in commits.fields]
    for path, text in texts:
        problems += _template_problems(text, path, scope, inputs, smap)
    return problems


def _strings(value: Any, path: PathKey, skip: set[str]) -> list[tuple[PathKey, str]]:
    out: list[tuple[PathKey, str]] = []
    if isinstance(value, str):
        out.append((path, value))
    elif isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in ("$env", "$file", "$keyring"):
            return out
        for k, v in value.items():
            if k not in skip:
                out += _strings(v, (*path, k), skip)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _strings(v, (*path, i), skip)
    return out


def _template_problems(
    text: str, path: PathKey, scope: set[str], inputs: list[str], smap: SourceMap
) -> list[Problem]:
    if not is_template(text):
        return []
    try:
        names = referenced_names(text)
        input_uses = attribute_uses(text, "inputs")
    except TemplateSyntaxError as exc:
        return [
            smap.problem(
                path,
                f"template is not valid Jinja2: {exc.message}",
                hint="templates look like {{ inputs.order_id }} or {{ total > 0 }}",
            )
        ]
    problems = []
    for name in sorted(names - scope - BUILTIN_NAMES):
        known = sorted(scope | BUILTIN_NAMES)
        close = difflib.get_close_matches(name, known, n=1)
        hint = (f"did you mean `{close[0]}`? " if close else "") + (
            f"defined at this point: {', '.join(known)}"
        )
        problems.append(
            _at_name(smap, path, name, f"undefined variable `{name}` in template", hint)
        )
    for field in input_uses:
        if field not in inputs:
            close = difflib.get_close_matches(field, inputs, n=1)
            hint = (f"did you mean `inputs.{close[0]}`? " if close else "") + (
                f"declared inputs: {', '.join(inputs) or 'none'}"
            )
            problems.append(
                _at_name(smap, path, field, f"`inputs.{field}` is not a declared input", hint)
            )
    return problems


def _at_name(smap: SourceMap, path: PathKey, name: str, message: str, hint: str) -> Problem:
    """A problem whose column points at the name inside the template, when on that line."""
    where = smap.location(path)
    line = smap.line_text(where) or ""
    match = re.compile(rf"\b{re.escape(name)}\b").search(line, where.column - 1)
    if match:
        where = Location(where.path, where.line, match.start() + 1)
    return Problem(where, message, hint=hint, source_line=smap.line_text(where))


def _check_templates(recipe: Any, raw: dict[str, Any], smap: SourceMap) -> list[Problem]:
    inputs = list(recipe.inputs)
    problems: list[Problem] = []

    def visit(steps: list[Step], raws: list[Any], path: PathKey, scope: set[str]) -> set[str]:
        scope = set(scope)
        for i, (step, raw_step) in enumerate(zip(steps, raws, strict=False)):
            step_path = (*path, i)
            nested = set(NESTED_KEYS.get(step.key, ()))
            for spath, text in _strings(raw_step, step_path, nested):
                problems.extend(_template_problems(text, spath, scope, inputs, smap))
            body_scope = scope | set(step.body_defines())
            for field, children in step.children():
                visit(children, raw_step.get(field) or [], (*step_path, field), body_scope)
            scope |= set(step.defines())
        return scope

    final = visit(recipe.steps, raw.get("steps") or [], ("steps",), set())
    # reconcile steps also see `approved`: the binds of the approval they check against
    visit(recipe.reconcile, raw.get("reconcile") or [], ("reconcile",), final | {"approved"})
    for spath, text in _strings(raw.get("outputs") or {}, ("outputs",), set()):
        problems.extend(_template_problems(text, spath, final, inputs, smap))
    return problems


def _has_gate(folder: Any, name: str) -> bool:
    """Read (not load: calls may be circular) whether a neighbour recipe has a gate."""
    from agent.core.files import FileRefused
    from agent.core.safe_yaml import load_file
    from agent.recipes.yaml_source import RECIPE_LIMITS

    for ext in (".yaml", ".yml"):
        path = folder / f"{name}{ext}"
        if path.is_file():
            try:  # bounded like the recipe itself: a hostile neighbour must not hang this one
                data = load_file(path, what="recipe", limits=RECIPE_LIMITS)
            except FileRefused:
                return False
            steps = data.get("steps") if isinstance(data, dict) else None
            return any(isinstance(s, dict) and "gate" in s for s in steps or [])
    return False


def _check_references(recipe: Any, smap: SourceMap) -> list[Problem]:
    """`session:` and `call:` name recipes next to this one."""
    folder = recipe.flavor_dir
    if folder is None:
        return []
    known = sorted(p.stem for p in folder.glob("*.y*ml"))
    problems = []

    def check(name: str, path: PathKey) -> None:
        if is_template(name):
            return
        if name in known:
            if path[-1] == "call" and _has_gate(folder, name):
                problems.append(
                    smap.problem(
                        path,
                        f"recipe `{name}` has a gate; only recipes without one can be called",
                        hint="a gate pauses the whole run: put it in this recipe instead",
                    )
                )
            return
        close = difflib.get_close_matches(name, known, n=1)
        hint = (f"did you mean `{close[0]}`? " if close else "") + (
            f"recipes in {folder.name}/: {', '.join(known)}"
        )
        problems.append(smap.problem(path, f"no recipe `{name}` next to this one", hint=hint))

    if recipe.session:
        check(recipe.session, ("session",))
    for path, step, _ in _walk(recipe.steps, ("steps",)):
        if step.key == "call":
            check(step.params.recipe, (*path, "call"))
    return problems


def _check_reply_gates(recipe: Any, smap: SourceMap) -> list[Problem]:
    """A `draft_reply` that may promise a refund or compensation is followed by a gate that
    binds its text (agent/steps/reply.py)."""
    from agent.steps.reply import unreviewed_promises

    walked = _walk(recipe.steps, ("steps",)) + _walk(recipe.reconcile, ("reconcile",))
    return [
        smap.problem(path, msg, hint=hint)
        for path, msg, hint in unreviewed_promises(recipe, walked)
    ]
