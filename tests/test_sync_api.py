"""`Aijia` is generated from `AsyncAijia` (agent/api/generate_sync.py), never kept by hand."""

from __future__ import annotations

import inspect

from agent import Aijia, AsyncAijia
from agent.api import generate_sync


def test_the_generated_sync_api_is_up_to_date() -> None:
    assert generate_sync.main(["--check"]) == 0, "run: python -m agent.api.generate_sync"


def test_every_coroutine_has_a_sync_twin_with_the_same_parameters() -> None:
    coroutines = {
        name: member
        for name, member in inspect.getmembers(AsyncAijia, inspect.iscoroutinefunction)
        if not name.startswith("_")
    }
    assert {"run", "run_batch", "approve", "reject", "resume", "reconcile"} <= set(coroutines)
    for name, member in coroutines.items():
        twin = getattr(Aijia, name)
        assert not inspect.iscoroutinefunction(twin), name
        if name in generate_sync.HAND_WRITTEN:
            continue
        assert list(inspect.signature(twin).parameters) == list(
            inspect.signature(member).parameters
        ), name
        assert inspect.getdoc(twin) == inspect.getdoc(member), name


def test_the_public_api_is_what_agent_exports() -> None:
    import agent

    assert "Aijia" in agent.__all__ and "AsyncAijia" in agent.__all__
    for name in agent.__all__:
        assert getattr(agent, name) is not None, name
