"""YAML with positions: plain Python data plus the line/column of every node and key.

`agent.core.safe_yaml.compose` gives nodes with marks, after reading the file with a size cap
and strict UTF-8 and checking depth, aliases, tags and keys (RECIPE_LIMITS); we turn them
into dicts/lists/scalars (safe types only) and remember, for each path
(`("steps", 3, "click", "role")`), where its value and its key start. Every recipe problem
is reported through these positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from agent.core.errors import Location, Problem
from agent.core.files import KIB, FileRefused, read_text
from agent.core.safe_yaml import YamlLimits, compose

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


# Recipes are small (the shipped ones are under 8 KiB): these leave a wide margin and keep a
# hostile file to well under a second (see 'Limits on input files' in the README).
RECIPE_LIMITS = YamlLimits(max_bytes=64 * KIB)
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"


def _scalar(node: yaml.ScalarNode, smap: SourceMap, path: PathKey) -> Any:
    """The value safe_load would give, except dates (and the like), which stay text:
    recipes coerce explicitly."""
    if node.tag == _TIMESTAMP:
        return str(node.value)
    if node.tag == _MERGE:
        raise YamlProblem(
            smap.problem(
                path,
                "merge keys (`<<: *name`) are not supported in recipes",
                hint="write the keys out, or share the steps with a `call:` to another recipe",
            )
        )
    construct = SafeConstructor.yaml_constructors.get(node.tag)
    if construct is None:  # an implicit tag without a safe constructor (`=`): text
        return str(node.value)
    try:
        value = construct(_CONSTRUCTOR, node)
    except (ValueError, yaml.YAMLError) as exc:
        problem = smap.problem(path, f"cannot read the value {node.value[:40]!r}: {exc}")
        raise YamlProblem(problem) from None
    if not isinstance(value, str | int | float | bool | type(None)):
        return str(node.value)
    return value


_CONSTRUCTOR = SafeConstructor()


def _convert(node: yaml.Node, path: PathKey, smap: SourceMap) -> Any:
    # depth and alias expansion are bounded by the composer (agent.core.safe_yaml)
    smap.values[path] = (node.start_mark.line, node.start_mark.column)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, smap, path) if isinstance(key_node, yaml.ScalarNode) else "?"
            if not isinstance(key, str):
                key = "null" if key is None else str(key)
            child = (*path, key)
            smap.keys[child] = (key_node.start_mark.line, key_node.start_mark.column)
            out[key] = _convert(value_node, child, smap)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), smap) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    return _scalar(node, smap, path)


class YamlProblem(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.render())
        self.problem = problem


def load_yaml_with_marks(path: Path, text: str | None = None) -> tuple[Any, SourceMap]:
    """Parse one YAML document; raise YamlProblem (with line and column) when the file is
    not one: unreadable, too large, not UTF-8, binary, not YAML, or past a limit of
    RECIPE_LIMITS (depth, aliases, key length …)."""
    smap = SourceMap(str(path), [])
    try:
        if text is None:
            text = read_text(path, what="recipe", max_bytes=RECIPE_LIMITS.max_bytes)
        smap.lines = text.splitlines()
        node = compose(text, str(path), limits=RECIPE_LIMITS)
    except FileRefused as exc:
        where = exc.location
        raise YamlProblem(
            Problem(where, exc.message, hint=exc.hint, source_line=smap.line_text(where))
        ) from None
    if node is None:
        return None, smap
    return _convert(node, (), smap), smap
