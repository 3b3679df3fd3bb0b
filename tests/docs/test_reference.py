"""The generated recipe reference (agent/recipes/reference.py, docs/recipes/reference.md):
every registered step and every option it takes, down through the option models it uses
(selectors, extract specs, table options …), is described there; and the committed file is
what the generator writes now (regenerate with
`python -m agent.recipes.reference > docs/recipes/reference.md`)."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel

from agent.recipes import reference as ref
from agent.steps import COMMON_KEYS, STEP_TYPES, Step
from tests.docs.conftest import REPO

COMMITTED = REPO / "docs" / "recipes" / "reference.md"
TEXT = ref.reference()


def section(heading: str) -> str:
    """The text under `heading` (a whole line) up to the next heading of any level."""
    match = re.search(rf"^{re.escape(heading)}\n(.*?)(?=^#{{1,3}} |\Z)", TEXT, re.M | re.S)
    assert match, f"the reference has no section {heading!r}"
    return match.group(1)


def documented(text: str, key: str) -> str:
    """The description of option `key` in a table of `text` ('' when absent or empty)."""
    row = re.search(rf"^\| `{re.escape(key)}` \|[^\n]*\| ([^|\n]*) \|$", text, re.M)
    return row.group(1).strip() if row else ""


def option_models() -> dict[str, type[BaseModel]]:
    """Every option model reachable from a step's options, by name."""
    found: dict[str, type[BaseModel]] = {}
    queue = [
        info.annotation for cls in STEP_TYPES.values() for info in ref.step_options(cls).values()
    ]
    while queue:
        for model in ref.nested_models(queue.pop()):
            if model.__name__ not in found:
                found[model.__name__] = model
                queue += [info.annotation for info in model.model_fields.values()]
    return found


@pytest.mark.parametrize("key", list(STEP_TYPES))
def test_every_step_and_each_of_its_options_is_described(key: str):
    cls = STEP_TYPES[key]
    text = section(f"### step: {key}")
    assert f"Effect: **{cls.effect}**" in text
    options = ref.step_options(cls)
    assert options, f"step {key} has no options?"
    for name, info in options.items():
        shown = ref.field_name(name, info)
        assert documented(text, shown), f"step `{key}`: option `{shown}` has no description"


@pytest.mark.parametrize("name", sorted(option_models()))
def test_every_option_model_field_is_described(name: str):
    model = option_models()[name]
    text = section(f"### {name}")
    for field, info in model.model_fields.items():
        shown = ref.field_name(field, info)
        assert documented(text, shown), f"{name}: `{shown}` has no description"


def test_common_step_keys_filters_coercions_and_site_settings_are_listed():
    keys = section("## Keys every step has")
    for name in COMMON_KEYS:
        assert documented(keys, name), f"common step key `{name}` has no description"
    from agent.recipes.templating import environment

    templates = section("## Templates: filters and tests")
    for name in [*environment().filters, *environment().tests]:
        assert f"| `{name}` |" in templates, f"template filter/test `{name}` is not listed"
    for coercion in ("int", "number", "money", "date", "bool"):
        assert f"`{coercion}`" in section("## Coercions (`as:`)")
    assert documented(section("## Site settings (config.yaml `sites.NAME`)"), "allowed_origins")


def test_the_table_options_for_footers_empty_tables_and_filters_are_documented():
    table = section("### TableSpec")
    for option in ("footer_rows", "empty_text", "where", "where_not", "optional"):
        assert documented(table, option), option


def test_a_step_added_without_descriptions_would_fail():
    """The check above is not vacuous: a field with no description is reported."""

    class Bare(BaseModel):
        thing: int = 0

    assert ref.options_table(Bare.model_fields).splitlines()[-1].endswith("|  |")
    assert not documented(ref.options_table(Bare.model_fields), "thing")
    assert issubclass(STEP_TYPES["gate"], Step)


def test_the_committed_reference_is_up_to_date():
    assert COMMITTED.exists(), "docs/recipes/reference.md is missing"
    assert COMMITTED.read_text(encoding="utf-8") == TEXT, (
        "docs/recipes/reference.md is stale: run "
        "`python -m agent.recipes.reference > docs/recipes/reference.md`"
    )
