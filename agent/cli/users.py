"""Accounts: `aijia users add/list/disable/enable/passwd/tokens/revoke`, and `aijia login`,
`aijia logout`, `aijia whoami`.

Who may do what is the facade's rule (agent/gates/accounts.py): the first account (while
none exists) may be added by anyone who can write the evidence store and must have the admin
role; after that a signed-in admin manages accounts, and a signed-in user changes their own
password and lists or revokes their own tokens. These commands only ask and show.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from agent.cli.common import (
    ConfigOption,
    acting_identity,
    console,
    handles_errors,
    open_aijia,
    print_json,
)

if TYPE_CHECKING:
    from agent import Aijia
    from agent.gates.identity import Identity
    from evidence.accounts import TokenRecord, UserRecord

app = typer.Typer(
    help="Accounts: who may sign in, with which roles, and their personal tokens.",
    no_args_is_help=True,
)

PasswordStdinOption = typer.Option(
    False, "--password-stdin", help="Read the password from the first line of stdin (scripts)."
)


def _password(from_stdin: bool, *, confirm: bool, prompt: str = "Password") -> str:
    """The password from stdin's first line, or asked twice on the terminal (hidden)."""
    from agent.core.errors import InputError

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif not sys.stdin.isatty():
        raise InputError(
            "no terminal to ask the password on",
            hint="pass --password-stdin and write the password to stdin",
        )
    else:
        password = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    if not password:
        raise InputError("the password is empty")
    return password


JsonOption = typer.Option(False, "--json", help="Print the result as JSON.")


def _json_without_prompts(as_json: bool, password_stdin: bool) -> None:
    """`--json` keeps stdout for one JSON document: a password prompt would write there."""
    from agent.core.errors import InputError

    if as_json and not password_stdin:
        raise InputError(
            "--json cannot ask for a password", hint="add --password-stdin and write it to stdin"
        )


def _signed_in(aijia: Aijia) -> Identity | None:
    """The signed-in user (token), or None when nobody is (the OS user never manages
    accounts); an invalid token is refused (exit 6) rather than ignored."""
    from agent.cli.token_store import current_token

    token, _ = current_token(aijia.settings.accounts)
    return aijia.identify(token) if token else None


def _user_dict(user: UserRecord) -> dict[str, Any]:
    from dataclasses import asdict

    return {**asdict(user), "roles": list(user.roles)}


def _token_dict(token: TokenRecord) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(token)


# --------------------------------------------------------------------------- users …


@app.command("add")
@handles_errors
def users_add(
    name: str = typer.Argument(..., help="User name: lower-case letters, digits, . _ -"),
    roles: list[str] = typer.Option(
        ..., "--role", "-r", help="A policy role (policy.roles, or the admin role); repeat."
    ),
    password_stdin: bool = PasswordStdinOption,
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
) -> None:
    """Add an account. The first one (no account yet: bootstrap) may be added by anyone who
    can write the evidence store and must have the admin role; after that, a signed-in
    admin only. Exit codes: 0 added, 2 bad name, role or password, 6 refused."""
    _json_without_prompts(as_json, password_stdin)
    with open_aijia(config) as aijia:
        actor = _signed_in(aijia) if aijia.store.count_users() else None
        password = _password(password_stdin, confirm=True)
        user = aijia.add_user(name, roles=roles, password=password, by=actor)
    if as_json:
        print_json(_user_dict(user))
        return
    how = "bootstrap: the first account" if user.created_by == "bootstrap" else user.created_by
    console().print(f"added {user.name} (roles: {', '.join(user.roles)}; by {how})")
    console().print(f"  `aijia login {user.name}` signs in as them")


