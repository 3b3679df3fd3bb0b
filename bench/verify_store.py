"""Benchmark (not a test): how long `verify --all` takes on a store of many runs, and how long
the one-run check that approve/resume make before committing (`agent.gates.trust`) takes there.

    .venv/bin/python -m bench.verify_store [RUNS] [DIR]

Each run looks like a `lookup_order` trail: run_created, customer_asked, two state changes,
three page_reviewed events with a screenshot (8 KiB, unique per run) and a DOM snapshot
(4 KiB), action_done, run_finished, and the sealing transition. Setup writes with
synchronous=OFF to save time (straight into the store: these are not runs of a recipe);
verify reads as it would in production, through the facade (`Aijia.verify`, what
`aijia evidence verify --all` calls).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from agent import Aijia, RunState, Settings
from evidence.events import ActionDone, PageReviewed
from evidence.store import EvidenceStore


def build(store: EvidenceStore, runs: int) -> None:
    store.db.execute("PRAGMA synchronous = OFF")
    store.open_case("BENCH-1", channel="email", ask="where is my order?")
    for n in range(runs):
        run = store.create_run(
            recipe="lookup_order",
            recipe_version="1",
            site="shoplane",
            inputs={"order_id": f"{n:014d}"},
            case_id="BENCH-1" if n % 10 == 0 else None,
        )
        store.transition(run.run_id, RunState.PENDING, RunState.RUNNING)
        for page in range(3):
            shot = store.put_artifact(os.urandom(8192), kind="screenshot", media_type="image/png")
            dom = store.put_artifact(
                (f"<html><body>order {n} page {page}" + "x" * 4096).encode(),
                kind="dom",
                media_type="text/html",
            )
            store.record(
                run.run_id,
                PageReviewed(
                    url=f"http://127.0.0.1:8700/order/{n}/{page}", extracted={"status": "shipped"}
                ),
                [shot, dom],
            )
        store.record(run.run_id, ActionDone(action="lookup", summary="status shipped"))
        store.finish_run(run.run_id, outputs={"status": "shipped"})
        store.transition(run.run_id, RunState.RUNNING, RunState.DONE)


def main(argv: list[str]) -> None:
    runs = int(argv[1]) if len(argv) > 1 else 10_000
    root = Path(argv[2]) if len(argv) > 2 else Path(tempfile.mkdtemp()) / "evidence"
    with EvidenceStore(root) as store:
        if not store.list_runs(limit=1):
            started = time.perf_counter()
            build(store, runs)
            print(f"built {runs} runs in {time.perf_counter() - started:.1f} s at {root}")
    db_bytes = sum(p.stat().st_size for p in root.glob("evidence.db*"))
    file_bytes = sum(p.stat().st_size for p in (root / "objects").rglob("*") if p.is_file())
    print(f"store: {db_bytes / 2**20:.1f} MiB database, {file_bytes / 2**20:.1f} MiB files")
    with EvidenceStore(root) as store, Aijia(Settings(data_dir=root.parent), store=store) as aijia:
        started = time.perf_counter()
        report = aijia.verify()
        elapsed = time.perf_counter() - started
    print(
        f"verify --all: {report.runs_checked} runs, {report.events_checked} events, "
        f"{report.artifacts_checked} artifacts in {elapsed:.1f} s "
        f"({elapsed / max(report.runs_checked, 1) * 1000:.2f} ms a run); ok={report.ok}"
    )
    with EvidenceStore(root) as store:  # a fresh process's view: no signature cache yet
        last = store.list_runs(limit=1)[0].run_id
        started = time.perf_counter()
        one = store.verify([last])
        elapsed = time.perf_counter() - started
    print(f"verify one run (before a commit): {elapsed * 1000:.0f} ms; ok={one.ok}")


if __name__ == "__main__":
    main(sys.argv)
