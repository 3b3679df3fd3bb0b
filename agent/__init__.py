"""Aijia: a headless back-office agent that follows declarative recipes.

The public API is what this package exports (`__all__`); everything in its sub-packages is
internal and may change without notice::

    from agent import Aijia

    with Aijia.from_config("config.yaml") as aijia:
        result = aijia.run("lookup_order", {"order_id": "2611260K4X7QJ8"}, as_user="lead")
        print(result.state, result.outputs)

`Aijia` is the sync API; `AsyncAijia` the same methods as coroutines. README.md, "Python API",
has a runnable example (a test runs it).

Names are imported lazily (PEP 562), so `import agent.core.errors` (what the evidence store
and the CLI's `--help` need) does not load Playwright, the engine or the store.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Aijia": "agent.api.sync_api",
    "AsyncAijia": "agent.api.async_api",
    "RunResult": "agent.engine.result",
    "GateInfo": "agent.engine.result",
    "RunState": "agent.core.states",
    "Settings": "agent.core.settings",
    "load_config": "agent.core.settings",
    "Decision": "agent.gates.decide",
    "GateView": "agent.gates.decide",
    "Reconciled": "agent.engine.reconcile",
    "AgentError": "agent.core.errors",
    "ConfigError": "agent.core.errors",
    "RecipeError": "agent.core.errors",
    "InputError": "agent.core.errors",
    "SecretError": "agent.core.errors",
    "BrowserError": "agent.core.errors",
    "StepError": "agent.core.errors",
    "GateError": "agent.core.errors",
    "PolicyError": "agent.core.errors",
    "EvidenceError": "agent.core.errors",
    "ScheduleError": "agent.core.errors",
}

__all__ = [
    "AgentError",
    "Aijia",
    "AsyncAijia",
    "BrowserError",
    "ConfigError",
    "Decision",
    "EvidenceError",
    "GateError",
    "GateInfo",
    "GateView",
    "InputError",
    "PolicyError",
    "RecipeError",
    "Reconciled",
    "RunResult",
    "RunState",
    "ScheduleError",
    "SecretError",
    "Settings",
    "StepError",
    "load_config",
]

if TYPE_CHECKING:
    from agent.api.async_api import AsyncAijia
    from agent.api.sync_api import Aijia
    from agent.core.errors import (
        AgentError,
        BrowserError,
        ConfigError,
        EvidenceError,
        GateError,
        InputError,
        PolicyError,
        RecipeError,
        ScheduleError,
        SecretError,
        StepError,
    )
    from agent.core.settings import Settings, load_config
    from agent.core.states import RunState
    from agent.engine.reconcile import Reconciled
    from agent.engine.result import GateInfo, RunResult
    from agent.gates.decide import Decision, GateView


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'agent' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