@app.command("list")
@handles_errors
def users_list(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """Every account: roles, enabled or not, who added it, lock-out (never a hash)."""
    from rich.table import Table

    from agent.cli.present import shown

    with open_aijia(config) as aijia:
        users = aijia.users()
    if as_json:
        print_json([_user_dict(u) for u in users])
        return
    table = Table(title=f"accounts ({len(users)})")
    for column in ("user", "roles", "state", "added", "by"):
        table.add_column(column, overflow="fold")
    for u in users:
        state = "disabled" if u.disabled else "enabled"
        if u.locked_until:
            state += f", locked until {u.locked_until}"
        table.add_row(
            shown(u.name), shown(", ".join(u.roles)), state, u.created_at, shown(u.created_by or "")
        )
    console().print(table)


@app.command("disable")
@handles_errors
def users_disable(
    name: str = typer.Argument(..., help="User name."),
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
) -> None:
    """Disable an account: it cannot sign in and its tokens stop working at once (admins)."""
    with open_aijia(config) as aijia:
        user = aijia.set_user_enabled(name, enabled=False, by=_signed_in(aijia))
    if as_json:
        print_json(_user_dict(user))
        return
    console().print(f"{user.name} is disabled; their tokens no longer work")


@app.command("enable")
@handles_errors
def users_enable(
    name: str = typer.Argument(..., help="User name."),
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
) -> None:
    """Enable a disabled account again (admins)."""
    with open_aijia(config) as aijia:
        user = aijia.set_user_enabled(name, enabled=True, by=_signed_in(aijia))
    if as_json:
        print_json(_user_dict(user))
        return
    console().print(f"{user.name} is enabled")


@app.command("passwd")
@handles_errors
def users_passwd(
    name: str = typer.Argument(..., help="User name."),
    password_stdin: bool = PasswordStdinOption,
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
) -> None:
    """Set a new password: your own when signed in as NAME, anyone's as an admin (which also
    lifts a lock-out)."""
    _json_without_prompts(as_json, password_stdin)
    with open_aijia(config) as aijia:
        actor = _signed_in(aijia)
        password = _password(password_stdin, confirm=True, prompt="New password")
        user = aijia.set_password(name, password=password, by=actor)
    if as_json:
        print_json(_user_dict(user))
        return
    console().print(f"password of {user.name} changed")


@app.command("tokens")
@handles_errors
def users_tokens(
    name: str = typer.Argument(..., help="User name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """A user's personal tokens (ids, labels, times; never the tokens): your own, or any
    user's as an admin."""
    from rich.table import Table

    from agent.cli.present import shown

    with open_aijia(config) as aijia:
        tokens = aijia.tokens(name, by=_signed_in(aijia))
    if as_json:
        print_json([_token_dict(t) for t in tokens])
        return
    table = Table(title=f"tokens of {shown(name)} ({len(tokens)})")
    for column in ("token", "label", "created", "last used", "expires", "revoked"):
        table.add_column(column, overflow="fold")
    for t in tokens:
        table.add_row(
            t.token_id,
            shown(t.label),
            t.created_at,
            t.last_used_at or "-",
            t.expires_at or "never",
            t.revoked_at or "-",
        )
    console().print(table)


@app.command("revoke")
@handles_errors
def users_revoke(
    token_id: str = typer.Argument(..., help="Token id (t-…), from `aijia users tokens NAME`."),
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
) -> None:
    """Revoke a personal token at once: your own, or anyone's as an admin."""
    with open_aijia(config) as aijia:
        record = aijia.revoke_token(token_id, by=_signed_in(aijia))
    if as_json:
        print_json(_token_dict(record))
        return
    console().print(f"token {record.token_id} of {record.user} revoked at {record.revoked_at}")


# --------------------------------------------------------------------------- sign in, out


@handles_errors
def login(
    name: str | None = typer.Argument(None, help="User name (default: asked, the OS user)."),
    password_stdin: bool = PasswordStdinOption,
    label: str = typer.Option("cli", "--label", help="What this token is for (shown in lists)."),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print who signed in as JSON (never the token); needs --password-stdin.",
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Sign in: check the password and keep a personal token for the next commands
    ($XDG_CONFIG_HOME/aijia/token, 0600, or the OS keyring: accounts.token_store). After
    accounts.max_failed_logins wrong passwords the account is locked for a while.
    Exit codes: 0 signed in, 6 refused (wrong password, locked, disabled)."""
    from agent.cli import token_store

    _json_without_prompts(as_json, password_stdin)
    if name is None:
        name = getpass.getuser() if password_stdin else typer.prompt("User", getpass.getuser())
    with open_aijia(config) as aijia:
        settings = aijia.settings.accounts
        password = _password(password_stdin, confirm=False)
        who, token = aijia.login(name, password, label=label)
        previous = token_store.load(settings)
        saved = token_store.save(settings, token)
        if previous and previous != token:  # one saved token at a time: retire the old one
            aijia.logout(previous)
        record = aijia.store.get_token(who.token_id or "")
    expires = record.expires_at if record else "?"
    if as_json:
        print_json(
            {
                "user": who.user,
                "roles": list(who.roles),
                "token_id": who.token_id,
                "saved_to": str(saved),
                "expires_at": record.expires_at if record else None,
            }
        )
        return
    console().print(f"signed in as {who.user} (roles: {', '.join(who.roles) or 'none'})")
    console().print(f"  token {who.token_id} saved to {saved}; it expires {expires}")


@handles_errors
def logout(
    as_json: bool = typer.Option(
        False, "--json", help="Print what was revoked and forgotten as JSON."
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Sign out: revoke the personal token in use and forget the saved one."""
    from agent.cli import token_store

    with open_aijia(config) as aijia:
        settings = aijia.settings.accounts
        token, source = token_store.current_token(settings)
        record = aijia.logout(token) if token else None
        forgot = token_store.delete(settings)
    if as_json:
        print_json(
            {
                "revoked": record.token_id if record is not None else None,
                "unknown_token": bool(token) and record is None,
                "forgot": str(token_store.where(settings)) if forgot else None,
                "env_token_still_set": source == f"${token_store.ENV}",
            }
        )
        return
    out = console()
    if record is not None:
        out.print(f"token {record.token_id} of {record.user} revoked")
    elif token:
        out.print(f"the token from {source} is not known to this evidence store")
    if forgot:
        out.print(f"forgot the token saved in {token_store.where(settings)}")
    if token is None and not forgot:
        out.print("not signed in")
    if source == f"${token_store.ENV}":
        out.print(f"[yellow]note:[/] ${token_store.ENV} is still set in this shell; unset it")


@handles_errors
def whoami(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """Who the next command acts as: user, roles, and how that is proven (a token, or the
    OS user where policy.trust_os_user allows it). Exit 6 when nobody is signed in."""
    from agent.cli.present import shown

    with open_aijia(config) as aijia:
        who = acting_identity(aijia)
        roles = aijia.policy.roles_of(who.user)
        account = aijia.store.get_user(who.user)
    weaker = " (weaker: anyone using this OS account)" if who.proof == "os_user" else ""
    if as_json:
        print_json({"user": who.user, "roles": roles, "proof": who.proof, "account": bool(account)})
        return
    out = console()
    out.print(f"user   {shown(who.user)}")
    out.print(f"roles  {shown(', '.join(roles) or 'none')}")
    out.print(f"proof  {shown(who.proof)}{weaker}")
