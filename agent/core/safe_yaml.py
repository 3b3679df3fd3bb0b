"""One bounded YAML loader for the files people hand us: recipes and config.yaml.

`compose` turns YAML text into PyYAML nodes (with line/column marks) from libyaml's event
stream, composing them itself so that it can refuse, early and with a location:

- nesting deeper than `max_depth` (PyYAML's own composer recurses and dies with a
  RecursionError on `[[[[…`),
- more than `max_aliases` aliases, and any document whose aliases would expand to more than
  `max_nodes` nodes (the "billion laughs": 9 anchors of 9 aliases each is a 10⁹-node list
  in a 1 KiB file), and aliases that point into themselves (a cycle),
- mapping keys longer than `max_key_chars`, and a key given twice in one mapping,
- integers of more than `max_int_digits` digits, and numbers too large for a float,
- explicit tags other than plain data (`!!python/object`, `!!binary`, `!custom` …),
- a second document in the stream.

`load` builds plain Python data from the checked nodes with PyYAML's safe constructor
(merge keys `<<` work there); `load_file` reads the file first (`agent.core.files`).
Every refusal is a `FileRefused` at `file:line:col` with a hint.

The event stream comes from libyaml (`yaml.CSafeLoader`) when PyYAML has it, which is about
ten times faster than the pure-Python parser; the composer here is a loop, not a recursion.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from agent.core.errors import Location
from agent.core.files import KIB, FileRefused, read_text

_PARSER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STD = "tag:yaml.org,2002:"
# explicit tags a document may carry: plain data only
_ALLOWED_TAGS = frozenset(
    _STD + t for t in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp")
)
_MERGE = _STD + "merge"
_YAML_HINT = (
    "check the indentation and quote values that contain ': ' or start with '{', '[', '*' or '&'"
)


@dataclass(frozen=True)
class YamlLimits:
    """What one YAML file may hold (see 'Limits on input files' in the README)."""

    max_bytes: int = 256 * KIB
    max_depth: int = 64
    max_aliases: int = 100
    max_nodes: int = 100_000  # after expanding aliases
    max_key_chars: int = 256
    max_int_digits: int = 100


DEFAULT_LIMITS = YamlLimits()


def load_file(path: Path, *, what: str, limits: YamlLimits = DEFAULT_LIMITS) -> Any:
    """Plain data of a one-document YAML file (None when it has no document)."""
    text = read_text(path, what=what, max_bytes=limits.max_bytes)
    return load(text, str(path), limits=limits)


def load(text: str, name: str, *, limits: YamlLimits = DEFAULT_LIMITS) -> Any:
    """Plain data of one YAML document in `text` (`name`: the file, for messages)."""
    node = compose(text, name, limits=limits)
    if node is None:
        return None
    constructor = SafeConstructor()
    try:
        return constructor.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise _refusal(exc, name) from None
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        raise FileRefused(Location(name, 1), f"not valid YAML data: {exc}") from None


def compose(text: str, name: str, *, limits: YamlLimits = DEFAULT_LIMITS) -> Node | None:
    """The node tree of the one YAML document in `text`, checked against `limits`."""
    try:
        return _Composer(name, limits).compose(yaml.parse(text, Loader=_PARSER))
    except yaml.MarkedYAMLError as exc:
        raise _refusal(exc, name) from None
    except yaml.YAMLError as exc:
        raise FileRefused(Location(name, 1), f"not valid YAML: {exc}", hint=_YAML_HINT) from None


def _refusal(exc: yaml.MarkedYAMLError, name: str) -> FileRefused:
    mark = exc.problem_mark or exc.context_mark
    where = Location(name, mark.line + 1, mark.column + 1) if mark else Location(name, 1)
    what = " ".join(str(p) for p in (exc.context, exc.problem) if p) or "unknown problem"
    return FileRefused(where, f"not valid YAML: {what}", hint=_YAML_HINT)


class _Frame:
    """A collection being composed: its node, the key waiting for its value, its size."""

    __slots__ = ("anchor", "key", "keys", "node", "size")

    def __init__(self, node: MappingNode | SequenceNode, anchor: str | None) -> None:
        self.node = node
        self.anchor = anchor
        self.key: Node | None = None
        self.keys: dict[str, Node] = {}
        self.size = 1


class _Composer:
    """PyYAML's Composer, as a loop over events, with the limits of `YamlLimits`."""

    def __init__(self, name: str, limits: YamlLimits) -> None:
        self.name = name
        self.limits = limits
        self.resolver = Resolver()
        self.anchors: dict[str, Node] = {}
        self.open_anchors: set[str] = set()  # anchors of collections not yet closed
        self.sizes: dict[int, int] = {}  # id(anchored node) -> its size, aliases expanded
        self.aliases = 0

    def refuse(self, mark: Any, message: str, hint: str | None = None) -> FileRefused:
        where = Location(self.name, mark.line + 1, mark.column + 1) if mark else None
        return FileRefused(where or Location(self.name, 1), message, hint=hint)

    def compose(self, events: Iterator[yaml.Event]) -> Node | None:
        stack: list[_Frame] = []
        root: Node | None = None
        documents = 0
        for event in events:
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise self.refuse(
                        event.start_mark,
                        "a second YAML document starts here; expected exactly one",
                        "remove the `---` line: one file holds one document",
                    )
                continue
            if isinstance(event, yaml.AliasEvent):
                node, size = self._alias(event)
            elif isinstance(event, yaml.ScalarEvent):
                node, size = self._scalar(event, stack), 1
            elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                stack.append(self._start(event, len(stack) + 1))
                continue
            elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
                frame = stack.pop()
                node, size = frame.node, frame.size
                node.end_mark = event.end_mark
                if frame.anchor is not None:
                    self.open_anchors.discard(frame.anchor)
                    self.sizes[id(node)] = size
            else:
                continue  # stream and document ends
            if stack:
                self._add(stack[-1], node, size)
            else:
                root = node
        return root

    def _start(self, event: Any, depth: int) -> _Frame:
        if depth > self.limits.max_depth:
            raise self.refuse(
                event.start_mark,
                f"nested more than {self.limits.max_depth} levels deep",
                "flatten the structure; see 'Limits on input files' in the README",
            )
        is_map = isinstance(event, yaml.MappingStartEvent)
        kind = MappingNode if is_map else SequenceNode
        tag = self._tag(event, kind, None, event.implicit)
        node = kind(tag, [], event.start_mark, event.end_mark, flow_style=event.flow_style)
        self._anchor(event, node)
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)
        return _Frame(node, event.anchor)

    def _scalar(self, event: Any, stack: list[_Frame]) -> ScalarNode:
        value = event.value
        tag = self._tag(event, ScalarNode, value, event.implicit)
        node = ScalarNode(tag, value, event.start_mark, event.end_mark, style=event.style)
        self._anchor(event, node)
        if event.anchor is not None:
            self.sizes[id(node)] = 1
        is_key = bool(stack) and isinstance(stack[-1].node, MappingNode) and stack[-1].key is None
        if is_key and len(value) > self.limits.max_key_chars:
            raise self.refuse(
                event.start_mark,
                f"a mapping key of {len(value)} characters; the limit is "
                f"{self.limits.max_key_chars}",
            )
        if tag == _STD + "int":
            digits = sum(c.isdigit() for c in value)
            if digits > self.limits.max_int_digits:
                raise self.refuse(
                    event.start_mark,
                    f"an integer of {digits} digits; the limit is {self.limits.max_int_digits}",
                    "quote it if it is an identifier, not a number",
                )
        elif tag == _STD + "float" and value.lstrip("+-").lower() not in (".inf", ".nan"):
            try:
                number = float(value.replace("_", ""))
            except ValueError:
                number = 0.0  # sexagesimal and the like: PyYAML's constructor decides
            if math.isinf(number):
                raise self.refuse(
                    event.start_mark,
                    f"the number {value[:40]} is too large",
                    "quote it if it is text, not a number",
                )
        return node

    def _alias(self, event: Any) -> tuple[Node, int]:
        self.aliases += 1
        if self.aliases > self.limits.max_aliases:
            raise self.refuse(
                event.start_mark,
                f"more than {self.limits.max_aliases} aliases (*name)",
                "write the values out; see 'Limits on input files' in the README",
            )
        anchor = event.anchor
        if anchor not in self.anchors:
            raise self.refuse(event.start_mark, f"alias *{anchor} names no anchor (&{anchor})")
        if anchor in self.open_anchors:
            raise self.refuse(
                event.start_mark,
                f"alias *{anchor} is inside the value it refers to (a cycle)",
                "an alias may only refer to a value that is complete",
            )
        node = self.anchors[anchor]
        return node, self.sizes.get(id(node), 1)

    def _add(self, frame: _Frame, node: Node, size: int) -> None:
        frame.size += size
        if frame.size > self.limits.max_nodes:
            raise self.refuse(
                node.start_mark,
                f"the document expands to more than {self.limits.max_nodes} values "
                "(aliases included)",
                "an alias repeats the value it names; write fewer, or smaller, repeats",
            )
        parent = frame.node
        if isinstance(parent, SequenceNode):
            parent.value.append(node)
            return
        if frame.key is None:
            frame.key = node
            return
        key, frame.key = frame.key, None
        if isinstance(key, ScalarNode) and key.tag != _MERGE:
            first = frame.keys.get(key.value)
            if first is not None:
                raise self.refuse(
                    key.start_mark,
                    f"duplicate key `{key.value}` (first at line {first.start_mark.line + 1})",
                    "give each key once; the second would silently replace the first",
                )
            frame.keys[key.value] = key
        parent.value.append((key, node))

    def _anchor(self, event: Any, node: Node) -> None:
        if event.anchor is not None:
            self.anchors[event.anchor] = node

    def _tag(self, event: Any, kind: type[Node], value: str | None, implicit: Any) -> str:
        tag = event.tag
        if tag is None or tag == "!":
            resolved: str = self.resolver.resolve(kind, value, implicit)
            return resolved
        if tag not in _ALLOWED_TAGS:
            shown = tag.replace(_STD, "!!")
            raise self.refuse(
                event.start_mark,
                f"the tag {shown} is not allowed: only plain data (text, numbers, booleans, "
                "lists, mappings) is read",
                "remove the tag; quote the value if it is text",
            )
        return str(tag)
