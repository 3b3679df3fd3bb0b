"""Healing a selector that matches nothing, for one run, and the recipe change a person reviews.

A step with `fallback: ai` whose selector matches nothing (layouts change; ids and classes
first) asks the LLM, in the prepare phase only, which element of the page's accessibility tree
it meant, as `{role, name}`. The answer is used for this run only when it matches exactly one
element (of the step's role, when it had one); the run records `locator_healed` (step, old
selector, new selector, model, why). Nothing changes in the recipe file: `aijia recipes heal
RUN` shows the proposed change as a unified diff, and `--accept` edits the selector's line
text (comments and layout stay; the YAML is never round-tripped).

Refused, with the original error and the reason: in the commit phase (what runs there is what
was approved; agent/recipes/checks.py refuses `fallback: ai` after the gate at load time too),
without an LLM, when the answer matches 0 or several elements, has another role, or looks like
a template (seller pages are hostile: a name is never rendered).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.browser.selectors import ARIA_ROLES, KINDS, Selector, build_locator
from agent.core.errors import AgentError, ConfigError, SelectorError, StepError

if TYPE_CHECKING:
    from yaml import MappingNode, Node

    from agent.engine.context import RunContext
    from agent.steps.base import Step

# Send at most this much of the accessibility tree.
MAX_TREE_CHARS = 20_000
# The roles a step of these kinds can act on; other kinds: the step's own role, or any.
STEP_ROLES = {
    "fill": ("textbox", "searchbox", "spinbutton", "combobox"),
    "select": ("combobox", "listbox"),
    "check": ("checkbox", "radio", "switch"),
}
_TASK = (
    "A step of a back-office recipe could not find its element: the page's layout changed. "
    "Find, in the accessibility tree in the DATA block, the one element the step was meant "
    "for. Answer its ARIA role and its accessible name exactly as the tree shows them, and in "
    "`why` one short sentence on why it is that element."
)


async def run_with_fallback(ctx: RunContext, step: Step) -> None:
    """Run `step`; when its selector matches nothing, heal it (see the module) and run the
    healed copy. Any other failure, or a refused healing, fails the step as before."""

    try:
        await step.run(ctx)
        return
    except SelectorError as exc:
        if "matched nothing" not in exc.message:
            raise
        error = exc
    key = (step.number, ctx.render_selector(step.params).describe())
    healed_before = _healed(ctx).get(key)
    if healed_before is not None:  # a loop, a retry: the same broken selector again
        try:
            await _run_healed(ctx, healed_before)
            ctx.event("locator_heal_reused", {"step": step.number, "old": key[1]})
            return
        except SelectorError as again:
            if "matched nothing" not in again.message:
                raise
    healed = await heal_step(ctx, step, error)
    _healed(ctx)[key] = healed
    await _run_healed(ctx, healed)


async def _run_healed(ctx: RunContext, healed: Step) -> None:
    from agent.recipes.template_limits import render_deadline

    with render_deadline(ctx.timeout_ms(healed) / 1000):  # the wait and the LLM used its own
        await healed.run(ctx)


def _healed(ctx: RunContext) -> dict[tuple[str, str], Step]:
    """This run's healed steps, by (step number, the rendered selector that matched nothing):
    a step in a loop asks the model once per distinct selector, not once per pass. Keyed by
    the rendered selector, so `name: "{{ row.id }}"` healed for one row is never reused for
    another."""
    cache: dict[tuple[str, str], Step] | None = getattr(ctx, "_ai_healed", None)
    if cache is None:
        cache = {}
        setattr(ctx, "_ai_healed", cache)  # noqa: B010  (RunContext has no field for it)
    return cache


async def heal_step(ctx: RunContext, step: Step, error: SelectorError) -> Step:
    """A copy of `step` whose selector is the model's `{role, name}`, or the original error
    with why healing was refused."""
    from agent.ai.llm import LLM, NO_LLM_HINT

    def refused(reason: str, hint: str | None = None) -> SelectorError:
        return SelectorError(f"{error.message}; healing refused: {reason}", hint=hint or error.hint)

    if ctx.phase != "prepare":
        raise refused("`fallback: ai` runs only in the prepare phase, never after the gate")
    try:
        llm = LLM.from_settings(ctx.settings)
    except ConfigError as exc:
        raise refused(exc.message, f"{exc.hint or NO_LLM_HINT}; or fix the selector") from None
    params: Selector = step.params
    old = ctx.render_selector(params)
    roles = _expected_roles(step, params)
    timeout = ctx.timeout_ms(step)
    tree = await ctx.page.locator("body").aria_snapshot(timeout=timeout)
    if len(tree) > MAX_TREE_CHARS:
        tree = tree[:MAX_TREE_CHARS] + "\n[… cut]"
    what = f"`{step.key}`" + (f" (named {step.name!r})" if step.name else "")
    try:
        answer = await llm.structured(
            ctx,
            purpose=f"healing (step {step.number or '?'})",
            instructions=f"{_TASK}\nThe step: {what}, its selector {old.describe()}.",
            data=tree,
            schema=_schema(roles),
        )
    except AgentError as exc:
        raise refused(f"the model gave no usable answer ({exc.message})") from None
    role, name, why = str(answer["role"]), str(answer["name"]), str(answer["why"])
    new = {"role": role, "name": name}
    if "{{" in name or "{%" in name:
        ctx.event("locator_heal_refused", {"step": step.number, "proposed": new, "why": why})
        raise refused(f"the proposed name {name!r} looks like a template")
    healed_params = params.model_copy(update={**dict.fromkeys(KINDS), **new})
    rendered = old.model_copy(update={**dict.fromkeys(KINDS), **new})
    count = await build_locator(ctx.page, rendered).count()
    if count != 1:
        ctx.event(
            "locator_heal_refused",
            {"step": step.number, "proposed": new, "matched": count, "why": why},
        )
        raise refused(
            f"matched {count} elements with {rendered.describe()} (the model's answer), "
            "expected exactly one",
            "fix the selector in the recipe (layouts change; labels and roles should not)",
        )
    location = step.location
    ctx.event(
        "locator_healed",
        {
            "step": step.number,
            "kind": step.key,
            "recipe_file": str(Path(location.path).resolve()) if location else None,
            "line": location.line if location else None,
            "column": location.column if location else None,
            "old_selector": old_selector(params),
            "old": old.describe(),
            "new_selector": new,
            "model": llm.model,
            "why": why,
            "url": ctx.page.url,
        },
    )
    return step.model_copy(update={step.key: healed_params, "fallback": None})


def _expected_roles(step: Step, params: Selector) -> list[str]:
    if params.role is not None and "{{" not in params.role:
        return [params.role]
    return list(STEP_ROLES.get(step.key, sorted(ARIA_ROLES)))


def _schema(roles: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "role": {"type": "string", "enum": roles, "description": "the element's ARIA role"},
            "name": {"type": "string", "description": "its accessible name, exactly"},
            "why": {"type": "string", "description": "why this element, in one sentence"},
        },
        "required": ["role", "name", "why"],
        "additionalProperties": False,
    }


def old_selector(params: Selector) -> dict[str, Any]:
    """The selector as the recipe writes it (templates unrendered): its kind and name."""
    kind = params.kind()
    out = {kind: getattr(params, kind)}
    if params.name is not None:
        out["name"] = params.name
    return out


# ---------------------------------------------------------------------- the recipe change


@dataclass(frozen=True)
class Healing:
    """One `locator_healed` event, as `aijia recipes heal` proposes it."""

    step: str
    kind: str
    recipe_file: str
    line: int
    column: int
    old_selector: dict[str, Any]
    new_selector: dict[str, str]
    why: str

    @classmethod
    def from_event(cls, data: Mapping[str, Any]) -> Healing:
        return cls(
            step=str(data["step"]),
            kind=str(data["kind"]),
            recipe_file=str(data["recipe_file"]),
            line=int(data["line"]),
            column=int(data["column"]),
            old_selector=dict(data["old_selector"]),
            new_selector={k: str(v) for k, v in data["new_selector"].items()},
            why=str(data.get("why", "")),
        )


def healed_text(text: str, healings: list[Healing]) -> str:
    """`text` (one recipe file) with each healed step's selector replaced by its `{role,
    name}`: only the selector's own characters change. StepError when a step is no longer
    where the run found it, or its selector changed since."""
    from agent.core.safe_yaml import compose

    root = compose(text, healings[0].recipe_file if healings else "recipe")
    edits: list[tuple[int, int, str]] = []
    latest = {(h.line, h.column): h for h in healings}  # a step healed twice: the last answer
    for healing in latest.values():
        step = _node_at(root, healing.line - 1, healing.column - 1)
        if step is None:
            raise StepError(
                f"{healing.recipe_file}:{healing.line}: step {healing.step} is no longer there",
                hint="the recipe changed since the run; run it again to heal it afresh",
            )
        edits += _selector_edits(step, healing)
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _node_at(node: Node | None, line: int, column: int) -> MappingNode | None:
    from yaml import MappingNode, SequenceNode

    if node is None:
        return None
    if isinstance(node, MappingNode):
        if (node.start_mark.line, node.start_mark.column) == (line, column):
            return node
        children = [v for _, v in node.value]
    elif isinstance(node, SequenceNode):
        children = list(node.value)
    else:
        return None
    for child in children:
        found = _node_at(child, line, column)
        if found is not None:
            return found
    return None


def _selector_edits(step: MappingNode, healing: Healing) -> list[tuple[int, int, str]]:
    """(start, end, replacement) character spans that turn the step's selector into the new one."""
    from yaml import MappingNode, ScalarNode

    params = next((v for k, v in step.value if k.value == healing.kind), None)
    role, name = healing.new_selector["role"], json.dumps(healing.new_selector["name"])
    changed = StepError(
        f"{healing.recipe_file}:{healing.line}: the selector of step {healing.step} changed "
        f"since the run (expected {healing.old_selector})",
        hint="run the recipe again to heal it afresh",
    )
    if isinstance(params, ScalarNode):  # the shorthand "css=#refund"
        kind, _, value = params.value.partition("=")
        if {kind.strip(): value.strip()} != healing.old_selector:
            raise changed
        span = (params.start_mark.index, params.end_mark.index)
        return [(*span, f"{{role: {role}, name: {name}}}")]
    if not isinstance(params, MappingNode):
        raise changed
    entries = {k.value: (k, v) for k, v in params.value if isinstance(k, ScalarNode)}
    kind = next((k for k in KINDS if k in entries), None)
    if kind is None or any(
        entries.get(k, (None, None))[1] is None or entries[k][1].value != v
        for k, v in healing.old_selector.items()
    ):
        raise changed
    key_node, value_node = entries[kind]
    indent = " " * key_node.start_mark.column
    gap = ", " if params.flow_style else "\n" + indent
    if kind != "role":
        span = (key_node.start_mark.index, value_node.end_mark.index)
        return [(*span, f"role: {role}{gap}name: {name}")]
    edits = [(value_node.start_mark.index, value_node.end_mark.index, role)]
    if "name" in entries:
        name_node = entries["name"][1]
        edits.append((name_node.start_mark.index, name_node.end_mark.index, name))
    else:
        end = value_node.end_mark.index
        edits.append((end, end, f"{gap}name: {name}"))
    return edits
