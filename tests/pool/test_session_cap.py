"""`sites.<name>.max_sessions`: two worker processes sharing one store (and one remote
browser), each a batch with concurrency 4, never hold more than N sessions of the site at
once. Measured twice: at the site (its slow page counts requests in flight; each run holds
one open) and in the evidence (each run's `session_slot_taken` .. `run_finished` interval,
which lies inside the slot it held)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent.browser.slots import hold_session_slot
from agent.core.settings import load_config
from evidence.store import EvidenceStore
from tests.pool.slow_site import SlowSite
from tests.servers.playwright_server import PlaywrightServer

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
RECIPE = """\
name: slow
site: slow
inputs:
  n: {type: integer}
steps:
  - goto: /slow
  - expect: {text: shipped}
"""


def write_config(tmp_path: Path, site: SlowSite, server: PlaywrightServer, cap: int | None) -> Path:
    config = tmp_path / "config.yaml"
    cap_line = f"\n    max_sessions: {cap}" if cap else ""
    config.write_text(
        f"data_dir: {tmp_path / 'var'}\n"
        f"browser:\n  remote: {{ws_endpoint: '{server.ws_endpoint}'}}\n"
        f"evidence: {{capture: 'off'}}\n"
        f"sites:\n  slow:\n    base_url: {site.url}{cap_line}\n"
    )
    (tmp_path / "slow").mkdir(exist_ok=True)
    (tmp_path / "slow" / "slow.yaml").write_text(RECIPE)
    return config


def workers(tmp_path: Path, config: Path, processes: int, rows: int) -> list[str]:
    command = [sys.executable, "-m", "tests.pool.batch_worker", str(config)]
    command += [str(tmp_path / "slow" / "slow.yaml"), str(rows), "4"]
    started = [
        subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(processes)
    ]
    lines: list[str] = []
    try:
        for proc in started:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-3000:]
            lines += out.splitlines()
    finally:
        for proc in started:  # a failed worker must not leave the other one running
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
    return lines


def max_overlap(intervals: list[tuple[str, str]]) -> int:
    edges = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    # at equal times a close (-1) sorts before an open (+1): touching is not overlapping
    current = best = 0
    for _, step in edges:
        current += step
        best = max(best, current)
    return best


def test_two_processes_never_exceed_max_sessions(
    tmp_path: Path, slow_site: SlowSite, browser_server: PlaywrightServer
) -> None:
    config = write_config(tmp_path, slow_site, browser_server, cap=2)
    lines = workers(tmp_path, config, processes=2, rows=4)
    assert len(lines) == 8 and all(line.startswith("done ") for line in lines), lines
    assert slow_site.served == 8
    assert slow_site.max_in_flight == 2  # never more; and the cap is used, not 1

    with EvidenceStore.open(load_config(config)) as store:
        intervals, waited = [], []
        for line in lines:
            events = list(store.events(line.split()[1]))
            taken = next(e for e in events if e.kind == "session_slot_taken")
            finished = next(e for e in events if e.kind == "run_finished")
            assert taken.data["site"] == "slow" and taken.data["max_sessions"] == 2
            assert taken.data["slot"] in (0, 1)
            intervals.append((taken.at, finished.at))
            if taken.data["waiting"]:
                waited.append(taken.data["waiting"])
        assert max_overlap(intervals) <= 2
        assert waited, "8 runs, 4 at a time per process, 2 slots: some must have waited"
        assert waited[0].startswith("waiting for a session slot on slow/default (2 of 2 held")
        # every slot was given back
        assert store.query("SELECT * FROM commit_leases WHERE run_id LIKE 'slot:%'") == []


def test_without_a_cap_the_site_sees_every_session(
    tmp_path: Path, slow_site: SlowSite, browser_server: PlaywrightServer
) -> None:
    """The control: the same batch with no max_sessions runs 4 at once (the site's count
    does measure concurrent sessions)."""
    config = write_config(tmp_path, slow_site, browser_server, cap=None)
    lines = workers(tmp_path, config, processes=1, rows=4)
    assert all(line.startswith("done ") for line in lines), lines
    assert slow_site.max_in_flight > 2


def test_a_dead_holders_slot_frees_itself_when_its_lease_expires(
    tmp_path: Path, run: object
) -> None:
    from agent.core.settings import Settings
    from evidence.slots import take_session_slot

    settings = Settings(data_dir=tmp_path / "var")
    with EvidenceStore.open(settings) as store:
        # a holder that died: its lease is never renewed nor released
        dead = take_session_slot(store, "slow", "ops", cap=1, holder="1@gone", lease_s=0.5)
        assert dead is not None
        assert take_session_slot(store, "slow", "ops", cap=1, holder="2@here") is None

        async def wait_for_it() -> float:
            notes: list[str] = []
            async with hold_session_slot(store, "slow", "ops", cap=1, on_wait=notes.append) as held:
                assert notes == [
                    "waiting for a session slot on slow/ops (1 of 1 held: 1@gone; "
                    "sites.slow.max_sessions = 1)"
                ]
                return held.waited_s

        waited = run(wait_for_it())  # type: ignore[operator]
        assert 0.3 <= waited < 5
        assert take_session_slot(store, "slow", "ops", cap=1, holder="3@here") is not None
