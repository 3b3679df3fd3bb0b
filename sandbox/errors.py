"""The one error the sandbox raises on purpose.

The sandbox imports nothing from `agent/` or `evidence/` (an import contract checks it), so it
has its own error. It looks like Aijia's errors (a message, a hint, exit code 4: "browser or
sandbox unavailable"), and the CLI reports it the same way.
"""

from __future__ import annotations


class SandboxError(Exception):
    """The sandbox seller centers could not start, or a test helper's request failed."""

    exit_code = 4

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message
