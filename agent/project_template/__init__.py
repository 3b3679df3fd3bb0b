"""A team project as `aijia init DIR` writes it (as `scrapy startproject` does).

    scaffold(target, force=False) -> list[Path]   the files written, in order

What a project holds:

    config.yaml            commented; a sample site pointing at the sandbox's ShopLane, data in var/
    recipes/shoplane/      login, lookup_order, prepare_refund: copies of the shipped ShopLane
                           recipes, so the sample works at once and shows a gate
    knowledge/             refund_policy.md, shipping_delays.md …: samples of the knowledge
                           files draft_reply quotes (copies of the shipped recipes/knowledge/)
    .gitignore             var/, keys, tokens
    README.md              next steps

The recipes are copied from the shipped ones at init time (agent/recipes/locate.py
SHIPPED_RECIPES), never kept twice in the source tree.
"""

from __future__ import annotations

import getpass
import shutil
from pathlib import Path

from agent.core.errors import ConfigError
from agent.recipes.locate import SHIPPED_RECIPES

TEMPLATE = Path(__file__).resolve().parent
SAMPLE_FLAVOR = "shoplane"
SAMPLE_RECIPES = ("login", "lookup_order", "prepare_refund")
# template file -> where it goes in the project
FILES = {"config.yaml": "config.yaml", "gitignore": ".gitignore", "README.md": "README.md"}


def _os_user() -> str:
    """The OS user, as policy.users names it (a YAML-safe plain key)."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "me"
    return name if name.replace("-", "").replace("_", "").replace(".", "").isalnum() else "me"


def scaffold(target: Path, *, force: bool = False) -> list[Path]:
    """Write a project into `target`; ConfigError when it exists and is not empty (unless
    `force`: then the project's own files are overwritten and nothing else is touched)."""
    if target.exists() and not target.is_dir():
        raise ConfigError(
            f"{target} exists and is not a directory", hint="choose a new directory name"
        )
    if target.is_dir() and any(target.iterdir()) and not force:
        raise ConfigError(
            f"{target} is not empty; aijia init writes a new project into an empty directory",
            hint="choose a new directory, or pass --force to overwrite config.yaml, "
            ".gitignore, README.md and the sample recipes there",
        )
    sample = SHIPPED_RECIPES / SAMPLE_FLAVOR
    missing = [n for n in SAMPLE_RECIPES if not (sample / f"{n}.yaml").is_file()]
    if missing:  # a broken installation, not a user error
        raise ConfigError(
            f"the shipped sample recipes are missing from {sample}: {', '.join(missing)}",
            hint="reinstall aijia (pip install --force-reinstall aijia)",
        )
    written: list[Path] = []
    target.mkdir(parents=True, exist_ok=True)
    for source, name in FILES.items():
        text = (TEMPLATE / source).read_text(encoding="utf-8")
        if source == "config.yaml":
            text = text.replace("__OS_USER__", _os_user())
        path = target / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    folder = target / "recipes" / SAMPLE_FLAVOR
    folder.mkdir(parents=True, exist_ok=True)
    for name in SAMPLE_RECIPES:
        path = folder / f"{name}.yaml"
        shutil.copyfile(sample / f"{name}.yaml", path)
        written.append(path)
    knowledge = target / "knowledge"  # settings.knowledge_dir's default, next to config.yaml
    knowledge.mkdir(exist_ok=True)
    for sample_file in sorted((SHIPPED_RECIPES / "knowledge").glob("*.md")):
        path = knowledge / sample_file.name
        shutil.copyfile(sample_file, path)
        written.append(path)
    return written


__all__ = ["scaffold"]
