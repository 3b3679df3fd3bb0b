"""Run backends: where a run executes once the facade has checked it.

local     (the default) the run executes in the process that started it: `aijia run`,
          `aijia serve`'s commit worker, the scheduler. Nothing to install.
temporal  a run is a Temporal workflow (workflow id = run id): its prepare phase, commit and
          reconcile are activities on `aijia worker` processes, and a gate is a durable wait
          for an approval signal with the gate's expiry as a timer (agent/backends/temporal/).
          Schedules are Temporal schedules (`aijia schedule sync`) whose fires run on workers.

The backend adds durability and waking, never a second bookkeeping: run states, gates,
approvals, the commit lease and the ledger stay in the evidence store, and every activity
re-reads them before acting. `runs.backend` in config.yaml picks one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.core.errors import ConfigError

if TYPE_CHECKING:
    from agent.api.sync_api import Aijia
    from agent.backends.temporal.schedules import ScheduleChange
    from agent.core.settings import Settings
    from agent.engine.result import RunResult
    from agent.recipes.model import Recipe
    from evidence.schedules import Fire


def uses_temporal(settings: Settings) -> bool:
    """True when runs of this config execute as Temporal workflows."""
    return settings.runs.backend == "temporal"


def require_temporal() -> None:
    """ConfigError (exit 2) with the fix when the temporal backend's SDK is not installed."""
    try:
        import temporalio  # noqa: F401 - only whether it is there
    except ImportError:
        raise ConfigError(
            "runs.backend is temporal, and the Temporal SDK (temporalio) is not installed",
            hint="pip install 'aijia[scale]', or set runs.backend: local in config.yaml",
        ) from None


def run_on_temporal(
    aijia: Aijia,
    recipe: str | Path | Recipe,
    rows: Sequence[Mapping[str, Any]],
    options: Mapping[str, Any],
    *,
    numbered: bool | None = None,
) -> list[RunResult]:
    """`aijia run` on the temporal backend: a workflow per row, each result once its prepare
    phase has ended (done, failed, or paused at a gate the workflow then waits at).
    `numbered`: rows carry their number (rows of an inputs file, even a single one); default:
    when there is more than one."""
    require_temporal()
    from agent.backends.temporal.client import run_rows_sync

    return run_rows_sync(aijia, recipe, rows, options, numbered=numbered)


def wake_run(settings: Settings, run_id: str, gate_id: str, *, approved: bool) -> bool:
    """After a decision recorded in the store: wake the run's workflow (temporal backend),
    which re-reads the store and commits or closes the run. False when it has no live
    workflow; ConfigError when the Temporal service cannot be reached. The decision stands
    either way: the workflow also re-reads the store at the gate's expiry."""
    from agent.core.aio import run_sync

    return run_sync(lambda: wake_run_async(settings, run_id, gate_id, approved=approved))


async def wake_run_async(settings: Settings, run_id: str, gate_id: str, *, approved: bool) -> bool:
    """`wake_run` for code already on an event loop (the review console)."""
    require_temporal()
    from agent.backends.temporal.client import signal_decision

    return await signal_decision(settings, run_id, gate_id, approved=approved)


def sync_schedules(aijia: Aijia) -> list[ScheduleChange]:
    """`aijia schedule sync`: config.yaml's schedules as Temporal schedules. ConfigError on
    the local backend, where `aijia schedule run` fires them."""
    if not uses_temporal(aijia.settings):
        raise ConfigError(
            "`aijia schedule sync` puts schedules in Temporal, and runs.backend is "
            f"{aijia.settings.runs.backend!r}",
            hint="on the local backend `aijia schedule run` fires them; set runs.backend: "
            "temporal to let Temporal do it",
        )
    require_temporal()
    from agent.backends.temporal.schedules import sync_schedules as sync

    impl = aijia._impl  # the sync facade's AsyncAijia, on the loop thread that owns it
    return aijia._run(sync(impl))


def trigger_on_temporal(aijia: Aijia, name: str) -> Fire:
    """`aijia schedule trigger` on the temporal backend: one fire of `name`, now, on an
    `aijia worker`; the fire once it ended."""
    require_temporal()
    from agent.backends.temporal.schedules import trigger_fire

    impl = aijia._impl
    return aijia._run(trigger_fire(impl, name))
