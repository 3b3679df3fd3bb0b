"""`aijia recipes new SITE NAME`: a recipe from a template, in the site's recipe folder.

    KINDS                                        lookup, refund, note
    site_folder(settings, site) -> Path          where a site's recipes live (locate.py)
    new_recipe(settings, site, name, kind=, force=) -> list[Path]   the files written

The templates (agent/recipes/templates/<kind>.yaml.tmpl) are complete recipes with CHANGE ME
comments where a back office differs: each validates as written, so the author starts from a
recipe that passes `aijia recipes validate` and changes one line at a time. A folder without a
login recipe gets one too (login.yaml.tmpl), since every template reuses its session.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from string import Template

from agent.core.errors import ConfigError
from agent.core.settings import Settings
from agent.recipes.locate import recipes_root

TEMPLATES = Path(__file__).resolve().parent / "templates"
KINDS = ("lookup", "refund", "note")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def site_folder(settings: Settings, site: str) -> Path:
    """The recipe folder of a configured site: <recipes>/<flavor>; ConfigError naming the
    known sites when `site` is not in config.yaml."""
    if site not in settings.sites:
        known = sorted(settings.sites)
        close = difflib.get_close_matches(site, known, n=1)
        where = settings.source or "the built-in defaults (no config.yaml found)"
        raise ConfigError(
            f"no site {site!r} in {where}",
            hint=(f"did you mean {close[0]!r}? " if close else "")
            + f"known sites: {', '.join(known) or 'none'}; add it under `sites:` in config.yaml "
            "(or pass --config PATH)",
        )
    return recipes_root(settings) / (settings.sites[site].flavor or site)


def check_name(name: str) -> None:
    """A recipe name is snake_case (it is also the file name)."""
    if not NAME.match(name):
        raise ConfigError(
            f"bad recipe name {name!r}: use lowercase letters, digits and _ (snake_case)",
            hint="e.g. lookup_order, prepare_refund",
        )


def refuse_overwrite(path: Path, force: bool) -> None:
    """ConfigError when `path` exists, unless `force`."""
    if path.exists() and not force:
        raise ConfigError(
            f"{path} already exists", hint="choose another name, or pass --force to overwrite it"
        )


def render(kind: str, *, name: str, site: str, folder: Path) -> str:
    """The text of template `kind` for this recipe (placeholders: $name, $site, $folder)."""
    if kind not in (*KINDS, "login"):
        raise ConfigError(f"unknown recipe kind {kind!r}", hint=f"kinds: {', '.join(KINDS)}")
    text = (TEMPLATES / f"{kind}.yaml.tmpl").read_text(encoding="utf-8")
    return Template(text).substitute(name=name, site=site, folder=folder.name)


def new_recipe(
    settings: Settings, site: str, name: str, *, kind: str = "lookup", force: bool = False
) -> list[Path]:
    """Write recipe `name` of `kind` for `site`, plus login.yaml when the folder lacks one;
    the recipe first. Nothing is written when the recipe exists (unless `force`)."""
    check_name(name)
    folder = site_folder(settings, site)
    path = folder / f"{name}.yaml"
    refuse_overwrite(path, force)
    text = render(kind, name=name, site=site, folder=folder)
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    written = [path]
    login = folder / "login.yaml"
    if name != "login" and not login.exists() and not (folder / "login.yml").exists():
        login.write_text(render("login", name="login", site=site, folder=folder), encoding="utf-8")
        written.append(login)
    return written


__all__ = ["KINDS", "check_name", "new_recipe", "refuse_overwrite", "render", "site_folder"]
