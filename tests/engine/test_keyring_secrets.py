"""`{$keyring: service/name}` secrets, through a real keyring backend (a file one, as a
headless server would configure; the OS backends need a desktop session)."""

from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from keyrings.alt.file import PlaintextKeyring

from agent.core.errors import SecretError
from agent.core.secrets import SecretRef, resolve


@pytest.fixture
def file_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    previous = keyring.get_keyring()
    backend = PlaintextKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def test_a_keyring_secret_resolves(file_keyring) -> None:
    keyring.set_password("aijia-shoplane", "password", "from-the-keyring")
    ref = SecretRef.model_validate({"$keyring": "aijia-shoplane/password"})
    assert resolve(ref, site="shoplane") == "from-the-keyring"


def test_a_missing_keyring_entry_names_the_reference(file_keyring) -> None:
    ref = SecretRef.model_validate({"$keyring": "aijia-shoplane/nope"})
    with pytest.raises(SecretError, match=r"aijia-shoplane/nope.*site shoplane.*not in the OS"):
        resolve(ref, site="shoplane")


def test_no_keyring_backend_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from keyring.backends.fail import Keyring as NoBackend

    previous = keyring.get_keyring()
    keyring.set_keyring(NoBackend())
    try:
        ref = SecretRef.model_validate({"$keyring": "aijia-shoplane/password"})
        with pytest.raises(SecretError, match="cannot be read"):
            resolve(ref, site="shoplane")
    finally:
        keyring.set_keyring(previous)
