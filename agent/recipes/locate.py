"""Where recipes are found: the team's own folder next to its config, then the shipped ones.

    recipes_root(settings) -> Path            the team's folder (see the order below)
    find_recipe(name_or_path, flavor) -> Path  <root>/<flavor>/<name>.yaml, RecipeError if none
    list_recipes(root) -> list[Path]           every recipe file of a folder (or of the project)

The team's folder, first match wins:
  1. $AIJIA_RECIPES                                (a one-off override, e.g. in tests)
  2. `recipes_dir` in config.yaml, relative to that file
  3. `recipes/` next to config.yaml                 (what `aijia init` scaffolds)
  4. `./recipes`                                    (no config file at all)

The shipped recipes (this repo's recipes/, inside a wheel agent/sandbox_recipes/) drive the
sandbox's simulated seller centers, nothing else. They answer only for a site whose flavor is
one of theirs and whose base_url is on the sandbox's host or a loopback address, and only
for a recipe the team's folder lacks. A team's own site never falls back to them: its missing
recipe is a RecipeError naming the folder that was searched.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from agent.core.errors import Problem, RecipeError
from agent.core.settings import Settings, load_config

# In the repo a symlink to ../recipes; in a wheel the same files as package data.
SHIPPED_RECIPES = Path(__file__).resolve().parents[1] / "sandbox_recipes"
SUFFIXES = (".yaml", ".yml")


def recipe_files(paths: Iterable[Path | str]) -> list[Path]:
    """Every .yaml/.yml under the given folders, plus the given files, in a stable order."""
    files: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*.y*ml") if p.suffix in SUFFIXES)
        else:
            files.append(path)
    return files


def recipes_root(settings: Settings | None = None) -> Path:
    """The team's recipe folder, by the order in this module's docstring."""
    env = os.environ.get("AIJIA_RECIPES")
    if env:
        return Path(env)
    settings = settings if settings is not None else load_config()
    base = settings.source.parent if settings.source else Path.cwd()
    if settings.recipes_dir is not None:
        return base / settings.recipes_dir  # an absolute recipes_dir stays as it is
    return base / "recipes"


def _why(settings: Settings | None) -> str:
    """Why the team's folder is where it is, for error messages."""
    if os.environ.get("AIJIA_RECIPES"):
        return "from $AIJIA_RECIPES"
    if settings is not None and settings.source is not None:
        how = "recipes_dir of" if settings.recipes_dir is not None else "next to"
        return f"{how} {settings.source}"
    return "no config.yaml found; ./recipes"


def on_sandbox_host(url: str, settings: Settings) -> bool:
    """True when `url` is on the sandbox's host or a loopback address (tests use free ports)."""
    host = urlsplit(url).hostname or ""
    if host in (settings.sandbox.host, "localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serves_sandbox(flavor: str, settings: Settings) -> bool:
    """Whether the shipped recipes of `flavor` may answer: a configured sandbox site uses it."""
    if not (SHIPPED_RECIPES / flavor).is_dir():
        return False
    return any(
        (site.flavor or name) == flavor and on_sandbox_host(site.base_url, settings)
        for name, site in settings.sites.items()
    )


def _in_folder(folder: Path, name: str) -> list[Path]:
    return [f for f in (folder / f"{name}{ext}" for ext in SUFFIXES) if f.is_file()]


def find_recipe(
    name_or_path: str | Path,
    flavor: str | None = None,
    *,
    root: Path | None = None,
    settings: Settings | None = None,
) -> Path:
    """A recipe file by path, or by name in <root>/<flavor>/; RecipeError when not found.

    With an explicit `root` only that folder is searched (a recipe's own siblings: its login,
    the recipes it calls). Otherwise the team's folder, then the shipped recipes when the
    flavor is a sandbox site's (module docstring).
    """
    text = str(name_or_path)
    candidate = Path(text)
    if text.endswith(SUFFIXES) or os.sep in text:
        if candidate.exists():  # a directory or FIFO is refused, by name, when it is read
            return candidate
        raise RecipeError([Problem(None, f"recipe file {text} does not exist")])
    explicit = root is not None
    if root is None and settings is None and not os.environ.get("AIJIA_RECIPES"):
        settings = load_config()  # once: both the folder and the error message need it
    root = root if root is not None else recipes_root(settings)
    folders = [root / flavor] if flavor else sorted(p for p in root.glob("*") if p.is_dir())
    found = [f for folder in folders for f in _in_folder(folder, text)]
    if len(found) > 1 and not flavor:
        flavors = ", ".join(f.parent.name for f in found)
        raise RecipeError(
            [Problem(None, f"recipe {text!r} exists for several sites: {flavors}")],
            hint="name the site (--site) or give the file path",
        )
    if found:
        return found[0]
    searched = [str(root / flavor) if flavor else f"{root}/*"]
    if not explicit:
        searched[0] += f" ({_why(settings)})"
    known = {p.stem for f in folders if f.is_dir() for p in f.glob("*.y*ml")}
    if not explicit:
        settings = settings if settings is not None else load_config()
        sandbox = [flavor] if flavor else [f.name for f in sorted(SHIPPED_RECIPES.glob("*"))]
        sandbox = [f for f in sandbox if serves_sandbox(f, settings)]
        shipped = [p for f in sandbox for p in _in_folder(SHIPPED_RECIPES / f, text)]
        if len(shipped) == 1:
            return shipped[0]
        if len(shipped) > 1:
            flavors = ", ".join(p.parent.name for p in shipped)
            raise RecipeError(
                [Problem(None, f"recipe {text!r} exists for several sandbox sites: {flavors}")],
                hint="name the site (--site) or give the file path",
            )
        if sandbox:
            searched.append(f"the shipped sandbox recipes ({SHIPPED_RECIPES})")
            known |= {p.stem for f in sandbox for p in (SHIPPED_RECIPES / f).glob("*.y*ml")}
    close = difflib.get_close_matches(text, sorted(known), n=1)
    if close:
        hint = f"did you mean {close[0]!r}?"
    elif flavor and not explicit and not (root / flavor).is_dir():
        hint = (
            f"there is no folder {root / flavor} ({_why(settings)}): put the site's recipes "
            "there, set recipes_dir in config.yaml, or start a project with `aijia init DIR`"
        )
    else:
        hint = f"known: {', '.join(sorted(known)) or 'none'}"
    where = " nor in ".join(searched)
    raise RecipeError([Problem(None, f"no recipe {text!r} in {where}")], hint=hint)


def list_recipes(root: Path | None = None, *, settings: Settings | None = None) -> list[Path]:
    """Every recipe of `root`; without one, the team's folder plus the shipped recipes of the
    configured sandbox sites that the team's folder does not replace."""
    if root is not None:
        return recipe_files([root]) if root.is_dir() else []
    settings = settings if settings is not None else load_config()
    team = recipes_root(settings)
    files = recipe_files([team]) if team.is_dir() else []
    have = {(f.parent.name, f.stem) for f in files}
    for folder in sorted(SHIPPED_RECIPES.glob("*")):
        if folder.is_dir() and serves_sandbox(folder.name, settings):
            files += [f for f in recipe_files([folder]) if (folder.name, f.stem) not in have]
    return files


__all__ = [
    "SHIPPED_RECIPES",
    "find_recipe",
    "list_recipes",
    "on_sandbox_host",
    "recipe_files",
    "recipes_root",
    "serves_sandbox",
]
