"""A batch of a read-only recipe reuses one browser context per worker; gated recipes never
share one; a read-only run writes its trail in one commit, with each event's own time."""

from __future__ import annotations

from pathlib import Path

from agent import RunState
from agent.recipes.model import load_recipe
from tests.engine.conftest import RUNNER

VISITS = """\
name: visits
site: local
inputs:
  n: {type: integer}
steps:
  - goto: /visits
  - extract: {visits: {css: "[data-testid=visits]", as: int}}
outputs:
  visits: "{{ visits }}"
"""


def write(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / "local" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_read_only_batch_reuses_one_context_per_worker(run, aijia, tmp_path, local_site):
    recipe = load_recipe(write(tmp_path, VISITS, "visits"))
    rows = [{"n": i} for i in range(6)]
    results = run(aijia.run_batch(recipe, rows, as_user=RUNNER, concurrency=2))
    assert all(r.state is RunState.DONE for r in results), [r.error for r in results]
    counts = sorted(r.outputs["visits"] for r in results)
    # two contexts, each visited three times: its cookie counts 1, 2, 3
    assert counts == [1, 1, 2, 2, 3, 3]


def test_single_runs_get_a_fresh_context_each(run, aijia, tmp_path, local_site):
    recipe = load_recipe(write(tmp_path, VISITS, "visits"))
    for i in range(2):
        result = run(aijia.run(recipe, {"n": i}, as_user=RUNNER))
        assert result.outputs["visits"] == 1


def test_events_of_a_read_only_run_keep_their_own_times(run, aijia, tmp_path, local_site):
    recipe = load_recipe(write(tmp_path, VISITS, "visits"))
    result = run(aijia.run(recipe, {"n": 1}, as_user=RUNNER))
    events = list(aijia.store.events(result.run_id))
    steps = [e for e in events if e.kind == "step_finished"]
    assert len(steps) == 2
    assert steps[0].at < steps[1].at  # when each happened, not when they were written
    assert run(aijia.verify([result.run_id])).ok


def test_gated_batch_never_shares_a_context(run, aijia, tmp_path, local_site):
    gated = VISITS.replace(
        "name: visits",
        'name: gated_visits\ncommits: {method: POST, url: "**/note", fields: {visits: visits}}',
    ).replace(
        "outputs:",
        "  - gate: {action: note, summary: 'visit {{ visits }}', binds: {visits: '{{ visits }}'}}\n"
        "  - goto: /visits\noutputs:",
    )
    recipe = load_recipe(write(tmp_path, gated, "gated_visits"))
    results = run(aijia.run_batch(recipe, [{"n": i} for i in range(3)], as_user=RUNNER))
    assert [r.state for r in results] == [RunState.PAUSED] * 3, [r.error for r in results]
    assert [r.gate.binds["visits"] for r in results if r.gate] == [1, 1, 1]


def test_each_run_of_a_reused_context_starts_on_a_blank_page(run, aijia, tmp_path, local_site):
    starts_blank = VISITS.replace("name: visits", "name: starts_blank").replace(
        "steps:\n", 'steps:\n  - expect: {url: "about:blank"}\n    timeout: 1\n'
    )
    recipe = load_recipe(write(tmp_path, starts_blank, "starts_blank"))
    results = run(
        aijia.run_batch(recipe, [{"n": i} for i in range(3)], as_user=RUNNER, concurrency=1)
    )
    assert [r.state for r in results] == [RunState.DONE] * 3, [r.error for r in results]
    assert [r.outputs["visits"] for r in results] == [1, 2, 3]  # the same context each time


def test_a_long_lived_pool_lends_a_warm_context_and_closes_an_idle_one(
    run, aijia, tmp_path, local_site
):
    """A worker's pool (agent/backends/temporal/activities.py) lives across runs: it lends
    the context an earlier run left, says so in the run's trail, and closes one idle past
    `max_idle_s` instead of lending it."""
    from agent.browser.pool import ContextPool

    recipe = load_recipe(write(tmp_path, VISITS, "visits"))

    def visits(pool: ContextPool) -> tuple[int, list[str]]:
        result = run(aijia._run(recipe, {"n": 1}, as_user=RUNNER, pool=pool))
        assert result.state is RunState.DONE, result.error
        kinds = [e.kind for e in aijia.store.events(result.run_id)]
        return result.outputs["visits"], kinds

    warm = ContextPool(max_idle_s=60)
    first, kinds = visits(warm)
    assert first == 1 and "context_reused" not in kinds
    second, kinds = visits(warm)
    assert second == 2 and "context_reused" in kinds  # the same cookies: the same context
    run(warm.close())

    stale = ContextPool(max_idle_s=0)
    assert visits(stale)[0] == 1
    again, kinds = visits(stale)  # idle too long: closed, and a fresh one lent
    assert again == 1 and "context_reused" not in kinds
    run(stale.close())
