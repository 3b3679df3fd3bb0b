"""The recipe model and its library API.

    load_recipe(path) -> Recipe              every problem at once, as one RecipeError
    validate_paths(paths) -> list[Problem]   files and folders; never starts a browser
    find_recipe(name_or_path, flavor) -> Path   <recipes>/<flavor>/<name>.yaml (see locate.py)
    recipe_schema() -> dict                  JSON Schema for editors (`aijia recipes schema`)

A recipe::

    name: prepare_refund
    version: 1
    site: shoplane
    description: Open an order and prepare a refund; stops for approval before submitting.
    inputs:
      order_id: {type: string, pattern: "^[0-9A-Z]{14}$"}
      amount:   {type: number, exclusiveMinimum: 0}
    session: login
    steps:
      - goto: /orders?search={{ inputs.order_id }}
      - ...
      - gate: {action: refund, summary: "Refund {{ inputs.amount }}", binds: {...}}
      - click: {role: button, name: Confirm refund}
    commits: {method: POST, url: "**/refund", fields: {amount: amount}}
    outputs:
      refund_id: "{{ refund_id }}"

Steps before the first `gate` are the prepare phase; see agent/recipe_checks.py for the rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from agent.browser.selectors import Selector
from agent.core.errors import Location, Problem, RecipeError
from agent.recipes.inputs import InputSpec
from agent.recipes.locate import find_recipe, list_recipes, recipe_files, recipes_root
from agent.recipes.yaml_source import SourceMap, YamlProblem, load_yaml_with_marks
from agent.steps import AnyStep, Step
from agent.steps.base import Params
from agent.steps.flow import SetStep


class LoggedInCheck(Params):
    """How a login recipe tells that a saved session still works."""

    url: str | None = Field(None, description="Page to open for the check (default: base_url).")
    visible: Selector = Field(description="An element only a logged-in user sees.")


class CommitRequest(Params):
    """The request a gated recipe's commit phase sends, bound to the gate's approved values.

    While the commit phase runs, the request that matches `method` and `url` is held in the
    browser, its body fields compared with the approved binds, and released only when every
    one matches; otherwise it is aborted (nothing reaches the site) and the run is gated again
    with the difference. Any other request that is not GET or HEAD is aborted. See
    agent/engine/binding.py.

    Example::

        commits:
          method: POST
          url: "**/portal/sale/order/{{ inputs.order_id }}/refund"
          fields: {amount: amount, reason: reason}
          other_fields: empty
          ignore: [csrf_token]
    """

    method: Literal["POST", "PUT", "PATCH", "DELETE"] = Field(
        "POST", description="The commit request's HTTP method."
    )
    url: str = Field(
        description="The commit request's URL. `*` matches within one path segment, `**` "
        "across segments; everything else is literal (the query string too). A path is joined "
        "to the site's base_url. `{{ … }}` expressions are rendered when the commit starts and "
        "match literally."
    )
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="Request body field -> the gate bind its value must equal. Form fields "
        "(urlencoded or multipart) by name, JSON by dotted path (`items.0.amount`); a name may "
        "be a `{{ … }}` template. Numbers compare as decimals (5 = 5.0 = 5.00), booleans as "
        "checkbox states (on/absent), everything else as exact text.",
    )
    other_fields: Literal["any", "empty"] = Field(
        "any",
        description="Body fields `fields` does not name: `any` value, or `empty` (absent, blank "
        "or zero) so that a page cannot add a change of its own to the approved one.",
    )
    ignore: list[str] = Field(
        default_factory=list,
        description="Body fields never compared, e.g. the form's `csrf_token`.",
    )

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class Recipe(BaseModel):
    """A declarative recipe: which site, which inputs, which steps, which outputs."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"$comment": "Aijia recipe; see agent/recipes/model.py"},
    )

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="snake_case, the file's name.")
    version: str = Field(
        "1",
        description="Bumped when the steps change meaning.",
        json_schema_extra={"type": ["string", "integer", "number"]},
    )
    site: str | None = Field(None, description="Site name in config.yaml `sites`.")
    description: str = Field("", description="What the recipe does, for people.")
    inputs: dict[str, InputSpec] = Field(default_factory=dict, description="Declared inputs.")
    session: str | None = Field(
        None, description="Login recipe whose saved session this recipe reuses (e.g. login)."
    )
    logged_in: LoggedInCheck | None = Field(
        None, description="(login recipes) how to tell a saved session still works."
    )
    logged_out: Selector | None = Field(
        None,
        description="(login recipes) an element of the login page: seeing it mid-run means "
        "the session expired, and the runner logs in again once.",
    )
    steps: list[AnyStep] = Field(description="What to do, in order.")
    commits: CommitRequest | None = Field(
        None,
        description="(gated recipes, required) the request the commit phase sends; it is "
        "released only when its fields equal the approved binds.",
    )
    outputs: dict[str, Any] = Field(
        default_factory=dict, description="Result values (templates) recorded with the run."
    )
    reconcile: list[AnyStep] = Field(
        default_factory=list,
        description="Read-only steps that find out whether a commit already happened.",
    )

    _source: Path | None = PrivateAttr(None)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def flavor_dir(self) -> Path | None:
        return self._source.parent if self._source else None

    def gate_index(self) -> int | None:
        """0-based index of the gate among the top-level steps, None without a gate."""
        return next((i for i, s in enumerate(self.steps) if s.key == "gate"), None)

    def prepare_steps(self) -> list[Step]:
        gate = self.gate_index()
        return list(self.steps if gate is None else self.steps[:gate])


