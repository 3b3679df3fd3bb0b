"""Accounts from the command line, on a real store (no browser): who may add the first and
the next account, signing in and out, the token file's modes, lock-out after wrong
passwords, `whoami`, and tokens that no longer prove anything. Account changes are in the
store's signed ledger: an edited role or hash fails `verify`."""

from __future__ import annotations

import json
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cli import app
from evidence.store import EvidenceStore

PASSWORD = "correct horse battery staple"
OTHER = "a different long password"


class Aijia:
    """`aijia ARGS -c CONFIG` in this process, with only the token we give it."""

    def __init__(self, folder: Path, **policy: Any) -> None:
        self.folder = folder
        self.config = folder / "config.yaml"
        self.token_file = folder / "cfg" / "aijia" / "token"
        raw = {
            "data_dir": str(folder / "var"),
            "policy": {
                "users": {"root": ["runner"], "nobody-here": ["runner"]},
                "roles": {
                    "runner": {"run": ["*"]},
                    "reviewer": {"approve": ["refund"]},
                    "supervisor": {"run": ["*"], "approve": ["*"]},
                },
                **policy,
            },
            "accounts": {
                "max_failed_logins": 3,
                "lockout_minutes": 0.02,
                "token_file": str(self.token_file),
            },
        }
        self.config.write_text(yaml.safe_dump(raw), encoding="utf-8")

    def __call__(self, *args: str, token: str | None = None, stdin: str | None = None) -> Any:
        env = {"AIJIA_TOKEN": token, "AIJIA_USER": None, "COLUMNS": "200"}
        return CliRunner(env=env).invoke(app, [*args, "-c", str(self.config)], input=stdin)

    def add(self, name: str, *roles: str, token: str | None = None) -> Any:
        flags = [a for r in roles for a in ("--role", r)]
        return self("users", "add", name, *flags, "--password-stdin", token=token, stdin=PASSWORD)

    def login(self, name: str, password: str = PASSWORD) -> Any:
        return self("login", name, "--password-stdin", stdin=password + "\n")

    def saved_token(self) -> str:
        return self.token_file.read_text(encoding="utf-8").strip()

    def store(self) -> EvidenceStore:
        var = self.folder / "var"
        return EvidenceStore(var / "evidence", root_log=var / "roots.log")


@pytest.fixture
def aijia(tmp_path: Path) -> Aijia:
    return Aijia(tmp_path)


def _signed_in_admin(aijia: Aijia) -> str:
    assert aijia.add("ada", "admin").exit_code == 0
    assert aijia.login("ada").exit_code == 0
    return aijia.saved_token()


def test_the_first_account_is_a_bootstrap_admin_and_only_admins_add_the_next(aijia: Aijia):
    not_admin = aijia.add("sam", "reviewer")
    assert not_admin.exit_code == 6 and "first account must have role 'admin'" in not_admin.output
    first = aijia.add("ada", "admin")
    assert first.exit_code == 0, first.output
    assert "bootstrap: the first account" in first.output

    nobody = aijia.add("sam", "reviewer")
    assert nobody.exit_code == 6 and "nobody signed in may not add accounts" in nobody.output
    assert aijia.login("ada").exit_code == 0
    admin = aijia.saved_token()
    assert aijia.add("sam", "reviewer", token=admin).exit_code == 0
    assert aijia.add("sam", "reviewer", token=admin).exit_code == 2  # exists
    unknown = aijia.add("kim", "wizard", token=admin)
    assert unknown.exit_code == 2 and "unknown role(s) wizard" in unknown.output

    lone = aijia("users", "disable", "ada", token=admin)
    assert lone.exit_code == 6 and "last enabled admin" in lone.output

    assert aijia.login("sam").exit_code == 0  # replaces (and revokes) ada's saved token
    not_an_admin = aijia.add("kim", "reviewer", token=aijia.saved_token())
    assert not_an_admin.exit_code == 6 and "'sam'" in not_an_admin.output
    assert aijia.add("kim", "reviewer", token=admin).exit_code == 6  # signed out
    listed = json.loads(aijia("users", "list", "--json").stdout)
    assert [(u["name"], u["roles"], u["created_by"]) for u in listed] == [
        ("ada", ["admin"], "bootstrap"),
        ("sam", ["reviewer"], "ada"),
    ]
    assert "password" not in aijia("users", "list", "--json").stdout  # never a hash


