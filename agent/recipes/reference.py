"""The recipe reference, generated from the code (as ansible generates its module docs).

    python -m agent.recipes.reference > docs/recipes/reference.md

Everything in it is read from the classes that validate and run recipes, so it cannot drift:
the recipe file's keys (`Recipe`), inputs (`InputSpec`), the keys every step has (`Step`),
each registered step (agent/steps: its docstring, effect, example and every option with its
type, default and description), the option models they use (selectors, extract specs, table
options), coercions (`as:`), the filters and tests templates may use, and a site's settings
in config.yaml. tests/docs/test_reference.py checks that every step option is described here
and that the committed docs/recipes/reference.md is what this module writes.

The guide (docs/recipes/guide.md) explains; this file lists.
"""

from __future__ import annotations

import inspect
import sys
import textwrap
import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from agent.core.settings import SiteSettings
from agent.recipes import coerce
from agent.recipes.inputs import InputSpec
from agent.recipes.model import CommitRequest, LoggedInCheck, Recipe
from agent.recipes.templating import environment
from agent.steps import COMMON_KEYS, STEP_TYPES, Step

# What each step effect means for the prepare/commit rule (agent/steps/base.py).
EFFECTS = {
    "read": "looks only; allowed anywhere",
    "stage": "edits a form in the browser, nothing is sent; allowed anywhere",
    "act": "a click or key press that may send something: after the gate, unless `safe: true`",
    "control": "runs other steps (each is checked on its own)",
    "gate": "the door to the commit phase",
}

# Where each option model is explained in the guide, shown under its heading.
MODEL_NOTES = {
    "Selector": "Exactly one of role/label/text/placeholder/testid/css, optionally scoped "
    "(`within`, `has`, `has_text`) and picked (`nth`). A string `KIND=VALUE` is short for "
    "the mapping.",
    "TableSpec": "A table read by its column headers: a list of mappings, one per data row.",
    "RowsSpec": "Repeated blocks (cards, list items): a list of mappings, one per block.",
    "FieldSpec": "One value read from one element (a selector plus how to read it).",
    "ColumnSpec": "One column of a table: its header text, or a mapping.",
}


def field_name(name: str, info: FieldInfo) -> str:
    """The key a recipe writes (the alias when there is one: `as`, `with`, `else`)."""
    return info.alias or name


def type_text(annotation: Any) -> str:
    """A short, readable type: `text`, `number`, `list of selector`, `a | b`."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_text(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        if all(isinstance(a, type) and issubclass(a, Step) for a in args):
            return "[step](#steps)"
        parts = [type_text(a) for a in args if a is not type(None)]
        return " or ".join(dict.fromkeys(parts))
    if origin in (list, tuple, set, frozenset):
        return f"list of {type_text(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of {type_text(args[1])}" if len(args) == 2 else "mapping"
    if isinstance(annotation, type) and issubclass(annotation, Step):
        return "[step](#steps)"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    simple = {str: "text", int: "integer", float: "number", bool: "true/false", Any: "any"}
    if annotation in simple:
        return simple[annotation]
    if isinstance(annotation, type):
        return annotation.__name__
    text = str(annotation).replace("typing.", "")
    return "[step](#steps)" if "Step" in text else text


def default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    factory = info.default_factory
    value = factory() if factory is not None else info.default  # type: ignore[call-arg]
    if value is PydanticUndefined or value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if value in ({}, []):
        return ""
    return f"`{value}`"


def nested_models(annotation: Any) -> Iterator[type[BaseModel]]:
    """Option models an annotation refers to (not steps: those have their own section)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if not issubclass(annotation, Step):
            yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from nested_models(arg)


def options_table(fields: dict[str, FieldInfo], skip: frozenset[str] = frozenset()) -> str:
    rows = ["| option | type | default | what |", "| --- | --- | --- | --- |"]
    for name, info in fields.items():
        if name in skip:
            continue
        description = " ".join((info.description or "").split()).replace("|", "\\|")
        rows.append(
            f"| `{field_name(name, info)}` | {type_text(info.annotation)} | "
            f"{default_text(info)} | {description} |"
        )
    return "\n".join(rows)


def step_options(cls: type[Step]) -> dict[str, FieldInfo]:
    """A step's own options: the fields of its action model (or the action key itself),
    plus its sibling keys (`then`, `else`, `as`, `steps` …), without the common keys."""
    action_name = next(f for f in cls.model_fields if f in (cls.key, f"{cls.key}_"))
    action = cls.model_fields[action_name]
    out: dict[str, FieldInfo] = {}
    annotation = action.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        out.update(annotation.model_fields)
    else:
        out[action_name] = action
    for name, info in cls.model_fields.items():
        if name not in COMMON_KEYS and name != action_name:
            out[name] = info
    return out


def step_example(cls: type[Step]) -> str:
    """The `Example::` block of the step's docstring, else of its module's."""
    for doc in (inspect.getdoc(cls), inspect.getmodule(cls).__doc__):
        if doc and "Example::" in doc:
            block = doc.split("Example::", 1)[1]
            lines = []
            for line in block.splitlines()[1:]:
                if line.strip() and not line.startswith(" "):
                    break
                lines.append(line)
            return textwrap.dedent("\n".join(lines)).strip("\n")
    return ""


