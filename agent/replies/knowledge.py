"""Knowledge files: the team's written policies that replies quote (`knowledge/*.md`).

A knowledge file is Markdown with YAML front matter::

    ---
    id: refund_policy            # the file's name without .md; recipes name it
    title: Refund policy
    owner: cs-lead@example.com   # who keeps it true
    version: 3                   # bumped on every change; recorded with each reply
    review_by: 2027-03-31        # after this date `aijia doctor` and every reply warn
    facts:                       # values reply templates may quote (optional)
      refund_days: 5
    ---
    The text people read (and, later, what an LLM is given as context).

    knowledge_root(settings) -> Path          where the files are (settings.knowledge_dir)
    load_knowledge(root, ids) -> [Knowledge]  the named files, validated; KnowledgeError names
                                              the file and what is wrong
    all_knowledge(root) -> [Knowledge]        every file, for `aijia doctor`

Each use is recorded in the evidence with the file's id, version and content hash
(`Knowledge.used()`), so a reply can be traced to the exact policy text it quoted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.core.errors import ConfigError
from agent.core.files import FileRefused, read_text
from agent.core.safe_yaml import YamlLimits, load
from agent.core.settings import Settings

MAX_BYTES = 64 * 1024  # a policy page, not a manual
FRONT_LIMITS = YamlLimits(max_bytes=MAX_BYTES, max_depth=8, max_nodes=2_000)
EXAMPLE = (
    "---\nid: refund_policy\ntitle: Refund policy\nowner: cs-lead\nversion: 1\n"
    "review_by: 2027-01-31\n---"
)


class KnowledgeError(ConfigError):
    """A knowledge file is missing, unreadable or its front matter is invalid (exit 2)."""


class FrontMatter(BaseModel):
    """The front matter every knowledge file declares."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_]+$", description="The file's name without .md.")
    title: str = Field(min_length=1, description="What the file is about.")
    owner: str = Field(min_length=1, description="Who keeps it true.")
    version: str | int = Field(description="Bumped on every change.")
    review_by: dt.date = Field(description="Review it again by this date.")
    facts: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Values reply templates may quote."
    )


@dataclass(frozen=True)
class Knowledge:
    """One validated knowledge file."""

    path: Path
    front: FrontMatter
    body: str
    sha256: str  # of the whole file, as read

    @property
    def id(self) -> str:
        return self.front.id

    def overdue(self, today: dt.date | None = None) -> bool:
        return (today or dt.date.today()) > self.front.review_by

    def used(self) -> dict[str, Any]:
        """What the evidence records about this file when a reply uses it."""
        return {
            "id": self.id,
            "version": str(self.front.version),
            "sha256": self.sha256,
            "review_by": self.front.review_by.isoformat(),
            "overdue": self.overdue(),
        }


def knowledge_root(settings: Settings) -> Path:
    """settings.knowledge_dir relative to its config file; default `knowledge/` next to it."""
    base = settings.source.parent if settings.source else Path.cwd()
    if settings.knowledge_dir is not None:
        return base / settings.knowledge_dir  # an absolute knowledge_dir stays as it is
    return base / "knowledge"


def parse_knowledge(path: Path) -> Knowledge:
    """Read and validate one knowledge file; KnowledgeError says which file and what."""
    try:
        text = read_text(path, what="knowledge file", max_bytes=MAX_BYTES)
    except FileRefused as exc:
        raise KnowledgeError(exc.render(), hint=exc.hint) from None
    head, body = _split(text, path)
    try:
        raw = load(head, str(path), limits=FRONT_LIMITS)
    except FileRefused as exc:
        raise KnowledgeError(exc.render(), hint=exc.hint) from None
    if not isinstance(raw, dict):
        raise KnowledgeError(
            f"knowledge file {path}: the front matter is not a mapping",
            hint=f"start the file like:\n{EXAMPLE}",
        )
    try:
        front = FrontMatter.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'front matter'}: "
            f"{'missing' if e['type'] == 'missing' else e['msg']}"
            for e in exc.errors()
        )
        raise KnowledgeError(
            f"knowledge file {path}: invalid front matter ({problems})",
            hint="every knowledge file declares id, title, owner, version and review_by",
        ) from None
    if front.id != path.stem:
        raise KnowledgeError(
            f"knowledge file {path}: its id is {front.id!r} but the file is named {path.name}",
            hint=f"recipes name knowledge by file name: rename the file or set id: {path.stem}",
        )
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Knowledge(path=path, front=front, body=body.strip(), sha256=digest)


def _split(text: str, path: Path) -> tuple[str, str]:
    """(front matter, body) of a file that starts with a `---` line and closes it."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise KnowledgeError(
            f"knowledge file {path} has no front matter (its first line must be ---)",
            hint=f"start the file like:\n{EXAMPLE}",
        )
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1 :])
    raise KnowledgeError(
        f"knowledge file {path}: the front matter is not closed by a --- line",
        hint="end the front matter with a line holding only ---",
    )


def load_knowledge(root: Path, ids: list[str]) -> list[Knowledge]:
    """The named knowledge files of `root`, in the order named."""
    found: list[Knowledge] = []
    for name in ids:
        path = root / f"{name}.md"
        if not path.is_file():
            known = sorted(p.stem for p in root.glob("*.md")) if root.is_dir() else []
            raise KnowledgeError(
                f"no knowledge file {name!r} in {root}",
                hint=f"known: {', '.join(known) or 'none'}; set knowledge_dir in config.yaml "
                "or add the file",
            )
        found.append(parse_knowledge(path))
    return found


def all_knowledge(root: Path) -> list[Knowledge]:
    """Every knowledge file of `root` (none when the folder does not exist)."""
    if not root.is_dir():
        return []
    return [parse_knowledge(p) for p in sorted(root.glob("*.md"))]


__all__ = [
    "FrontMatter",
    "Knowledge",
    "KnowledgeError",
    "all_knowledge",
    "knowledge_root",
    "load_knowledge",
    "parse_knowledge",
]
