"""YAML with positions: plain Python data plus the line/column of every node and key.

PyYAML's `compose` gives nodes with marks; we turn them into dicts/lists/scalars (safe types
only) and remember, for each path (`("steps", 3, "click", "role")`), where its value and its
key start. Every recipe problem is reported through these positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agent.core.errors import Location, Problem

PathKey = tuple[str | int, ...]


@dataclass
class SourceMap:
    """Where each value (and each mapping key) of a YAML document starts."""

    path: str
    lines: list[str]
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)  # 0-based line, col
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def location(self, path: PathKey, *, key: bool = False) -> Location:
        """The location of `path` (its key when `key`), or of its closest known ancestor."""
        probe = path
        while True:
            table = self.keys if key and probe in self.keys else self.values
            if probe in table:
                line, col = table[probe]
                return Location(self.path, line + 1, col + 1)
            if not probe:
                return Location(self.path, 1, 1)
            probe = probe[:-1]
            key = False

    def line_text(self, location: Location) -> str | None:
        if 1 <= location.line <= len(self.lines):
            return self.lines[location.line - 1]
        return None

    def problem(
        self, path: PathKey, message: str, *, hint: str | None = None, key: bool = False
    ) -> Problem:
        where = self.location(path, key=key)
        return Problem(where, message, hint=hint, source_line=self.line_text(where))


_SAFE = yaml.SafeLoader


def _scalar(node: yaml.ScalarNode) -> Any:
    # Resolve the tag the way safe_load would (ints, floats, bools, null, timestamps as str).
    loader = _SAFE("")
    try:
        value = loader.construct_object(node, deep=True)
    finally:
        loader.dispose()
    if not isinstance(value, str | int | float | bool | type(None)):
        return str(node.value)  # dates and the like stay text; recipes coerce explicitly
    return value


def _convert(node: yaml.Node, path: PathKey, smap: SourceMap) -> Any:
    smap.values[path] = (node.start_mark.line, node.start_mark.column)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if key is None and isinstance(key_node, yaml.ScalarNode):
                key = "null"
            if not isinstance(key, str):
                key = str(key) if key is not None else "?"
            child = (*path, key)
            smap.keys[child] = (key_node.start_mark.line, key_node.start_mark.column)
            out[key] = _convert(value_node, child, smap)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), smap) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    return _scalar(node)


class YamlProblem(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.render())
        self.problem = problem


def load_yaml_with_marks(path: Path, text: str | None = None) -> tuple[Any, SourceMap]:
    """Parse one YAML document; raise YamlProblem (with line and column) when it is not YAML."""
    if text is None:
        text = path.read_text(encoding="utf-8")
    smap = SourceMap(str(path), text.splitlines())
    try:
        node = yaml.compose(text, Loader=_SAFE)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(str(path), mark.line + 1, mark.column + 1) if mark else None
        message = f"not valid YAML: {exc.problem or exc.context}"
        raise YamlProblem(
            Problem(
                where,
                message,
                hint="check the indentation and quote values that contain ': ' or start "
                "with '{', '[', '*' or '&'",
                source_line=smap.line_text(where) if where else None,
            )
        ) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(Problem(Location(str(path), 1), f"not valid YAML: {exc}")) from None
    if node is None:
        return None, smap
    return _convert(node, (), smap), smap