def test_login_keeps_a_private_token_and_whoami_says_how_it_is_proven(aijia: Aijia):
    _signed_in_admin(aijia)
    assert aijia.add("sam", "reviewer", token=aijia.saved_token()).exit_code == 0
    signed = aijia.login("sam")
    assert signed.exit_code == 0, signed.output
    assert stat.S_IMODE(aijia.token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(aijia.token_file.parent.stat().st_mode) == 0o700
    token = aijia.saved_token()
    with aijia.store() as store:  # only the hash is kept
        assert token not in json.dumps(store.query("SELECT * FROM api_tokens"))
        [record] = [t for t in store.tokens_of("sam") if t.revoked_at is None]

    me = json.loads(aijia("whoami", "--json").stdout)
    assert me == {
        "user": "sam",
        "roles": ["reviewer"],
        "proof": f"token {record.token_id}",
        "account": True,
    }
    assert "proof  token t-" in aijia("whoami").stdout

    out = aijia("logout")
    assert out.exit_code == 0 and f"token {record.token_id} of sam revoked" in out.stdout
    assert not aijia.token_file.exists()
    gone = aijia("whoami", token=token)  # the old token no longer proves anything
    assert gone.exit_code == 6 and "revoked" in gone.output and "aijia login" in gone.output
    nobody = aijia("whoami")
    assert nobody.exit_code == 6 and "not signed in" in nobody.output


def test_wrong_passwords_lock_the_account_for_a_while(aijia: Aijia):
    _signed_in_admin(aijia)
    assert aijia.add("sam", "reviewer", token=aijia.saved_token()).exit_code == 0
    for _ in range(3):
        wrong = aijia.login("sam", OTHER)
        assert wrong.exit_code == 6 and "wrong user name or password" in wrong.output
    locked = aijia.login("sam")  # the right password, but locked
    assert locked.exit_code == 6 and "locked until" in locked.output
    assert aijia.login("nosuchuser").exit_code == 6  # the same answer for an unknown name
    with aijia.store() as store:
        user = store.get_user("sam")
        assert user is not None and user.locked_until is not None
        kinds = [r["kind"] for r in store.query("SELECT kind FROM ledger ORDER BY seq")]
        assert kinds.count("login_failed") == 2 and kinds.count("account_locked") == 1
        assert store.verify().ok
    time.sleep(1.3)  # accounts.lockout_minutes: 0.02
    again = aijia.login("sam")
    assert again.exit_code == 0, again.output
    with aijia.store() as store:
        user = store.get_user("sam")
        assert user is not None and (user.failed_logins, user.locked_until) == (0, None)


def test_unknown_expired_and_disabled_tokens_are_refused(aijia: Aijia):
    from agent.gates.identity import new_token, token_digest

    admin = _signed_in_admin(aijia)
    assert aijia.add("sam", "reviewer", token=admin).exit_code == 0
    unknown = aijia("whoami", token="aijia_" + "x" * 43)
    assert unknown.exit_code == 6 and "not known" in unknown.output

    expired, sams = new_token(), new_token()
    with aijia.store() as store:
        for token, until in ((expired, "2020-01-01T00:00:00.000000Z"), (sams, None)):
            digest = token_digest(token)
            store.add_token("sam", token_sha256=digest, label="", expires_at=until, by="sam")
    late = aijia("whoami", token=expired)
    assert late.exit_code == 6 and "expired at 2020-01-01" in late.output

    assert aijia("whoami", token=sams).exit_code == 0
    assert aijia("users", "disable", "sam", token=admin).exit_code == 0
    off = aijia("whoami", token=sams)
    assert off.exit_code == 6 and "'sam' is disabled" in off.output
    assert aijia("users", "enable", "sam", token=admin).exit_code == 0
    assert aijia("whoami", token=sams).exit_code == 0


def test_as_and_aijia_user_grant_nothing(aijia: Aijia):
    gone = aijia("run", "lookup_order", "-i", "order_id=A1", "--as", "supervisor")
    assert gone.exit_code == 2 and "--as no longer exists" in " ".join(gone.output.split())
    env = {"AIJIA_USER": "supervisor", "AIJIA_TOKEN": None}
    ignored = CliRunner(env=env).invoke(app, ["whoami", "-c", str(aijia.config)])
    assert ignored.exit_code == 6, ignored.output
    assert "$AIJIA_USER is ignored" in ignored.output and "not signed in" in ignored.output


def test_the_os_user_acts_only_where_trusted_and_never_for_an_account(tmp_path: Path):
    import getpass

    me = getpass.getuser()
    trusting = Aijia(tmp_path, trust_os_user=True, users={me: ["runner"]})
    who = trusting("whoami", "--json")
    assert who.exit_code == 0, who.output
    assert json.loads(who.stdout) == {
        "user": me,
        "roles": ["runner"],
        "proof": "os_user",
        "account": False,
    }
    assert trusting.add(me, "admin").exit_code == 0  # now an account: it must sign in
    refused = trusting("whoami")
    assert refused.exit_code == 6 and "has an account" in refused.output


def test_an_account_edited_in_sqlite_fails_verify(aijia: Aijia):
    admin = _signed_in_admin(aijia)
    assert aijia.add("sam", "reviewer", token=admin).exit_code == 0
    with aijia.store() as store:
        assert store.verify().ok
    db = aijia.folder / "var" / "evidence" / "evidence.db"
    with sqlite3.connect(db) as conn:
        conn.execute("""UPDATE users SET roles = '["supervisor"]' WHERE name = 'sam'""")
    with aijia.store() as store:
        report = store.verify()
    assert not report.ok
    assert [(b.run_id, b.where, b.what) for b in report.breaks] == [
        ("@ledger", 'users ["sam"]', "row changed")
    ], report.breaks
