"""A writer that stopped while holding SQLite's write lock: the others fail clearly, in bounded
time, naming who holds it; reads go on; once it is gone, writing works again.

The holder is a real second process that begins a write transaction and stops itself with
SIGSTOP (as a debugger, a laptop lid or `kill -STOP` would).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.core.errors import EvidenceError
from agent.core.settings import EvidenceSettings
from agent.core.states import RunState
from evidence.store import EvidenceStore
from tests.evidence.conftest import new_run

HOLDER = """
import os, signal, sys
from pathlib import Path
from evidence.store import EvidenceStore
store = EvidenceStore(Path(sys.argv[1]))
with store.transaction() as tx:
    tx.append_event(sys.argv[2], "step_started", {"step": 1})
    print("holding", flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)
"""


def _stopped(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


@pytest.fixture
def stalled(store_dir: Path) -> Iterator[tuple[EvidenceStore, str, subprocess.Popen[str]]]:
    store = EvidenceStore(store_dir, EvidenceSettings(busy_timeout_s=1))
    run = new_run(store)
    store.transition(run.run_id, RunState.PENDING, RunState.RUNNING)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store_dir), run.run_id],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        deadline = time.monotonic() + 10
        while not _stopped(holder.pid):
            assert time.monotonic() < deadline, "the holder never stopped"
            time.sleep(0.02)
        yield store, run.run_id, holder
    finally:
        if holder.poll() is None:
            holder.kill()
            os.kill(holder.pid, signal.SIGCONT)
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()
        store.close()


def test_a_stopped_writer_makes_others_fail_clearly_and_in_bounded_time(
    stalled: tuple[EvidenceStore, str, subprocess.Popen[str]],
) -> None:
    store, run_id, holder = stalled
    started = time.monotonic()
    with pytest.raises(EvidenceError) as caught:
        store.append_event(run_id, "step_started", {"step": 2})
    waited = time.monotonic() - started
    assert 0.9 <= waited < 5, waited  # the busy timeout (1 s), not forever
    message = str(caught.value)
    assert str(store.root) in message
    assert f"process {holder.pid} on " in message and "has held the write lock for" in message
    assert "kill" in message  # the hint says what to do
    assert caught.value.exit_code == 7
    # reading needs no lock: verify and the run are still there
    assert store.get_run(run_id).state is RunState.RUNNING
    assert store.verify([run_id]).ok


def test_writing_works_again_once_the_holder_is_gone(
    stalled: tuple[EvidenceStore, str, subprocess.Popen[str]],
) -> None:
    store, run_id, holder = stalled
    holder.kill()  # killed while stopped: SQLite's lock goes with the process
    os.kill(holder.pid, signal.SIGCONT)
    holder.wait(timeout=10)
    store.append_event(run_id, "step_started", {"step": 2})
    store.transition(run_id, RunState.RUNNING, RunState.DONE)
    events = store.events(run_id)
    assert [e.data.get("step") for e in events if e.kind == "step_started"] == [2]
    assert store.verify().ok


def test_a_resumed_holder_commits_and_others_continue(
    stalled: tuple[EvidenceStore, str, subprocess.Popen[str]],
) -> None:
    store, run_id, holder = stalled
    os.kill(holder.pid, signal.SIGCONT)
    assert holder.wait(timeout=20) == 0
    store.transition(run_id, RunState.RUNNING, RunState.DONE)
    assert [e.data.get("step") for e in store.events(run_id) if e.kind == "step_started"] == [1]
    assert store.verify().ok
