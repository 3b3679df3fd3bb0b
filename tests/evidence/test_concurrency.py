"""Several processes writing one store: CAS wins once, appends never fork a chain.

The workers are forked (the parent imported everything once, so twenty of them start fast
even on a busy machine); each opens its own SQLite connection after the fork, so they are as
separate as twenty `aijia` processes: SQLite's file locks are per process.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from agent.core.states import RunState
from evidence.store import EvidenceStore
from tests.evidence.conftest import new_run

PROCESSES = 20
APPENDS = 3


def worker(root: Path, run_id: str, number: int, barrier: Any) -> None:
    """Exit status 0: won the compare-and-set, 1: lost it, 2: something broke."""
    try:
        store = EvidenceStore(root)
        barrier.wait(timeout=60)  # everyone tries at the same moment
        won = store.transition(run_id, RunState.PENDING, RunState.RUNNING, reason=str(number))
        for i in range(APPENDS):
            store.append_event(run_id, "step_finished", {"worker": number, "i": i})
        store.close()
    except BaseException:
        os._exit(2)
    os._exit(0 if won else 1)


def test_twenty_processes_compare_and_set_one_run(store_dir: Path) -> None:
    with EvidenceStore(store_dir) as store:
        run = new_run(store)
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(PROCESSES)
    workers = [
        context.Process(target=worker, args=(store_dir, run.run_id, n, barrier))
        for n in range(PROCESSES)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
    codes = [p.exitcode for p in workers]
    assert 2 not in codes and None not in codes, codes
    assert codes.count(0) == 1, codes
    assert codes.count(1) == PROCESSES - 1
    with EvidenceStore(store_dir) as store:
        events = store.events(run.run_id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert len(events) == 1 + 1 + PROCESSES * APPENDS
        assert sum(e.kind == "state_changed" for e in events) == 1
        assert store.get_run(run.run_id).state is RunState.RUNNING
        assert store.verify().ok


def first_opener(root: Path, barrier: Any) -> None:
    try:
        barrier.wait(timeout=60)
        with EvidenceStore(root) as store:  # creates, switches to WAL and migrates at once
            new_run(store)
    except BaseException:
        traceback.print_exc()  # captured by pytest: says why when the test fails
        sys.stderr.flush()
        os._exit(2)
    os._exit(0)


def test_processes_opening_a_new_store_at_once(store_dir: Path) -> None:
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(8)
    workers = [context.Process(target=first_opener, args=(store_dir, barrier)) for _ in range(8)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
    assert [p.exitcode for p in workers] == [0] * 8
    with EvidenceStore(store_dir) as store:
        assert len(store.list_runs()) == 8 and store.verify().ok
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
