"""Several processes writing one store: CAS wins once, appends never fork a chain."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from agent.states import RunState
from evidence.store import EvidenceStore
from tests.evidence.conftest import new_run

PROJECT = Path(__file__).resolve().parents[2]

WORKER = """
import sys, time
from pathlib import Path
from agent.states import RunState
from evidence.store import EvidenceStore

root, run_id, start_at, worker = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
store = EvidenceStore(root)
while time.time() < start_at:
    time.sleep(0.005)
won = store.transition(run_id, RunState.PENDING, RunState.RUNNING, reason=worker)
for i in range(3):
    store.append_event(run_id, "step_finished", {"worker": worker, "i": i})
store.close()
print("won" if won else "lost")
"""

PROCESSES = 20


def test_twenty_processes_compare_and_set_one_run(store_dir: Path) -> None:
    with EvidenceStore(store_dir) as store:
        run = new_run(store)
    start_at = time.time() + 4.0  # every worker has imported and opened the store by then
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(store_dir), run.run_id, str(start_at), str(n)],
            cwd=PROJECT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(PROCESSES)
    ]
    results = []
    for proc in workers:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(out.strip())
    assert results.count("won") == 1
    assert results.count("lost") == PROCESSES - 1
    with EvidenceStore(store_dir) as store:
        events = store.events(run.run_id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert len(events) == 1 + 1 + PROCESSES * 3
        assert sum(e.kind == "state_changed" for e in events) == 1
        assert store.get_run(run.run_id).state is RunState.RUNNING
        assert store.verify().ok
