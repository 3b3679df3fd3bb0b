"""Secret references: `{$env: NAME}`, `{$file: path}`, `{$keyring: service/name}`.

A reference is resolved at the last moment (when the value is typed into the page), never
rendered into templates, and every resolved value is registered with the evidence sink and the
run's `Masker` so that events, logs, snapshots and error messages show `******` instead.

`SecretSpellings` (`agent.core.spellings`) finds a value in every spelling a page, a URL, a
script or a file gives it; the runner's `Masker` and the evidence store's `Redactor` both use
it, so what one masks the other masks too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.core.errors import SecretError
from agent.core.spellings import MASK, SecretSpellings

__all__ = ["MASK", "Masker", "SecretRef", "SecretSpellings", "is_ref", "resolve"]

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
    """Replaces every registered secret value, in every spelling, with ****** in text and
    nested data (keys too)."""

    def __init__(self) -> None:
        self.spellings = SecretSpellings(min_length=1)

    def add(self, value: str) -> None:
        self.spellings.add(value)

    def extend(self, values: Iterable[str]) -> None:
        for value in values:
            self.add(value)

    @property
    def values(self) -> tuple[str, ...]:
        """The registered values, longest first (to find them on a page, never to log)."""
        return self.spellings.values

    def text(self, text: str) -> str:
        return self.spellings.mask(text)

    def data(self, value: Any) -> Any:
        if not self.spellings:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        if isinstance(value, dict):
            return {
                self.text(k) if isinstance(k, str) else k: self.data(v) for k, v in value.items()
            }
        return value
