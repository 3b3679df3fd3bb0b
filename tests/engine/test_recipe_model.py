"""The recipe model without a browser: documented examples, schema, templates, inputs, rules."""

from __future__ import annotations

import inspect
import re
import textwrap
from pathlib import Path

import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

import agent.steps as steps_pkg
from agent.browser.guard import SiteGuard
from agent.browser.selectors import Selector
from agent.core.errors import StepError
from agent.core.secrets import MASK, Masker
from agent.core.settings import SiteSettings
from agent.recipes.coerce import coerce, parse_money
from agent.recipes.inputs import bind_inputs
from agent.recipes.model import find_recipe, load_recipe, recipe_schema, validate_paths
from agent.recipes.templating import render
from agent.steps import STEP_TYPES, AnyStep
from tests.engine.conftest import RECIPES

STEP = TypeAdapter(AnyStep)


def _examples(obj: object) -> list[str]:
    """YAML blocks after `Example::` in a docstring."""
    doc = inspect.getdoc(obj) or ""
    blocks = []
    for match in re.finditer(r"Example::\n\n((?:(?: {4}.*)?\n?)+)", doc + "\n"):
        blocks.append(textwrap.dedent(match.group(1)))
    return blocks


def _documented() -> list[tuple[str, str]]:
    out = []
    modules = {inspect.getmodule(cls) for cls in STEP_TYPES.values()}
    ordered = sorted(modules, key=lambda m: getattr(m, "__name__", ""))  # same ids in every worker
    for owner in [*STEP_TYPES.values(), *ordered]:
        for block in _examples(owner):
            out.append((getattr(owner, "__name__", str(owner)), block))
    return out


def test_every_step_documents_an_example() -> None:
    for key, cls in STEP_TYPES.items():
        assert _examples(cls), f"step {key} ({cls.__name__}) has no Example:: in its docstring"
        assert cls.__doc__ and cls.__doc__.strip()
        params = cls.model_fields[next(f for f in cls.model_fields if f in (key, f"{key}_"))]
        assert params.description, f"step {key}: the action field has no description"


@pytest.mark.parametrize(("owner", "block"), _documented(), ids=lambda v: str(v)[:30])
def test_documented_examples_load(owner: str, block: str) -> None:
    data = yaml.safe_load(block)
    assert isinstance(data, list), block
    for step in data:
        STEP.validate_python(step)


def test_every_params_field_is_described() -> None:
    from agent.recipes.model import Recipe, _models_by_name

    missing = []
    for name, model in _models_by_name(Recipe).items():
        for field, info in model.model_fields.items():
            if not info.description and not name.endswith("Spec") and model is not Selector:
                missing.append(f"{name}.{field}")
    # a few structural fields are self-explanatory; keep the list short and explicit
    allowed = {"InputSpec.min_length", "InputSpec.max_length"}
    assert set(missing) <= allowed, sorted(set(missing) - allowed)


def test_schema_accepts_good_recipes_and_rejects_bad_ones() -> None:
    import jsonschema

    schema = recipe_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in (RECIPES / "local").glob("*.yaml"):
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert errors == [], (path, [e.message for e in errors][:3])
    bad = {"name": "x", "steps": [{"clik": {"role": "button"}}]}
    assert list(validator.iter_errors(bad))


def test_step_keys_are_the_registry_and_one_module_per_family() -> None:
    families = {cls.__module__ for cls in STEP_TYPES.values()}
    # each family is a row of the registry's table (agent/steps/__init__.py docstring)
    table = re.findall(r"\| steps/(\w+)\.py", steps_pkg.__doc__ or "")
    assert families == {f"agent.steps.{name}" for name in table}
    for key, cls in STEP_TYPES.items():
        assert cls.key == key
        assert key in cls.model_fields or f"{key}_" in cls.model_fields
    pkg = Path(steps_pkg.__file__).parent
    assert {f"agent.steps.{p.stem}" for p in pkg.glob("*.py")} - families == {
        "agent.steps.__init__",
        "agent.steps.base",
    }


def test_templates_keep_native_types_and_are_strict() -> None:
    scope = {"inputs": {"amount": 12.5}, "items": [1, 2]}
    assert render("{{ inputs.amount }}", scope) == 12.5
    assert render("{{ items }}", scope) == [1, 2]
    assert render("total {{ inputs.amount }}", scope) == "total 12.5"
    assert render({"a": ["{{ inputs.amount > 3 }}"]}, scope) == {"a": [True]}
    with pytest.raises(StepError, match="nope"):
        render("{{ nope }}", scope)
    with pytest.raises(StepError):
        render("{{ ''.__class__.__mro__ }}", scope)  # the sandbox refuses internals


def test_money_dates_and_numbers() -> None:
    assert parse_money("$1,234.56") == {"amount": 1234.56, "currency": "USD"}
    assert parse_money("€1.234,50") == {"amount": 1234.5, "currency": "EUR"}
    assert parse_money("RM 12.00") == {"amount": 12.0, "currency": "MYR"}
    assert parse_money("12.50 SGD") == {"amount": 12.5, "currency": "SGD"}
    assert parse_money("-$5.00")["amount"] == -5.0
    assert coerce("20 Nov 2026", "date") == "2026-11-20"
    assert coerce("Nov 20, 2026 14:05", "date") == "2026-11-20T14:05:00"
    assert coerce("20/11/2026", "date", date_format="%d/%m/%Y") == "2026-11-20"
    assert coerce(" 1,204 ", "int") == 1204  # "1,204 pcs" is refused: test_strict_coercion
    with pytest.raises(ValueError, match="expected a date"):
        coerce("soon", "date")


