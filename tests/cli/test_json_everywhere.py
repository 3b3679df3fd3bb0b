"""`--json` on every command that prints a result (issue 13, item 7).

The whole typer app is walked: every command has `--json`, or is on a short allow-list of
commands that print no result (a server, a narrated demo, reference text). Then a
representative set runs with `--json` against a real store (and one real run, in real
Chromium, of a recipe that only sets a value): each exits 0 and its stdout is exactly one
JSON document.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from cli import app

PASSWORD = "correct horse battery staple"
OTHER = "a different long password"

# Commands that print no result, each with why. Keep it short: a new command that prints a
# result gets --json instead.
NO_RESULT = {
    "serve": "a long-running server (its log lines are already JSON)",
    "sandbox serve": "a long-running server",
    "schedule run": "the scheduler daemon (its log lines are already JSON)",
    "demo": "a narrated walk-through for a person, not a result to parse",
    "recipes steps": "reference text (the step kinds and their options)",
    "recipes reference": "the recipe author's reference, Markdown (a document, not a result)",
    "recipes schema": "prints a JSON Schema already: the output is JSON with or without a flag",
}
# Print a result but have no --json yet: owned by another slice this session (agent/cli/
# recipes.py). Listed so that the gap is visible; remove an entry when its --json lands.
NOT_YET: set[str] = set()


def all_commands() -> dict[str, Any]:
    """Every leaf command of the app by its path ("evidence show")."""
    root = typer.main.get_command(app)
    ctx = typer.Context(root)
    found: dict[str, Any] = {}

    def walk(command: Any, path: list[str]) -> None:
        if hasattr(command, "list_commands"):  # a group (typer may bring its own click)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(sub, [*path, name])
        else:
            found[" ".join(path)] = command

    walk(root, [])
    return found


def has_json(command: Any) -> bool:
    return any("--json" in getattr(p, "opts", ()) for p in command.params)


def test_every_command_that_prints_a_result_has_json() -> None:
    commands = all_commands()
    assert len(commands) > 30, sorted(commands)  # the walk found the sub-apps' commands
    missing = sorted(p for p, c in commands.items() if not has_json(c))
    assert set(missing) == set(NO_RESULT) | NOT_YET, (
        "a command prints a result without --json (add it) or an allow-list entry is stale: "
        f"{sorted(set(missing) ^ (set(NO_RESULT) | NOT_YET))}"
    )


class Aijia:
    """`aijia ARGS -c CONFIG` in this process, on a project of its own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.config = folder / "config.yaml"
        raw = {
            "data_dir": str(folder / "var"),
            "sites": {"local": {"base_url": "http://127.0.0.1:9"}},
            "policy": {
                "users": {},
                "roles": {"runner": {"run": ["*"]}, "supervisor": {"run": ["*"], "approve": ["*"]}},
            },
            "accounts": {"token_file": str(folder / "cfg" / "token")},
            "evidence": {"signing": {"key_file": str(folder / "cfg" / "signing.key")}},
        }
        self.config.write_text(yaml.safe_dump(raw), encoding="utf-8")
        recipes = folder / "recipes" / "local"
        recipes.mkdir(parents=True)
        (recipes / "noop.yaml").write_text(
            "name: noop\nsite: local\nsteps:\n  - set: {answer: 42}\n"
            'outputs:\n  answer: "{{ answer }}"\n',
            encoding="utf-8",
        )

    def raw(self, *args: str, stdin: str | None = None, config: bool = True) -> Any:
        env = {"AIJIA_TOKEN": None, "AIJIA_USER": None, "COLUMNS": "200"}
        extra = ["-c", str(self.config)] if config else []
        return CliRunner(env=env).invoke(app, [*args, *extra], input=stdin)

    def json(self, *args: str, stdin: str | None = None, config: bool = True) -> Any:
        """The one JSON document `aijia ARGS --json` printed on stdout (it exited 0)."""
        done = self.raw(*args, "--json", stdin=stdin, config=config)
        assert done.exit_code == 0, (args, done.output)
        return json.loads(done.stdout)


