"""Secret references: `{$env: NAME}`, `{$file: path}`, `{$keyring: service/name}`.

A reference is resolved at the last moment (when the value is typed into the page), never
rendered into templates, and every resolved value is registered with the evidence sink and the
run's `Masker` so that events, logs, snapshots and error messages show `******` instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.core.errors import SecretError

MASK = "******"
REF_KEYS = ("$env", "$file", "$keyring")


class SecretRef(BaseModel):
    """Exactly one of `$env`, `$file`, `$keyring`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    env: str | None = Field(None, alias="$env", description="Environment variable name.")
    file: str | None = Field(None, alias="$file", description="File whose content is the secret.")
    keyring: str | None = Field(
        None, alias="$keyring", description="OS keyring entry as service/name (needs `keyring`)."
    )

    @model_validator(mode="after")
    def _one(self) -> SecretRef:
        given = [k for k in (self.env, self.file, self.keyring) if k]
        if len(given) != 1:
            raise ValueError("a secret reference has exactly one of $env, $file, $keyring")
        return self

    def describe(self) -> str:
        if self.env:
            return f"{{$env: {self.env}}}"
        if self.file:
            return f"{{$file: {self.file}}}"
        return f"{{$keyring: {self.keyring}}}"


def is_ref(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in REF_KEYS


def resolve(ref: SecretRef, *, site: str, base_dir: Path | None = None) -> str:
    """The secret's value; SecretError naming the reference and the site when it is missing."""
    where = f"{ref.describe()} (site {site})"
    if ref.env:
        value = os.environ.get(ref.env)
        if not value:
            raise SecretError(
                f"secret {where} is not set",
                hint=f"export {ref.env}=… before running (`aijia sandbox serve` prints the "
                "sandbox values)",
            )
        return value
    if ref.file:
        path = Path(ref.file).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretError(
                f"secret {where} cannot be read: {exc.strerror}",
                hint="create the file (mode 0600) or point the reference at the right path",
            ) from None
        if not value:
            raise SecretError(f"secret {where}: the file is empty")
        return value
    assert ref.keyring is not None
    service, _, name = ref.keyring.partition("/")
    try:
        import keyring  # optional: only when a recipe or config uses $keyring
    except ImportError:
        raise SecretError(
            f"secret {where} needs the `keyring` package, which is not installed",
            hint="pip install keyring, or use {$env: NAME} / {$file: path}",
        ) from None
    try:
        value = keyring.get_password(service, name)
    except keyring.errors.KeyringError as exc:  # no backend (headless server), locked, …
        raise SecretError(
            f"secret {where}: the OS keyring cannot be read: {exc}",
            hint="unlock or configure a keyring backend, or use {$env: NAME} / {$file: path}",
        ) from None
    if not value:
        raise SecretError(f"secret {where} is not in the OS keyring")
    return str(value)


class Masker:
    """Replaces every registered secret value with ****** in text and nested data."""

    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, value: str) -> None:
        if value:
            self._values.add(value)

    def extend(self, values: Iterable[str]) -> None:
        for value in values:
            self.add(value)

    def text(self, text: str) -> str:
        # longest first, so a secret containing another is masked whole
        for value in sorted(self._values, key=len, reverse=True):
            text = text.replace(value, MASK)
        return text

    def data(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        return value