def anchor(name: str) -> str:
    """An explicit anchor, so that type links work whatever the heading says."""
    return f'<a id="{name.lower()}"></a>\n'


def _section_steps(models: dict[str, type[BaseModel]]) -> list[str]:
    out = ["## Steps", ""]
    out.append("| step | effect | what |")
    out.append("| --- | --- | --- |")
    for key, cls in STEP_TYPES.items():
        summary = " ".join((inspect.getdoc(cls) or "").split("\n\n")[0].split())
        out.append(f"| [`{key}`](#step-{key.replace('_', '-')}) | {cls.effect} | {summary} |")
    out.append("")
    for key, cls in STEP_TYPES.items():
        module = cls.__module__.replace(".", "/") + ".py"
        doc = inspect.getdoc(cls) or ""
        out += [f"### step: {key}", ""]
        out += [f"Effect: **{cls.effect}** ({EFFECTS[cls.effect]}). Code: `{module}`.", ""]
        out += [doc.split("Example::")[0].strip(), ""]
        example = step_example(cls)
        if example:
            out += ["```yaml", example, "```", ""]
        options = step_options(cls)
        out += [options_table(options), ""]
        for info in options.values():
            for model in nested_models(info.annotation):
                models.setdefault(model.__name__, model)
    return out


def _section_models(models: dict[str, type[BaseModel]]) -> list[str]:
    out = ["## Option models", "", "Mappings that steps take as option values.", ""]
    done: set[str] = set()
    queue = sorted(models)
    while queue:
        name = queue.pop(0)
        if name in done:
            continue
        done.add(name)
        model = models[name]
        own_doc = model.__dict__.get("__doc__") or ""  # not the base class's
        note = MODEL_NOTES.get(name) or " ".join(own_doc.split())
        out += [anchor(name), f"### {name}", "", note, "", options_table(model.model_fields), ""]
        for info in model.model_fields.values():
            for inner in nested_models(info.annotation):
                if inner.__name__ not in done:
                    models.setdefault(inner.__name__, inner)
                    queue.append(inner.__name__)
    return out


def _section_templates() -> list[str]:
    env = environment()
    out = ["## Templates: filters and tests", ""]
    out.append(
        "Templates are Jinja2, sandboxed, strict about undefined names and bounded in time, "
        "size and loops (agent/recipes/templating.py). These filters and tests are available:"
    )
    out += ["", "| filter | what |", "| --- | --- |"]
    for name in sorted(env.filters):
        out.append(f"| `{name}` | {_first_line(env.filters[name])} |")
    out += ["", "| test (`x is NAME`) | what |", "| --- | --- |"]
    for name in sorted(env.tests):
        out.append(f"| `{name}` | {_first_line(env.tests[name])} |")
    out += ["", "Globals: " + ", ".join(f"`{g}`" for g in sorted(env.globals)), ""]
    return out


def _first_line(func: Any) -> str:
    doc = inspect.getdoc(func) or ""
    line = " ".join(doc.split("\n\n")[0].split())
    return line.replace("|", "\\|") or "(Jinja2 built-in)"


def _section_coercions() -> list[str]:
    values = typing.get_args(coerce.Coercion)
    doc = coerce.__doc__ or ""
    rules = doc.split("\n\n", 1)[1] if "\n\n" in doc else doc
    out = ["## Coercions (`as:`)", ""]
    out.append(
        "`as:` on an extracted field or a table column: " + ", ".join(f"`{v}`" for v in values)
    )
    out += ["", rules.strip(), ""]
    return out


def reference() -> str:
    """The whole reference, as Markdown."""
    models: dict[str, type[BaseModel]] = {}
    out = [
        "# Recipe reference",
        "",
        "<!-- Generated by `python -m agent.recipes.reference`: do not edit by hand. -->",
        "",
        "Every key a recipe may use, read from the code. How to use them: "
        "[the recipe author's guide](guide.md).",
        "",
        "## The recipe file",
        "",
        options_table(Recipe.model_fields),
        "",
        anchor("LoggedInCheck"),
        "### logged_in",
        "",
        options_table(LoggedInCheck.model_fields),
        "",
        anchor("CommitRequest"),
        "### commits",
        "",
        " ".join((inspect.getdoc(CommitRequest) or "").split("\n\n")[0].split()),
        "",
        options_table(CommitRequest.model_fields),
        "",
        anchor("InputSpec"),
        "## Inputs",
        "",
        "Each input is a JSON-schema subset (JSON spellings such as `exclusiveMinimum` work).",
        "",
        options_table(InputSpec.model_fields),
        "",
        "## Keys every step has",
        "",
        options_table(Step.model_fields),
        "",
        "| effect | meaning |",
        "| --- | --- |",
        *(f"| {effect} | {meaning} |" for effect, meaning in EFFECTS.items()),
        "",
    ]
    out += _section_steps(models)
    out += _section_models(models)
    out += _section_coercions()
    out += _section_templates()
    out += [
        "## Site settings (config.yaml `sites.NAME`)",
        "",
        options_table(SiteSettings.model_fields),
        "",
    ]
    return "\n".join(out).rstrip("\n") + "\n"


def main() -> None:
    sys.stdout.write(reference())


if __name__ == "__main__":
    main()