def recipe_schema() -> dict[str, Any]:
    """The JSON Schema editors use (e.g. `# yaml-language-server: $schema=recipe.json`).

    Pydantic's schema, refined: models that also accept a shorthand string (selectors like
    `label=Amount`, `goto: /orders`, `expect: "{{ … }}"`) say so, and secret references are
    allowed wherever config-like credentials are.
    """
    schema = Recipe.model_json_schema(by_alias=True)
    models = _models_by_name(Recipe)
    for name, definition in list(schema.get("$defs", {}).items()):
        model = models.get(name)
        if model is not None and _has_shorthand(model):
            schema["$defs"][name] = {
                "anyOf": [{"type": "string", "description": "shorthand form"}, definition],
                "description": definition.get("description", ""),
            }
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://aijia.dev/schema/recipe.json"
    schema["title"] = "Aijia recipe"
    return schema


def _has_shorthand(model: type[BaseModel]) -> bool:
    return "_shorthand" in model.__pydantic_decorators__.model_validators


def _models_by_name(root: type[BaseModel]) -> dict[str, type[BaseModel]]:
    import typing

    from agent.steps import STEP_TYPES

    found: dict[str, type[BaseModel]] = {}
    todo: list[Any] = [root, *STEP_TYPES.values()]
    while todo:
        tp = todo.pop()
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp.__name__ in found:
                continue
            found[tp.__name__] = tp
            todo += [f.annotation for f in tp.model_fields.values()]
        else:
            todo += list(typing.get_args(tp))
    return found


def _parse(path: Path) -> tuple[Recipe | None, list[Problem]]:
    from agent.recipes.checks import check_recipe, check_structure
    from agent.recipes.problems import translate_errors

    try:
        raw, smap = load_yaml_with_marks(path)
    except YamlProblem as exc:
        return None, [exc.problem]
    except OSError as exc:
        return None, [Problem(Location(str(path), 1), f"cannot read recipe: {exc.strerror}")]
    if not isinstance(raw, dict):
        return None, [
            smap.problem((), "a recipe is a mapping with name, steps, …", hint="see recipe_schema")
        ]
    problems, bad_steps = check_structure(raw, smap)
    # Validate each step on its own so that one bad step does not hide the other problems;
    # a bad step is replaced by a placeholder that still defines the names it would set.
    top = dict(raw)
    lists: dict[str, list[Any]] = {}
    for field in ("steps", "reconcile"):
        if isinstance(raw.get(field), list):
            lists[field] = raw[field]
            top[field] = []
    try:
        Recipe.model_validate(top)
        top_ok = True
    except ValidationError as exc:
        problems += translate_errors(exc, raw, smap, skip=bad_steps)
        top_ok = False
    for field, raw_steps in lists.items():
        top[field] = []
        for i, raw_step in enumerate(raw_steps):
            where = (field, i)
            if where in bad_steps:
                top[field].append(_placeholder(raw_step))
                continue
            try:
                top[field].append(_STEP.validate_python(raw_step))
            except ValidationError as exc:
                problems += translate_errors(exc, raw, smap, skip=bad_steps, prefix=where)
                top[field].append(_placeholder(raw_step))
    if not top_ok:
        return None, _sorted(problems)
    recipe = Recipe.model_validate(top)
    recipe._source = path.resolve()
    problems += check_recipe(recipe, raw, smap)
    return recipe, _sorted(problems)


