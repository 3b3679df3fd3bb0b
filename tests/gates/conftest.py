"""Gates against the real sandbox: prepare a refund as `lead`, decide as someone else, resume.

`gates` drives the facade in-process (`AsyncAijia` on the session's Chromium); `cli` runs
the installed `aijia` command in subprocesses with a config file written for this test
(sandbox URLs, a fresh data dir, the shipped policy) — the way reviewers and schedulers use it.
The CLI proves who acts: `cli` gives the sandbox team (lead, reviewer, supervisor, manager)
accounts with the roles the shipped policy lists, and each command of `cli(…, user=NAME)`
carries NAME's personal token in $AIJIA_TOKEN; a name without an account (mallory) and
`user=None` carry none, and this config does not trust the OS user.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent import Decision, GateView, Reconciled, RunResult
from agent.core.settings import PROJECT_ROOT, Settings
from tests.conftest import aijia_command, aijia_for
from tests.recipes.conftest import product, recipe, store  # noqa: F401 - fixtures

FLAVOR = "shoplane"
CLI_LEASE_S = 10.0  # policy.commit_lease_s of the `aijia` subprocesses


@dataclass(frozen=True)
class Prepared:
    result: RunResult  # paused at the gate
    gate_id: str
    run_id: str
    order_id: str


class Gates:
    """The facade over the shipped policy: `lead` starts runs, reviewers decide them."""

    def __init__(self, run: Any, chromium: Any, settings: Settings, evidence: Any, sandbox: Any):
        self._run = run
        self.settings, self.store, self.sandbox = settings, evidence, sandbox
        self.aijia = aijia_for(settings, evidence, chromium)
        self.policy = self.aijia.policy

    def start(self, name: str, *, user: str = "lead", **inputs: Any) -> RunResult:
        return self._run(self.aijia.run(recipe(FLAVOR, name), inputs, as_user=user))

    def refund(self, case: str = "delivered", amount: str = "1.50", **kw: Any) -> Prepared:
        order = self.sandbox.find_orders(FLAVOR, case, limit=1)[0]
        result = self.start(
            "prepare_refund", order_id=order.order_id, amount=amount, reason="damaged", **kw
        )
        assert result.gate is not None and result.gate.gate_id, result.error
        assert result.run_id is not None
        return Prepared(result, result.gate.gate_id, result.run_id, order.order_id)

    def view(self, gate_id: str) -> GateView:
        return self._run(self.aijia.gate(gate_id))

    def approve(self, gate_id: str, user: str, **kw: Any) -> Decision:
        return self._run(self.aijia.approve(gate_id, as_user=user, **kw))

    def reject(self, gate_id: str, user: str, reason: str = "no") -> Decision:
        return self._run(self.aijia.reject(gate_id, as_user=user, reason=reason))

    def resume(self, run_id: str, user: str = "reviewer") -> RunResult:
        return self._run(self.aijia.resume(run_id, as_user=user))

    def reconcile(self, run_id: str, user: str = "supervisor") -> Reconciled:
        return self._run(self.aijia.reconcile(run_id, as_user=user))

    def refunds(self, order_id: str | None = None) -> list[dict[str, Any]]:
        found = self.sandbox.ledger(FLAVOR)["refunds"]
        return [r for r in found if order_id is None or r["order_id"] == order_id]


@pytest.fixture
def gates(run: Any, chromium: Any, product: Settings, store: Any, sandbox: Any) -> Gates:  # noqa: F811
    return Gates(run, chromium, product, store, sandbox)


class Cli:
    """`aijia …` in a subprocess, with this test's config and the sandbox passwords."""

    def __init__(self, config: Path, env: dict[str, str], tokens: dict[str, str]) -> None:
        self.config, self.env = config, env
        self.tokens = tokens  # user -> a personal token of theirs

    def argv(self, *args: str) -> list[str]:
        return [aijia_command(), *args, "--config", str(self.config)]

    def env_of(self, user: str | None) -> dict[str, str]:
        """The environment of a command run by `user`: their token, or none."""
        env = {k: v for k, v in self.env.items() if k != "AIJIA_TOKEN"}
        if user is not None and user in self.tokens:
            env["AIJIA_TOKEN"] = self.tokens[user]
        return env

    def __call__(
        self, *args: str, user: str | None = None, stdin: str | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """`aijia ARGS` as `user` (their token; None: no token), with `stdin` as its input
        (default: none) and `env` added to its environment."""
        return subprocess.run(
            self.argv(*args),
            capture_output=True,
            text=True,
            env={**self.env_of(user), **env},
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            timeout=120,
        )

    def popen(self, *args: str, user: str | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env_of(user),
            stdin=subprocess.DEVNULL,
        )


TEAM = ("lead", "reviewer", "supervisor", "manager")  # accounts `cli` makes, with tokens
PASSWORD = "correct horse battery staple"


def make_accounts(evidence: Any, settings: Settings, names: Sequence[str]) -> dict[str, str]:
    """An admin (the bootstrap account) and an account per name with the roles policy.users
    lists for it; returns name -> a personal token (minted as `aijia login` does)."""
    from agent.gates.accounts import add_user
    from agent.gates.identity import as_identity, new_token, token_digest

    if not evidence.count_users():
        add_user(evidence, settings, "admin", roles=["admin"], password=PASSWORD, actor=None)
    tokens = {}
    for name in ("admin", *names):
        if name != "admin":
            roles = settings.policy.users[name]
            actor = as_identity("admin")
            add_user(evidence, settings, name, roles=roles, password=PASSWORD, actor=actor)
        tokens[name] = new_token()
        evidence.add_token(
            name, token_sha256=token_digest(tokens[name]), label="test", expires_at=None, by=name
        )
    return tokens


@pytest.fixture
def cli(product: Settings, sandbox: Any, store: Any, tmp_path: Path) -> Iterator[Cli]:  # noqa: F811
    raw = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text(encoding="utf-8"))
    raw["data_dir"] = str(product.data_dir)
    raw["browser"]["default_timeout_ms"] = product.browser.default_timeout_ms
    raw["policy"]["commit_lease_s"] = CLI_LEASE_S  # a killed committer's lease expires soon
    raw["policy"]["trust_os_user"] = False  # every command proves its user with a token
    raw["accounts"]["token_file"] = str(tmp_path / "token")  # `aijia login` in this test
    for name, url in sandbox.base_urls.items():
        raw["sites"][name]["base_url"] = url.rstrip("/")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    env = {**os.environ, **sandbox.env(), "AIJIA_RECIPES": str(PROJECT_ROOT / "recipes")}
    env.pop("AIJIA_USER", None)
    env.pop("AIJIA_TOKEN", None)
    yield Cli(config, env, make_accounts(store, product, TEAM))
