"""Pydantic validation errors -> recipe problems at the YAML line, with a useful hint.

Pydantic reports locations like `("steps", 3, "click", "click", "nmae")`, where some parts are
union tags or model names. We walk the location through the model types to drop those, find the
YAML path (and so the line), and know which model an unknown field was meant for, so the hint
can say `did you mean name?` and list the allowed fields.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from agent.browser.selectors import Selector
from agent.core.errors import Problem
from agent.recipes.yaml_source import PathKey, SourceMap
from agent.steps import Step


def _raw_path(loc: tuple[Any, ...], raw: Any) -> PathKey:
    """The YAML path of a pydantic error location: union tags and model names dropped."""
    tags = set(_walk_types(loc)[1])
    path: list[str | int] = []
    cur = raw
    for i, part in enumerate(loc):
        if i in tags:
            continue
        in_dict = isinstance(cur, dict) and isinstance(part, str) and part in cur
        in_list = isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        if in_dict or in_list:
            path.append(part)
            cur = cur[part]
    return tuple(path)


def _unwrap(tp: Any) -> list[Any]:
    """The concrete options of a type: Annotated, Optional and unions opened up."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return [o for a in typing.get_args(tp) for o in _unwrap(a)]
    return [tp]


def _tagged(tp: Any) -> dict[str, Any]:
    """Tag -> member for `Annotated[Union[Annotated[X, Tag('x')], …], Discriminator]`."""
    out: dict[str, Any] = {}
    inner = typing.get_args(tp)[0] if typing.get_origin(tp) is typing.Annotated else tp
    for member in typing.get_args(inner):
        for meta in getattr(member, "__metadata__", ()):
            if hasattr(meta, "tag"):
                out[meta.tag] = typing.get_args(member)[0]
    return out


def _walk_types(loc: tuple[Any, ...]) -> tuple[Any, list[int]]:
    """Follow an error location through the model types: (type reached, indexes of tags)."""
    from agent.recipes.model import Recipe

    current: Any = Recipe
    tag_positions: list[int] = []
    nxt: Any
    for i, part in enumerate(loc):
        tags = _tagged(current)
        if tags and part in tags:
            current = tags[part]
            tag_positions.append(i)
            continue
        options = _unwrap(current)
        models = [o for o in options if isinstance(o, type) and issubclass(o, BaseModel)]
        nxt = None
        for model in models:
            if part == model.__name__:
                nxt = model
                tag_positions.append(i)
                break
            for fname, finfo in model.model_fields.items():
                if part in (fname, finfo.alias):
                    nxt = finfo.annotation
                    break
            if nxt is not None:
                break
        if nxt is None:
            for o in options:
                origin = typing.get_origin(o)
                if origin is list and isinstance(part, int):
                    nxt = typing.get_args(o)[0]
                elif origin is dict and isinstance(part, str):
                    nxt = typing.get_args(o)[1]
        if nxt is None:
            return None, tag_positions
        current = nxt
    return current, tag_positions


def model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the last element of an error location."""
    current = _walk_types(loc)[0]
    models = [o for o in _unwrap(current) if isinstance(o, type) and issubclass(o, BaseModel)]
    return models[0] if models else None


def _field_names(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [f.alias or n for n, f in model.model_fields.items()]


def translate_errors(
    exc: ValidationError,
    raw: dict[str, Any],
    smap: SourceMap,
    *,
    skip: set[PathKey],
    prefix: PathKey = (),
) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[PathKey, str]] = set()
    for err in exc.errors():
        loc = (*prefix, *err["loc"])
        path = _raw_path(loc, raw)
        if any(path[: len(s)] == s for s in skip) or err["type"].startswith("union_tag"):
            continue
        kind = err["type"]
        msg = str(err["msg"]).removeprefix("Value error, ")
        hint = None
        key = False
        if kind == "extra_forbidden":
            field = str(loc[-1])
            owner = model_at(loc[:-1])
            names = _field_names(owner)
            if owner is not None and issubclass(owner, Step):
                names = [n for n in names if n not in ("safe", "mutates")] + ["safe", "mutates"]
            close = difflib.get_close_matches(field, names, n=1, cutoff=0.5)
            if issubclass(owner or BaseModel, Selector) and field in ("value", "secret"):
                hint = "only fill/select take a value"
            elif close:
                hint = f"did you mean `{close[0]}`? allowed: {', '.join(names)}"
            elif names:
                hint = f"allowed here: {', '.join(names)}"
            message = f"unknown field `{field}`"
            key = True
        elif kind == "missing":
            message = f"missing required field `{loc[-1]}`"
            names = _field_names(model_at(loc[:-1]))
            hint = f"fields here: {', '.join(names)}" if names else None
        elif kind in ("value_error", "assertion_error"):
            message = msg
        else:
            got = err.get("input")
            shown = f"; got {got!r}" if not isinstance(got, dict | list) else ""
            message = f"`{path[-1] if path else 'recipe'}`: {msg}{shown}"
        if (path, message) in seen:
            continue
        seen.add((path, message))
        problems.append(smap.problem(path, message, hint=hint, key=key))
    return problems
