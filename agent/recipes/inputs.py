"""Recipe inputs: a JSON-Schema-style declaration, and binding raw values (CLI, CSV) to it.

    inputs:
      order_id: {type: string, pattern: "^[0-9A-Z]{14}$"}
      amount:   {type: number, exclusiveMinimum: 0}
      reason:   {type: string, enum: [not_received, damaged, wrong_item, other], default: other}

An input is required unless it has a default or `required: false`. Values from a CSV are text;
binding converts them to the declared type.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.core.errors import InputError

if TYPE_CHECKING:
    from agent.recipes.model import Recipe

_TRUE = {"true", "yes", "1", "y", "on"}
_FALSE = {"false", "no", "0", "n", "off"}
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?")


class InputSpec(BaseModel):
    """One input of a recipe."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: Literal["string", "number", "integer", "boolean"] = Field(
        "string", description="JSON Schema type."
    )
    description: str = Field("", description="What the input is, for `aijia recipes show`.")
    pattern: str | None = Field(
        None, description="Regex a string must match (JSON Schema: searched, anchor with ^…$)."
    )
    enum: list[str | int | float | bool] | None = Field(None, description="Allowed values.")
    minimum: float | None = Field(None, description="Smallest allowed number.")
    maximum: float | None = Field(None, description="Largest allowed number.")
    exclusive_minimum: float | None = Field(
        None, alias="exclusiveMinimum", description="Number must be greater than this."
    )
    exclusive_maximum: float | None = Field(
        None, alias="exclusiveMaximum", description="Number must be less than this."
    )
    min_length: int | None = Field(None, alias="minLength", ge=0)
    max_length: int | None = Field(None, alias="maxLength", ge=0)
    default: str | int | float | bool | None = Field(None, description="Used when not given.")
    required: bool | None = Field(None, description="Default: true unless there is a default.")

    @model_validator(mode="after")
    def _check(self) -> InputSpec:
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern {self.pattern!r} is not a valid regex: {exc}") from None
        if self.type in ("string", "boolean") and any(
            v is not None
            for v in (self.minimum, self.maximum, self.exclusive_minimum, self.exclusive_maximum)
        ):
            raise ValueError(f"minimum/maximum apply to numbers, not to type {self.type}")
        if self.default is not None:
            coerce(self, self.default, "default")  # a default must itself be valid
        return self

    @property
    def is_required(self) -> bool:
        return self.required if self.required is not None else self.default is None


def coerce(spec: InputSpec, raw: Any, field: str) -> Any:
    """Convert and check one value against its spec; ValueError with what was wrong."""
    value: Any = raw
    if spec.type == "string":
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise ValueError(f"{field}: expected text, got {type(raw).__name__}")
        value = str(raw)
        if spec.pattern is not None and not re.search(spec.pattern, value):
            raise ValueError(f"{field}: {value!r} does not match pattern {spec.pattern!r}")
        if spec.min_length is not None and len(value) < spec.min_length:
            raise ValueError(f"{field}: {value!r} is shorter than {spec.min_length}")
        if spec.max_length is not None and len(value) > spec.max_length:
            raise ValueError(f"{field}: {value!r} is longer than {spec.max_length}")
    elif spec.type in ("number", "integer"):
        value = _number(raw, integer=spec.type == "integer", field=field)
        bounds = (
            (spec.minimum, lambda v, b: v >= b, ">="),
            (spec.maximum, lambda v, b: v <= b, "<="),
            (spec.exclusive_minimum, lambda v, b: v > b, ">"),
            (spec.exclusive_maximum, lambda v, b: v < b, "<"),
        )
        for bound, ok, sign in bounds:
            if bound is not None and not ok(value, bound):
                raise ValueError(f"{field}: {value} must be {sign} {bound:g}")
    else:
        if isinstance(raw, bool):
            value = raw
        elif isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            value = raw.strip().lower() in _TRUE
        else:
            raise ValueError(f"{field}: expected true/false, got {raw!r}")
    if spec.enum is not None and value not in spec.enum:
        allowed = ", ".join(str(v) for v in spec.enum)
        raise ValueError(f"{field}: {value!r} is not one of: {allowed}")
    return value


def _number(raw: Any, *, integer: bool, field: str) -> int | float:
    kind = "an integer" if integer else "a number"
    if isinstance(raw, bool):
        raise ValueError(f"{field}: expected {kind}, got {raw!r}")
    if isinstance(raw, int | float):
        number: float = raw
    elif isinstance(raw, str):
        # plain decimal notation only: float() would also take "inf", "nan" and "1_000"
        if not _DECIMAL.fullmatch(raw.strip()):
            raise ValueError(f"{field}: expected {kind}, got {_shown(raw)}")
        number = float(raw.strip())
    else:
        raise ValueError(f"{field}: expected {kind}, got {type(raw).__name__}")
    if not math.isfinite(number):
        raise ValueError(f"{field}: expected a finite number, got {_shown(raw)}")
    if integer:
        if number != int(number):
            raise ValueError(f"{field}: expected an integer, got {raw!r}")
        return int(number)
    return number


def _shown(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 80 else text[:77] + "..."


def bind_inputs(
    recipe: Recipe,
    raw: Mapping[str, Any],
    *,
    row: int | None = None,
    where: str | None = None,
) -> dict[str, Any]:
    """Raw values (text from the CLI or a CSV row, or typed) -> the recipe's typed inputs.

    Raises InputError listing every problem, naming the field and where the row is: `where`
    ("orders.csv:8", the file line an editor shows), else `row` (1-based in a list of rows).
    """
    where = f"{where}: " if where else f"row {row}: " if row is not None else ""
    problems: list[str] = []
    bound: dict[str, Any] = {}
    for name, spec in recipe.inputs.items():
        given = raw.get(name)
        # an empty CSV cell is a missing value, whatever the type
        if given is None or (isinstance(given, str) and not given.strip()):
            if spec.default is not None:
                bound[name] = coerce(spec, spec.default, name)
            elif spec.is_required:
                problems.append(f"{name}: required input is missing")
            else:
                bound[name] = None  # optional: templates can test `{% if inputs.x %}`
            continue
        try:
            bound[name] = coerce(spec, given, name)
        except ValueError as exc:
            problems.append(str(exc))
    unknown = sorted(set(raw) - set(recipe.inputs))
    for name in unknown:
        import difflib

        close = difflib.get_close_matches(name, list(recipe.inputs), n=1)
        problems.append(
            f"{name}: not an input of {recipe.name}"
            + (f" (did you mean {close[0]!r}?)" if close else "")
        )
    if problems:
        declared = ", ".join(f"{n} ({s.type})" for n, s in recipe.inputs.items()) or "none"
        raise InputError(
            f"{where}invalid inputs for recipe {recipe.name} ({recipe.source}):\n  "
            + "\n  ".join(problems),
            hint=f"the recipe declares: {declared}",
        )
    return bound
