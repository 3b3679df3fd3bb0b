"""A part of the page loaded late by a fetch that answered HTTP 5xx: the element that is missing
because of it is a transient error, replayed from the last `goto` in the prepare phase."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from agent import RunResult
from agent.core.states import RunState
from agent.recipes.model import load_recipe
from tests.engine.conftest import RUNNER

RECIPE = """\
name: late
site: local
steps:
  - goto: /late
  - wait_for: {hidden: {text: Loading tracking}}
  - extract: {tracking: {testid: part}}
outputs: {tracking: "{{ tracking }}"}
"""


def go(run: Any, aijia: Any, path: Path) -> RunResult:
    return run(aijia.run(load_recipe(path), {}, as_user=RUNNER))


def replays(store: Any, result: RunResult) -> list[dict[str, Any]]:
    return [dict(e.data) for e in store.events(result.run_id) if e.kind == "steps_replayed"]


def test_a_part_that_failed_to_load_is_loaded_again(run, aijia, store, local_site, tmp_path):
    path = tmp_path / "late.yaml"
    path.write_text(textwrap.dedent(RECIPE))
    local_site.state.late_part_fails = 1
    result = go(run, aijia, path)
    assert result.state is RunState.DONE, result.error
    assert result.outputs == {"tracking": "Delivered"}
    [replay] = replays(store, result)
    assert (replay["from_step"], replay["failed_step"]) == ("1", "3")
    assert "GET " in replay["error"] and "/late-part answered HTTP 500" in replay["error"]
    assert local_site.state.requests.count("GET /late") == 2


def test_a_missing_element_on_a_healthy_page_is_not_replayed(
    run, aijia, store, local_site, tmp_path
):
    path = tmp_path / "late.yaml"
    path.write_text(textwrap.dedent(RECIPE).replace("testid: part", "testid: nowhere"))
    result = go(run, aijia, path)
    assert result.state is RunState.FAILED
    assert "testid='nowhere' matched nothing" in (result.error or "")
    assert replays(store, result) == []
    assert local_site.state.requests.count("GET /late") == 1
