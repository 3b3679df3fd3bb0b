"""Benchmark (not a test): the evidence store's write throughput, SQLite vs. PostgreSQL.

    .venv/bin/python -m bench.scale_store [--rounds 3] [--seconds 4]

Three workloads, each through the store's own API (`EvidenceStore.record` → `append_event`,
`create_run`, `transition`, `finish_run`: the calls a real run makes, not raw SQL):

- events/s, 1 writer: one run, `append_event` in a loop (one durable commit each, as a
  step that is not read-only writes its events);
- events/s, 4 writers: 4 processes (forked, each opens its own store after the fork, as
  separate `aijia` workers do), each appending to its own run, started at one barrier;
- sealed runs/s (1 and 4 writers): create a run, running, 20 events, finish, done (the
  final transition seals the chain: manifest, Ed25519 signature, a root-log line).

Engines: SQLite in a temp dir (WAL, synchronous=FULL, as shipped), and PostgreSQL on a
throwaway server from tests/servers/postgres.py run twice: with fsync on (as production
should run it: a commit waits for the disk, like SQLite's) and fsync off (the test server's
own setting, the ceiling when the disk costs nothing). Each measurement is a fixed window;
rounds rotate the engine order so that drifting machine load hits each alike.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import statistics
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from agent.core.settings import EvidenceSettings, SigningSettings
from agent.core.states import RunState
from evidence.events import PageReviewed
from evidence.store import EvidenceStore

EVENTS_PER_RUN = 20  # the sealed-run workload: a lookup's trail is 8-12 events
WRITERS = 4
forked = multiprocessing.get_context("fork")


@dataclass(frozen=True)
class Engine:
    """Where the rows go: `database` None is SQLite in `root`."""

    name: str
    root: Path
    database: str | None
    key_file: Path
    server_pid: int | None = None  # PostgreSQL's postmaster: its CPU counts too

    def open(self) -> EvidenceStore:
        signing = SigningSettings(key_file=self.key_file, root_log=self.root.parent / "roots.log")
        return EvidenceStore(self.root, EvidenceSettings(database=self.database, signing=signing))


@dataclass
class Figures:
    """engine -> workload -> one rate per round."""

    rates: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    cpu_ms: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # CPU ms an item

    def add(self, engine: str, workload: str, cell: Cell) -> None:
        self.rates.setdefault(engine, {}).setdefault(workload, []).append(cell.rate)
        self.cpu_ms.setdefault(engine, {}).setdefault(workload, []).append(cell.cpu_ms)


@dataclass(frozen=True)
class Cell:
    """One measurement: items a second, and CPU ms an item (writers + database server),
    which other load on the machine changes much less than the rate."""

    rate: float
    cpu_ms: float
    load: float


def new_run(store: EvidenceStore, label: str) -> str:
    run = store.create_run(
        recipe="lookup_order", recipe_version="1", site="shoplane", inputs={"order_id": label}
    )
    store.transition(run.run_id, RunState.PENDING, RunState.RUNNING)
    return run.run_id


def append_events(store: EvidenceStore, until: float) -> int:
    """`append_event` to one run until the monotonic deadline; how many were written."""
    run_id = new_run(store, "events")
    count = 0
    while time.monotonic() < until:
        store.record(run_id, PageReviewed(url=f"/order/{count}", extracted={"n": count}))
        count += 1
    return count


def sealed_runs(store: EvidenceStore, until: float) -> int:
    """Whole runs, created to sealed, until the deadline; how many were sealed."""
    count = 0
    while time.monotonic() < until:
        run_id = new_run(store, f"{count:014d}")
        for n in range(EVENTS_PER_RUN):
            store.record(run_id, PageReviewed(url=f"/order/{count}/{n}", extracted={"n": n}))
        store.finish_run(run_id, outputs={"status": "shipped"})
        store.transition(run_id, RunState.RUNNING, RunState.DONE)
        count += 1
    return count


WORKLOADS: dict[str, Callable[[EvidenceStore, float], int]] = {
    "events": append_events,
    "sealed_runs": sealed_runs,
}


def _writer(
    engine: Engine, workload: str, seconds: float, barrier: Any, out: Any, cpu: Any, slot: int
) -> None:
    """One writer process: open its own store after the fork, wait at the barrier, write."""
    code = 1
    try:
        store = engine.open()
        barrier.wait(timeout=60)
        before = time.process_time()
        out[slot] = WORKLOADS[workload](store, time.monotonic() + seconds)
        cpu[slot] = time.process_time() - before
        store.close()
        code = 0
    except BaseException:
        traceback.print_exc()  # the child exits without unwinding: say why here
    finally:
        os._exit(code)


def server_cpu(pid: int | None) -> float:
    """CPU seconds of the database server: the postmaster, its live backends, and the
    backends it reaped (a closed connection's)."""
    if pid is None:
        return 0.0
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += sum(proc.cpu_times()[:4])
    return total


def measure(engine: Engine, workload: str, writers: int, seconds: float) -> Cell:
    """Items a second over the window, summed over `writers` processes."""
    # shared ints, not a Queue: a Queue's feeder thread dies with os._exit before it sends
    barrier, out = forked.Barrier(writers + 1), forked.Array("q", writers)
    cpu = forked.Array("d", writers)
    started = [
        forked.Process(target=_writer, args=(engine, workload, seconds, barrier, out, cpu, slot))
        for slot in range(writers)
    ]
    for process in started:
        process.start()
    barrier.wait(timeout=60)
    begun, server_before = time.monotonic(), server_cpu(engine.server_pid)
    for process in started:
        process.join(timeout=seconds + 120)
        if process.exitcode != 0:
            raise RuntimeError(f"a {workload} writer on {engine.name} exited {process.exitcode}")
    elapsed = time.monotonic() - begun
    counts = [int(out[slot]) for slot in range(writers)]
    spent = (
        sum(float(cpu[slot]) for slot in range(writers))
        + server_cpu(engine.server_pid)
        - server_before
    )
    # the last write may end a little after the window: count the real time taken
    rate = sum(counts) / max(elapsed, seconds)
    return Cell(rate, spent * 1000 / max(sum(counts), 1), os.getloadavg()[0])


def pid(server: Any) -> int | None:
    """The postmaster's pid (tests/servers/postgres.py keeps it in postmaster.pid)."""
    found: int | None = server._postmaster_pid()
    return found


@contextmanager
def engines(workdir: Path, with_postgres: bool) -> Iterator[list[Engine]]:
    """SQLite, and (when its binaries are there) PostgreSQL with fsync on and off."""
    key = workdir / "keys" / "signing.key"  # outside every store, as shipped
    found = [Engine("sqlite", workdir / "sqlite" / "evidence", None, key)]
    if not with_postgres:
        yield found
        return
    from tests.servers.postgres import PostgresServer, find_pg_bin

    if find_pg_bin() is None:
        print("PostgreSQL is not installed: SQLite only")
        yield found
        return
    durable, fast = PostgresServer.start(), PostgresServer.start()
    try:
        with (durable.data_dir / "postgresql.conf").open("a") as conf:  # later lines win
            conf.write("\n# bench/scale_store.py: commits wait for the disk\nfsync = on\n")
        durable.restart()
        found.append(
            Engine("postgres", workdir / "pg" / "evidence", durable.url, key, pid(durable))
        )
        found.append(
            Engine("postgres_nofsync", workdir / "pgf" / "evidence", fast.url, key, pid(fast))
        )
        yield found
    finally:
        durable.stop()
        fast.stop()


def run_all(rounds: int, seconds: float, with_postgres: bool = True) -> Figures:
    figures = Figures()
    with (
        tempfile.TemporaryDirectory(prefix="aijia-bench-store-") as tmp,
        engines(Path(tmp), with_postgres) as chosen,
    ):
        for engine in chosen:
            engine.open().close()  # schema and key created outside the windows
        for n in range(rounds):
            order = chosen[n % len(chosen) :] + chosen[: n % len(chosen)]
            for engine in order:
                for workload in WORKLOADS:
                    for writers in (1, WRITERS):
                        cell = measure(engine, workload, writers, seconds)
                        figures.add(engine.name, f"{workload}/{writers}", cell)
                        print(
                            f"round {n + 1} {engine.name} {workload} x{writers}: "
                            f"{cell.rate:.1f}/s, {cell.cpu_ms:.2f} CPU ms each, "
                            f"load {cell.load:.1f}",
                            flush=True,
                        )
    return figures


def report(figures: Figures, rounds: int, seconds: float) -> str:
    """A markdown table: median (min-max) per engine and workload."""
    columns = [f"{w}/{n}" for w in WORKLOADS for n in (1, WRITERS)]
    titles = ["events/s, 1 writer", "events/s, 4 writers", "sealed runs/s, 1", "sealed runs/s, 4"]
    lines = [
        f"{rounds} rounds of {seconds:g} s per cell: median (min-max).",
        "",
        "| engine | " + " | ".join(titles) + " |",
        "| --- |" + " ---: |" * len(titles),
    ]
    for engine, rates in figures.rates.items():
        cells = []
        for column in columns:
            values = rates.get(column, [])
            cells.append(
                f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"
                if values
                else "-"
            )
        lines.append(f"| {engine} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "CPU ms an item (writer processes + database server), median:",
        "",
        "| engine | " + " | ".join(titles) + " |",
        "| --- |" + " ---: |" * len(titles),
    ]
    for engine, spent in figures.cpu_ms.items():
        cells = [f"{statistics.median(spent[c]):.1f}" if spent.get(c) else "-" for c in columns]
        lines.append(f"| {engine} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="Rounds (engine order rotates).")
    parser.add_argument("--seconds", type=float, default=4.0, help="Window per measurement.")
    parser.add_argument("--sqlite-only", action="store_true", help="Skip PostgreSQL.")
    parser.add_argument(
        "--report",
        type=Path,
        default=Path(__file__).parent / "results" / "scale_store.md",
        help="Where the table is written.",
    )
    args = parser.parse_args()
    figures = run_all(args.rounds, args.seconds, with_postgres=not args.sqlite_only)
    text = report(figures, args.rounds, args.seconds)
    load = os.getloadavg()
    text = f"# Evidence store writes\n\nload average at the end: {load[0]:.1f}\n\n{text}\n"
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
