"""The values an AI step reads: declared like `extract`'s, sent as a JSON Schema, checked
and converted like `extract`'s.

A value with `as:` (money, date, int …) is asked for as the text shown on the page and
converted here by agent/recipes/coerce.py, exactly as `extract` converts it: the model copies,
the code parses. Every value may be null in the schema (the model says "not on the page"
instead of guessing); a null required value then fails the step by name.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.core.errors import StepError
from agent.recipes.coerce import Coercion, coerce

JsonType = Literal["string", "number", "integer", "boolean"]

# What the model is told for a value read as text and converted by `as:`.
_COPY_HINTS: dict[str, str] = {
    "money": "the amount with its currency, copied exactly as shown",
    "date": "the date (and time) copied exactly as shown",
    "int": "the whole number copied exactly as shown",
    "number": "the number copied exactly as shown",
    "bool": "yes or no",
    "text": "the text as shown",
}


class AiField(BaseModel):
    """One value the model reads from the page region."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: JsonType = Field(
        "string", description="JSON type of the answer: string, number, integer, boolean."
    )
    description: str | None = Field(
        None, description="What the value is, for the model (the better, the steadier)."
    )
    as_: Coercion | None = Field(
        None,
        alias="as",
        description="Convert the text the model copied like `extract` does: text, int, number, "
        "money, date, bool (needs `type: string`).",
    )
    format: str | None = Field(None, description="strptime format for `as: date`.")
    optional: bool = Field(False, description="None (or `default`) when the page has no value.")
    default: Any = Field(None, description="Value when optional and absent.")

    @model_validator(mode="after")
    def _as_reads_text(self) -> AiField:
        if self.as_ is not None and self.type != "string":
            raise ValueError(f"`as: {self.as_}` converts text: use `type: string` (or drop `as`)")
        return self


def json_schema(fields: dict[str, AiField]) -> dict[str, Any]:
    """The strict JSON Schema object sent as structured output: every key required, every
    value nullable (null: not on the page)."""
    properties: dict[str, Any] = {}
    for name, spec in fields.items():
        text = spec.description or name.replace("_", " ")
        if spec.as_ is not None:
            text += f" ({_COPY_HINTS[spec.as_]})"
        properties[name] = {"type": [spec.type, "null"], "description": text}
    return {
        "type": "object",
        "properties": properties,
        "required": list(fields),
        "additionalProperties": False,
    }


def checked_values(fields: dict[str, AiField], answer: dict[str, Any]) -> dict[str, Any]:
    """The answer's values, converted; StepError naming the first missing or bad value."""
    out: dict[str, Any] = {}
    for name, spec in fields.items():
        raw = answer.get(name)
        if isinstance(raw, str) and not raw.strip():
            raw = None
        if raw is None:
            if not spec.optional:
                raise StepError(
                    f"the model found no value for `{name}` on the page (it answered null)",
                    hint="check the page region (`from:`) holds it, describe it better, or mark "
                    "it `optional: true`",
                )
            out[name] = spec.default
            continue
        if spec.as_ is None:
            out[name] = raw
            continue
        try:
            out[name] = coerce(str(raw), spec.as_, date_format=spec.format)
        except ValueError as exc:
            raise StepError(
                f"`{name}`: {exc}",
                hint=f"the model's text for `{name}` is not a valid {spec.as_}; the answer is "
                "in the evidence (event llm_call)",
            ) from None
    return out
