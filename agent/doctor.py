"""`aijia doctor`: is everything Aijia needs here and usable? Each check carries its fix."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

from agent.browser.launch import browser_version, find_browser
from agent.core.errors import AgentError
from agent.core.settings import Settings, find_config_file, load_config


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def run_checks(config_path: Path | None = None) -> list[Check]:
    checks = [_python()]
    checks.append(_playwright())
    settings, config_check = _config(config_path)
    checks.append(config_check)
    checks.append(_browser(settings))
    if settings.browser.remote is not None:
        checks.append(_remote_browser(settings))
    checks.append(_data_dir(settings))
    checks.append(_blobs(settings))
    checks.append(_recipes(settings))
    checks.append(_knowledge(settings))
    if settings.schedules:
        checks.append(_schedules(settings))
    return checks


def _python() -> Check:
    ok = sys.version_info >= (3, 11)
    return Check(
        "python",
        ok,
        f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        "install Python 3.11 or newer",
    )


def _playwright() -> Check:
    try:
        from importlib.metadata import version

        import playwright  # noqa: F401

        return Check("playwright", True, f"playwright {version('playwright')}")
    except Exception as exc:
        return Check("playwright", False, f"not importable: {exc}", "pip install -e '.[dev]'")


def _config(path: Path | None) -> tuple[Settings, Check]:
    file = find_config_file(path)
    try:
        settings = load_config(path)
    except AgentError as err:
        return Settings(), Check("config", False, err.message, err.hint or "fix config.yaml")
    if file is None:
        return settings, Check("config", True, "no config.yaml found; using defaults")
    sites = ", ".join(settings.sites) or "none"
    return settings, Check("config", True, f"{file.resolve()} (sites: {sites})")


def _browser(settings: Settings) -> Check:
    try:
        choice = find_browser(settings.browser)
    except AgentError as err:
        return Check("browser", False, err.message, err.hint or "")
    exe = choice.executable or "playwright's bundled chromium"
    version = browser_version(choice.executable) if choice.executable else None
    if choice.executable and version is None:
        return Check(
            "browser",
            False,
            f"{exe} ({choice.source}) does not answer --version",
            "reinstall it (apt-get install --reinstall chromium) or set AIJIA_BROWSER",
        )
    return Check("browser", True, f"{exe} ({choice.source}) {version or ''}".strip())


def _remote_browser(settings: Settings) -> Check:
    """Does `browser.remote.ws_endpoint` answer? Runs use it instead of the local browser."""
    from agent.browser.remote import describe_endpoint, remote_version

    assert settings.browser.remote is not None
    where = describe_endpoint(settings.browser.remote.ws_endpoint)
    try:
        version = remote_version(settings.browser.remote)
    except AgentError as err:
        return Check("remote browser", False, err.message, err.hint or "")
    return Check("remote browser", True, f"{where} answers: {version}")


def _data_dir(settings: Settings) -> Check:
    data = settings.data_dir.resolve()
    probe = data if data.exists() else next((p for p in data.parents if p.exists()), Path("/"))
    ok = os.access(probe, os.W_OK)
    return Check(
        "data dir",
        ok,
        f"{data}"
        + ("" if data.exists() else " (will be created)")
        + f"; why: {settings.data_dir_origin}",
        f"make {probe} writable, set data_dir in config.yaml or set AIJIA_DATA_DIR",
    )


def _blobs(settings: Settings) -> Check:
    """Where artifact blobs live; for a bucket, whether it answers (and has its object lock)."""
    blobs = settings.evidence.blobs
    if blobs.kind == "local":
        root = settings.evidence.location or settings.data_dir / "evidence"
        return Check("evidence blobs", True, f"local files under {root.resolve() / 'objects'}")
    from evidence.files import blob_store

    try:
        where = blob_store(settings.data_dir, blobs).check()
    except AgentError as err:
        return Check("evidence blobs", False, err.message, err.hint or "")
    return Check("evidence blobs", True, f"S3 bucket {where} answers")


def _schedules(settings: Settings) -> Check:
    """Every enabled schedule's inputs file reads now (not first at its 3 a.m. fire)."""
    from agent.schedule.status import inputs_problem

    enabled = {n: s for n, s in settings.schedules.items() if s.enabled}
    problems = [
        f"{name}: {problem}"
        for name, schedule in enabled.items()
        if (problem := inputs_problem(schedule)) is not None
    ]
    return Check(
        "schedules",
        not problems,
        "; ".join(problems) or f"{len(enabled)} enabled, inputs files readable",
        "create each inputs file (or fix its path in config.yaml, relative to the config)",
    )


def _recipes(settings: Settings) -> Check:
    """Where the team's recipes are (agent/recipes/locate.py), and a site without any."""
    from agent.recipes.locate import SHIPPED_RECIPES, recipe_files, recipes_root, serves_sandbox

    root = recipes_root(settings)
    count = len(recipe_files([root])) if root.is_dir() else 0
    detail = f"{root} ({count} recipes)" if root.is_dir() else f"{root} (does not exist)"
    flavors = sorted({site.flavor or name for name, site in settings.sites.items()})
    own = [f for f in flavors if (root / f).is_dir()]
    shipped = [f for f in flavors if f not in own and serves_sandbox(f, settings)]
    missing = [f for f in flavors if f not in own and f not in shipped]
    if shipped:
        detail += f"; sandbox sites {', '.join(shipped)} use {SHIPPED_RECIPES}"
    if missing:
        detail += f"; no recipes for {', '.join(missing)}"
    return Check(
        "recipes",
        not missing,
        detail,
        f"put each site's recipes in {root}/<flavor>/, set recipes_dir in config.yaml, "
        "or start a project with `aijia init DIR`",
    )


def _knowledge(settings: Settings) -> Check:
    """The knowledge files draft_reply quotes: valid front matter; an overdue review warns."""
    from agent.replies.knowledge import all_knowledge, knowledge_root

    root = knowledge_root(settings)
    try:
        files = all_knowledge(root)
    except AgentError as err:
        return Check("knowledge", False, err.message, err.hint or "fix the file's front matter")
    if not root.is_dir():
        return Check("knowledge", True, f"{root} (does not exist; draft_reply quotes none)")
    detail = f"{root} ({len(files)} files)"
    overdue = [k for k in files if k.overdue()]
    if overdue:
        detail += "; warning: review overdue for " + ", ".join(
            f"{k.id} v{k.front.version} (due {k.front.review_by.isoformat()}, "
            f"owner {k.front.owner})"
            for k in overdue
        )
    return Check("knowledge", True, detail)