def test_selector_shorthand_and_rules() -> None:
    assert Selector.model_validate("label=Amount").label == "Amount"
    assert Selector.model_validate("css=a[href='x=y']").css == "a[href='x=y']"
    with pytest.raises(ValidationError, match="exactly one"):
        Selector.model_validate({"label": "A", "text": "B"})
    sel = Selector.model_validate({"label": "Amount", "within": {"role": "dialog"}, "nth": 0})
    assert sel.describe() == "label='Amount' nth=0 within (role='dialog')"


def test_bind_inputs_coerces_text_and_applies_defaults() -> None:
    recipe = load_recipe(RECIPES / "local" / "prepare_refund.yaml")
    bound = bind_inputs(recipe, {"order_id": "A100000000001", "amount": "12.50"})
    assert bound == {"order_id": "A100000000001", "amount": 12.5, "reason": "damaged"}


def test_guard_is_exact_on_scheme_host_and_port() -> None:
    guard = SiteGuard(
        SiteSettings(base_url="http://127.0.0.1:8700", allowed_origins=["https://cdn.test"])
    )
    assert guard.refusal("http://127.0.0.1:8700/orders") is None
    assert guard.refusal("https://cdn.test/a.png") is None
    assert guard.refusal("https://CDN.TEST:443/a.png") is None
    assert guard.refusal(guard.absolute("/orders?x=1")) is None
    for bad in (
        "http://127.0.0.1:8701/",  # another port
        "https://127.0.0.1:8700/",  # another scheme
        "http://cdn.test/a.png",  # the CDN over plain http
        "https://img.cdn.test/a.png",  # a sub-domain
        "https://cdn.test.:443/a.png",  # a trailing dot is another host name
        "https://evil.example/",
        "data:text/html,<h1>hi</h1>",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "http://user:pw@127.0.0.1:8700/",
    ):
        assert guard.refusal(bad), bad


def test_base_url_without_port_allows_only_the_default_port() -> None:
    guard = SiteGuard(SiteSettings(base_url="https://seller.example"))
    assert guard.refusal("https://seller.example/x") is None
    assert guard.refusal("https://seller.example:443/x") is None
    assert guard.refusal("https://seller.example:8443/x")
    assert guard.refusal("http://seller.example/x")


@pytest.mark.parametrize(
    ("origins", "message"),
    [
        (["cdn.test"], "must start with http:// or https://"),
        (["https://*.cdn.test"], "wildcard"),
        (["https://cdn.test/static"], "origin only"),
        (["https://u:p@cdn.test"], "user name or password"),
    ],
)
def test_allowed_origins_must_be_exact_origins(origins: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SiteSettings(base_url="http://127.0.0.1:8700", allowed_origins=origins)


def test_old_allowed_domains_gets_a_pointed_message() -> None:
    with pytest.raises(ValueError, match="replaced by allowed_origins"):
        SiteSettings.model_validate(
            {"base_url": "http://127.0.0.1:8700", "allowed_domains": ["x.test"]}
        )


def test_masker_masks_nested_values() -> None:
    masker = Masker()
    masker.add("hunter2")
    assert masker.data({"a": ["pw hunter2!"], "b": 3}) == {"a": [f"pw {MASK}!"], "b": 3}


def test_find_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIJIA_RECIPES", str(RECIPES))
    assert find_recipe("lookup_order", "local") == RECIPES / "local" / "lookup_order.yaml"
    assert find_recipe("prepare_refund") == RECIPES / "local" / "prepare_refund.yaml"
    with pytest.raises(Exception, match="exists for several sites: local, shoplane"):
        find_recipe("lookup_order")
    with pytest.raises(Exception, match="did you mean 'lookup_order'"):
        find_recipe("lookup_ordr", "local")


def test_example_recipes_are_valid() -> None:
    assert validate_paths([RECIPES]) == []


def test_secret_references_resolve_or_name_the_reference(tmp_path, monkeypatch) -> None:
    from agent.core.errors import SecretError
    from agent.core.secrets import SecretRef, resolve

    (tmp_path / "pw.txt").write_text("from-a-file\n")
    assert resolve(SecretRef.model_validate({"$file": "pw.txt"}), site="s", base_dir=tmp_path) == (
        "from-a-file"
    )
    monkeypatch.setenv("AIJIA_X", "from-env")
    assert resolve(SecretRef.model_validate({"$env": "AIJIA_X"}), site="s") == "from-env"
    monkeypatch.delenv("AIJIA_X")
    with pytest.raises(SecretError, match=r"\{\$env: AIJIA_X\} \(site s\) is not set"):
        resolve(SecretRef.model_validate({"$env": "AIJIA_X"}), site="s")
    with pytest.raises(SecretError, match="cannot be read"):
        resolve(SecretRef.model_validate({"$file": "nope.txt"}), site="s", base_dir=tmp_path)


def test_empty_cells_are_missing_and_optional_inputs_are_none(tmp_path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "name: r\ninputs:\n  a: {type: string}\n  b: {type: string, required: false}\n"
        "  c: {type: integer, default: 3}\nsteps:\n  - goto: /x\n"
    )
    recipe = load_recipe(path)
    assert bind_inputs(recipe, {"a": "x", "b": "", "c": " "}) == {"a": "x", "b": None, "c": 3}
    with pytest.raises(Exception, match="a: required input is missing"):
        bind_inputs(recipe, {"a": "  "})