_STEP: TypeAdapter[Any] = TypeAdapter(AnyStep)


def _placeholder(raw_step: Any) -> Step:
    """Stands in for an invalid step: defines what it would have, checks nothing else."""
    names: list[str] = []
    if isinstance(raw_step, dict):
        for key in ("extract", "set"):
            if isinstance(raw_step.get(key), dict):
                names += [str(k) for k in raw_step[key]]
        call = raw_step.get("call")
        if isinstance(call, dict) and isinstance(call.get("as"), str):
            names.append(call["as"])
    return SetStep.model_validate({"set": dict.fromkeys(names)})


def _sorted(problems: list[Problem]) -> list[Problem]:
    def key(p: Problem) -> tuple[int, int]:
        return (p.location.line, p.location.column) if p.location else (0, 0)

    return sorted(problems, key=key)


_LOADED: dict[tuple[str, int, int], Recipe] = {}


def load_recipe(path: Path | str) -> Recipe:
    """Read and validate one recipe; RecipeError listing every problem.

    Valid recipes are cached by path, size and modification time (a batch loads its recipe
    and login recipe for every row); an edited file is read again.
    """
    file = Path(path)
    try:
        stat = file.stat()
        key = (str(file.resolve()), stat.st_mtime_ns, stat.st_size)
    except OSError:
        key = None
    if key is not None and key in _LOADED:
        return _LOADED[key]
    recipe, problems = _parse(file)
    if problems or recipe is None:
        raise RecipeError(problems, hint="`aijia recipes validate FILE` lists the same problems")
    if key is not None:
        _LOADED[key] = recipe
    return recipe


def validate_paths(paths: Iterable[Path | str]) -> list[Problem]:
    """Every problem in these recipe files and folders (folders: every *.yaml inside)."""
    problems: list[Problem] = []
    for file in recipe_files(paths):
        problems += _parse(file)[1]
    return problems


__all__ = [
    "CommitRequest",
    "LoggedInCheck",
    "Recipe",
    "SourceMap",
    "find_recipe",
    "list_recipes",
    "load_recipe",
    "recipe_schema",
    "recipes_root",
    "validate_paths",
]


def outline(recipe: Recipe) -> list[tuple[str, str, str, str]]:
    """(number, phase, kind, one-line summary) per step, nested steps included; for `show`."""
    from agent.browser.selectors import Selector

    rows: list[tuple[str, str, str, str]] = []
    gate = recipe.gate_index()

    def walk(steps: list[Step], phase_of: Any) -> None:
        for i, step in enumerate(steps):
            params = step.params if step.key not in ("if", "for_each") else None
            if isinstance(params, Selector):
                summary = params.describe()
            elif step.key == "if":
                summary = f"if {getattr(step, 'if_', '')}"
            elif step.key == "for_each":
                summary = f"for each in {getattr(step, 'for_each', '')}"
            elif isinstance(params, BaseModel):
                dumped = params.model_dump(exclude_defaults=True, by_alias=True)
                summary = " ".join(f"{k}={v!r}" for k, v in dumped.items())
            elif isinstance(params, dict):
                summary = ", ".join(params)
            else:
                summary = str(params)
            if step.name:
                summary = f"{step.name}: {summary}"
            rows.append((step.number, phase_of(i), step.key, summary[:100]))
            for _, children in step.children():
                walk(children, lambda _i, p=phase_of(i): p)

    def top_phase(i: int) -> str:
        if gate is None or i < gate:
            return "prepare"
        return "gate" if i == gate else "commit"

    walk(recipe.steps, top_phase)
    return rows
