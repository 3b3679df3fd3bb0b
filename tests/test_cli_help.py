"""Every command has help text, and `aijia --help` does not import the heavy parts."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import typer.main

from cli import app


def _walk(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    # by duck type: typer may ship its own copy of click, whose Group is not `click.Group`
    found = [(prefix or "aijia", group)]
    for name, sub in getattr(group, "commands", {}).items():
        found.extend(_walk(sub, f"{prefix} {name}".strip()))
    return found


def test_every_command_has_help() -> None:
    commands = _walk(typer.main.get_command(app))
    assert len(commands) > 30 and "gates list" in dict(commands)  # the walk reaches sub-groups
    missing = [name for name, cmd in commands if not (cmd.help or "").strip()]
    assert missing == [], f"commands without help text: {missing}"


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys, cli\n"
        "heavy = [m for m in ('playwright', 'langchain', 'browser_use', 'sandbox.app', 'uvicorn',"
        " 'starlette', 'sqlite_utils', 'PIL') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
