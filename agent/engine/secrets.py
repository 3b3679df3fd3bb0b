"""Before any browser starts: resolve every secret a run will type, or refuse with SecretError.

The secrets a recipe uses are the `secret:` of its `fill` and `totp` steps (a site credential
name or a reference), in the recipe, its login recipe and every recipe it calls. Each value is
registered with the evidence sink and the run's masker, so it is masked from the first event.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from agent.core.errors import RecipeError, SecretError
from agent.core.secrets import Masker, SecretRef, resolve
from agent.recipes.model import Recipe, find_recipe, load_recipe
from agent.steps.base import Step

if TYPE_CHECKING:
    from agent.core.settings import Settings
    from evidence.api import EvidenceSink


def _walk(steps: Iterable[Step]) -> Iterable[Step]:
    for step in steps:
        yield step
        for _, children in step.children():
            yield from _walk(children)


def _recipes(roots: list[Recipe]) -> list[Recipe]:
    """The recipes, their login (`session:`) recipes and every recipe they `call`, each once."""
    from agent.browser.login import login_recipe_for

    seen: dict[str, Recipe] = {}
    todo = list(roots)
    while todo:
        recipe = todo.pop()
        key = str(recipe.source or recipe.name)
        if key in seen:
            continue
        seen[key] = recipe
        login = login_recipe_for(recipe)
        if login is not None:
            todo.append(login)
        folder = recipe.flavor_dir
        for step in _walk(recipe.steps):
            if step.key == "call" and folder is not None:
                try:
                    path = find_recipe(step.params.recipe, folder.name, root=folder.parent)
                    todo.append(load_recipe(path))
                except RecipeError:
                    continue  # reported when the step runs, with its location
    return list(seen.values())


def secret_refs(recipes: list[Recipe]) -> list[str | SecretRef]:
    refs: list[str | SecretRef] = []
    for recipe in _recipes(recipes):
        for step in _walk(recipe.steps):
            if step.key in ("fill", "totp") and getattr(step.params, "secret", None) is not None:
                refs.append(step.params.secret)
    return refs


def resolve_secrets(
    recipes: list[Recipe], settings: Settings, site: str, sink: EvidenceSink
) -> Masker:
    """Resolve (and register) every secret the run needs; SecretError naming ref and site."""
    site_settings = settings.sites[site]
    base = settings.source.parent if settings.source else None
    masker = Masker()
    for ref in secret_refs(recipes):
        if isinstance(ref, str):
            if ref not in site_settings.credentials:
                known = ", ".join(site_settings.credentials) or "none"
                raise SecretError(
                    f"the recipe types credential {ref!r}, but site {site} has no such "
                    f"credential (it has: {known})",
                    hint=f"add sites.{site}.credentials.{ref}: {{$env: NAME}} to config.yaml",
                )
            raw = site_settings.credentials[ref]
            if isinstance(raw, str):
                value = raw
            else:
                value = resolve(SecretRef.model_validate(raw), site=site, base_dir=base)
        else:
            value = resolve(ref, site=site, base_dir=base)
        masker.add(value)
        sink.register_secret(value)
    return masker
