"""Where `aijia login` keeps the personal token between commands, and where commands find it.

    $AIJIA_TOKEN                       wins when set (a CI job, a service, one shell)
    accounts.token_store: file         $XDG_CONFIG_HOME/aijia/token (or accounts.token_file):
                                       the directory 0700, the file 0600, written atomically
    accounts.token_store: keyring      the OS keyring, service "aijia", entry "token"

The token is the only secret here: the store keeps only its sha256, so a copy of the
evidence store signs nobody in.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.core.errors import ConfigError

if TYPE_CHECKING:
    from agent.core.settings import AccountsSettings

ENV = "AIJIA_TOKEN"
KEYRING_SERVICE, KEYRING_ENTRY = "aijia", "token"


def token_path(settings: AccountsSettings) -> Path:
    if settings.token_file is not None:
        return Path(settings.token_file).expanduser()
    from agent.core.settings import user_config_dir

    return user_config_dir() / "token"


def where(settings: AccountsSettings) -> str:
    """Where a saved token lives, for messages."""
    if settings.token_store == "keyring":
        return f"the OS keyring ({KEYRING_SERVICE}/{KEYRING_ENTRY})"
    return str(token_path(settings))


def current_token(settings: AccountsSettings) -> tuple[str | None, str]:
    """(the token to act with, where it came from): $AIJIA_TOKEN, else the saved one."""
    from_env = os.environ.get(ENV, "").strip()
    if from_env:
        return from_env, f"${ENV}"
    return load(settings), where(settings)


def load(settings: AccountsSettings) -> str | None:
    if settings.token_store == "keyring":
        value = _keyring().get_password(KEYRING_SERVICE, KEYRING_ENTRY)
        return value.strip() if value else None
    path = token_path(settings)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(
            f"token file {path}: cannot read it: {exc.strerror}",
            hint="check its permissions, or sign in again with `aijia login`",
        ) from None
    return text or None


def save(settings: AccountsSettings, token: str) -> str:
    """Keep the token (replacing any other); where it went."""
    if settings.token_store == "keyring":
        _keyring().set_password(KEYRING_SERVICE, KEYRING_ENTRY, token)
        return where(settings)
    from evidence.files import private_dir

    path = token_path(settings)
    private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the mode of a file left over by a crash, too
        os.write(fd, (token + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    return str(path)


def delete(settings: AccountsSettings) -> bool:
    """Forget the saved token; False when there was none."""
    if settings.token_store == "keyring":
        keyring = _keyring()
        try:
            keyring.delete_password(KEYRING_SERVICE, KEYRING_ENTRY)
        except keyring.errors.PasswordDeleteError:
            return False
        return True
    with contextlib.suppress(FileNotFoundError):
        token_path(settings).unlink()
        return True
    return False


def _keyring() -> Any:
    try:
        import keyring
    except ImportError:
        raise ConfigError(
            "accounts.token_store is keyring, but the `keyring` package is not installed",
            hint="pip install keyring, or set accounts.token_store: file",
        ) from None
    return keyring