@pytest.fixture
def aijia(tmp_path: Path) -> Aijia:
    return Aijia(tmp_path)


def test_a_representative_set_prints_one_json_document(aijia: Aijia, tmp_path: Path) -> None:
    project = aijia.json("init", str(tmp_path / "team"), config=False)
    assert "config.yaml" in project["files"]

    admin = aijia.json("users", "add", "root", "--role", "admin", "--role", "runner",
                       "--password-stdin", stdin=PASSWORD)  # fmt: skip
    assert admin["name"] == "root" and admin["created_by"] == "bootstrap"
    signed_in = aijia.json("login", "root", "--password-stdin", stdin=PASSWORD + "\n")
    assert signed_in["user"] == "root" and "token" not in signed_in
    assert aijia.json("whoami")["user"] == "root"
    bob = aijia.json("users", "add", "bob", "--role", "runner", "--password-stdin", stdin=PASSWORD)
    assert aijia.json("users", "disable", "bob")["disabled"] is True
    assert aijia.json("users", "enable", "bob")["disabled"] is False
    assert aijia.json("users", "passwd", "bob", "--password-stdin", stdin=OTHER)["name"] == "bob"
    assert {u["name"] for u in aijia.json("users", "list")} == {"root", bob["name"]}
    tokens = aijia.json("users", "tokens", "root")
    assert [t["token_id"] for t in tokens] == [signed_in["token_id"]]

    shown_recipe = aijia.json("recipes", "show", "noop", "--site", "local")
    assert shown_recipe["name"] == "noop" and [s["step"] for s in shown_recipe["steps"]]
    assert shown_recipe["outputs"] == ["answer"]
    run = aijia.json("run", "noop", "--site", "local")  # real Chromium, nothing to browse
    assert run["state"] == "done" and run["outputs"] == {"answer": 42}
    run_id = run["run_id"]
    assert [r["run_id"] for r in aijia.json("runs", "list")] == [run_id]
    assert aijia.json("runs", "show", run_id)["state"] == "done"
    assert [r["run_id"] for r in aijia.json("evidence", "list")] == [run_id]
    shown = aijia.json("evidence", "show", run_id)
    assert shown["run"]["run_id"] == run_id and shown["entries"]
    assert all(isinstance(e["seq"], int) for e in shown["entries"])
    assert aijia.json("evidence", "verify", run_id)["ok"] is True
    report = aijia.json("evidence", "report", run_id, "-o", str(tmp_path / "r.html"))
    assert Path(report["path"]).stat().st_size == report["bytes"] > 0
    bundle = aijia.json("evidence", "export", run_id, "-o", str(tmp_path / "b.zip"))
    assert Path(bundle["path"]).is_file() and bundle["run_ids"] == [run_id]
    assert aijia.json("evidence", "verify-bundle", bundle["path"])["ok"] is True
    plan = aijia.json("evidence", "prune", "--older-than", "1d", "--dry-run")
    assert plan["pruned"] == [] and plan["dry_run"] is True
    assert aijia.json("gates", "list") == []
    assert aijia.json("schedule", "list") == []
    assert aijia.json("keys", "show")["fingerprint"].startswith("SHA256:")

    assert aijia.json("users", "revoke", tokens[0]["token_id"])["revoked_at"]
    out = aijia.json("logout")
    assert out["forgot"] and out["revoked"] == signed_in["token_id"]


def test_json_never_prompts(aijia: Aijia) -> None:
    """stdout is for the JSON document: a command that would prompt refuses instead (exit 2)."""
    prune = aijia.raw("evidence", "prune", "--older-than", "1d", "--json")
    assert prune.exit_code == 2 and "--yes" in prune.output
    add = aijia.raw("users", "add", "root", "--role", "admin", "--json")
    assert add.exit_code == 2 and "--password-stdin" in add.output
    assert add.stdout == ""
