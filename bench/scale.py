"""Benchmark (not a test): lookups per minute with 1, 2 and 4 `aijia worker` processes.

    .venv/bin/python -m bench.scale [--rounds 2] [--orders 20] [--workers 1,2,4] [--postgres]

A batch of N `lookup_order` rows (`aijia run lookup_order -f rows.csv --json`) runs against
the ShopLane sandbox over HTTP:

- local: the batch on `runs.backend: local`, the baseline: one process, its own Chromium
  (started inside the timing, as the command does), `--concurrency` 4 (its default);
- W workers: the same command on `runs.backend: temporal` (a Temporal dev server from
  tests/servers/temporal.py): the command starts a workflow per row and waits for each
  result; W `aijia worker` processes (each its default `--concurrency` 4, its own Chromium)
  execute them. Workers are long-lived: they are started, and warmed with 2·W lookups (their
  Chromium launched, the saved session read), before the timing starts.

Wall time is from the command's start to its exit with every row `done`. Around each batch
the bench reads CPU time (psutil) of each process tree it started (the `aijia run` command,
the workers with their Chromium, the Temporal server, the sandbox) and of the whole machine:
on 2 cores, `our CPU s / (2 x wall s)` near 1 means CPU is what stops the scaling. Rounds
rotate the order of the configurations so that drifting load hits each alike. The store is
SQLite (as tests/temporal), or with `--postgres` a throwaway PostgreSQL server
(tests/servers/postgres.py) shared by the command and the workers.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import resource
import signal
import statistics
import subprocess
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml

from agent.core.settings import PROJECT_ROOT

ROLE = "lead"  # the shipped policy's support lead: the OS user acts with these roles
START_TIMEOUT_S = 90.0


def aijia_command() -> str:
    """The `aijia` script next to this Python (the venv's), else the first on PATH."""
    import shutil
    import sys

    found = shutil.which("aijia", path=str(Path(sys.executable).parent)) or shutil.which("aijia")
    if found is None:
        raise SystemExit("the `aijia` command is not installed: pip install -e '.[dev]'")
    return found


@dataclass
class Batch:
    """One timed batch: its wall time and the CPU seconds each process tree spent in it."""

    wall_s: float
    cpu_s: dict[str, float]
    machine_busy: float  # fraction of all cores busy (every process on the machine)
    load: float  # 1-minute load average at the end


@dataclass
class Results:
    machine: str
    orders: int
    batches: dict[str, list[Batch]] = field(default_factory=dict)  # "local", "1 worker" …


def write_config(
    workdir: Path, name: str, base_url: str, runs: dict[str, Any], db: str | None
) -> Path:
    """The shipped config.yaml with this bench's sandbox, data dir and backend; capture off
    as in the other lookup benchmarks (the events are still written)."""
    raw = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text(encoding="utf-8"))
    raw["data_dir"] = str(workdir / "var")
    raw["sites"]["shoplane"]["base_url"] = base_url
    raw["evidence"] = {**(raw.get("evidence") or {}), "capture": "off"}
    if db:
        raw["evidence"]["database"] = db
    raw["runs"] = runs
    raw["policy"]["trust_os_user"] = True  # no token: the OS user acts, with the lead's roles
    raw["policy"]["users"][getpass.getuser()] = raw["policy"]["users"][ROLE]
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def rows_file(path: Path, orders: list[str]) -> Path:
    path.write_text("order_id\n" + "".join(f"{o}\n" for o in orders), encoding="utf-8")
    return path


class Workers:
    """W `aijia worker --json` processes; `start` returns once every one polls."""

    def __init__(self, config: Path, env: dict[str, str], logs: Path, count: int):
        self.processes: list[subprocess.Popen[bytes]] = []
        self.outs: list[Path] = []
        with ExitStack() as files:
            for n in range(count):
                out, err = logs / f"worker{count}-{n}.out", logs / f"worker{count}-{n}.log"
                self.outs.append(out)
                self.processes.append(
                    subprocess.Popen(
                        [aijia_command(), "worker", "--json", "--config", str(config)],
                        stdout=files.enter_context(out.open("wb")),
                        stderr=files.enter_context(err.open("wb")),
                        stdin=subprocess.DEVNULL,
                        env=env,
                    )
                )
        deadline = time.monotonic() + START_TIMEOUT_S
        for process, out in zip(self.processes, self.outs, strict=True):
            while b"ready" not in out.read_bytes():
                if process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    log = out.with_suffix(".log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"`aijia worker` did not start:\n{log}")
                time.sleep(0.1)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def own_cpu(pid: int) -> float:
    """CPU seconds of one process alone (its threads; not its children)."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return float(times.user + times.system)


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live descendants, with the children they reaped
    (Chromium's renderers end inside the browser process's children times)."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            with_children = proc.cpu_times()
            total += sum(with_children[:4])  # user, system, children_user, children_system
    except psutil.NoSuchProcess:
        pass
    return total


def run_batch(config: Path, rows: Path, env: dict[str, str], trees: dict[str, list[int]]) -> Batch:
    """`aijia run lookup_order -f rows --json`, timed; RuntimeError unless every row is done."""
    before = {role: sum(tree_cpu(pid) for pid in pids) for role, pids in trees.items()}
    python_before = sum(own_cpu(pid) for pid in trees.get("workers", []))
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine = psutil.cpu_times()
    started = time.perf_counter()
    done = subprocess.run(
        [
            aijia_command(),
            "run",
            "lookup_order",
            "--site",
            "shoplane",
            "-f",
            str(rows),
            "--json",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=900,
    )
    wall = time.perf_counter() - started
    after_machine = psutil.cpu_times()
    after_reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {role: sum(tree_cpu(pid) for pid in pids) - before[role] for role, pids in trees.items()}
    if "workers" in trees:  # how much of it is the workers' Python, not their Chromium
        cpu["workers_python"] = sum(own_cpu(p) for p in trees["workers"]) - python_before
    # the command (and, on the local backend, its Chromium): reaped by the time run() returns
    cpu["aijia run"] = (after_reaped.ru_utime - reaped.ru_utime) + (
        after_reaped.ru_stime - reaped.ru_stime
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    expected = len(rows.read_text(encoding="utf-8").splitlines()) - 1
    states = [line.get("state") for line in lines]
    if done.returncode != 0 or states.count("done") != expected:
        raise RuntimeError(
            f"batch on {config.name}: exit {done.returncode}, states {states}\n"
            + done.stderr[-3000:]
        )
    idle = ("idle", "iowait")
    busy_s = sum(
        getattr(after_machine, f) - getattr(machine, f)
        for f in after_machine._fields
        if f not in idle and f not in ("guest", "guest_nice")  # guest is inside user
    )
    total_s = sum(after_machine) - sum(machine)
    return Batch(wall, cpu, busy_s / total_s if total_s else 0.0, os.getloadavg()[0])


def run_all(rounds: int, orders: int, levels: list[int], postgres: bool) -> Results:
    import platform

    from sandbox.testing import SandboxServer
    from tests.servers.temporal import TemporalServer

    results = Results(
        machine=f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        orders=orders,
    )
    with tempfile.TemporaryDirectory(prefix="aijia-bench-scale-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        sandbox = stack.enter_context(SandboxServer(workdir / "sandbox", flavors="shoplane"))
        temporal = TemporalServer.start()
        stack.callback(temporal.stop)
        db = None
        trees: dict[str, list[int]] = {"sandbox": [sandbox._proc.pid] if sandbox._proc else []}
        if postgres:
            from tests.servers.postgres import PostgresServer

            server = PostgresServer.start()
            stack.callback(server.stop)
            db = server.url
        base_url = sandbox.url("shoplane").rstrip("/")
        local = write_config(workdir, "local", base_url, {"backend": "local"}, db)
        queue = {"address": temporal.address, "task_queue": f"aijia-bench-{os.getpid()}"}
        remote = write_config(
            workdir, "temporal", base_url, {"backend": "temporal", "temporal": queue}, db
        )
        env = {
            **os.environ,
            **sandbox.env(),
            "AIJIA_RECIPES": str(PROJECT_ROOT / "recipes"),
            "XDG_CONFIG_HOME": str(workdir / "xdg"),  # the signing key: not in ~/.config
        }
        for name in ("AIJIA_TOKEN", "AIJIA_USER"):
            env.pop(name, None)
        ids = [o.order_id for o in sandbox.find_orders("shoplane", None)]
        if len(ids) < orders:
            raise SystemExit(f"the sandbox has {len(ids)} ShopLane orders, fewer than {orders}")
        batch_rows = rows_file(workdir / "rows.csv", ids[:orders])
        # untimed: the session saved, the key created, the sandbox and the page cache warm
        run_batch(local, rows_file(workdir / "warm.csv", ids[-4:]), env, {})
        configurations: list[str | int] = ["local", *levels]
        for n in range(rounds):
            shift = n % len(configurations)
            for chosen in configurations[shift:] + configurations[:shift]:
                trees_now = {**trees, "temporal server": [temporal.process.pid]}  # type: ignore[union-attr]
                if chosen == "local":
                    batch = run_batch(local, batch_rows, env, trees_now)
                    label = "local"
                else:
                    count = int(chosen)
                    workers = Workers(remote, env, workdir, count)
                    try:
                        warm = rows_file(workdir / "warmw.csv", ids[-2 * count :])
                        run_batch(remote, warm, env, {})
                        batch = run_batch(
                            remote, batch_rows, env, {**trees_now, "workers": workers.pids}
                        )
                    finally:
                        workers.stop()
                    label = f"{count} worker{'s' if count > 1 else ''}"
                results.batches.setdefault(label, []).append(batch)
                print(
                    f"round {n + 1} {label}: {orders / batch.wall_s * 60:.1f} lookups/min "
                    f"({batch.wall_s:.1f} s; machine busy {batch.machine_busy:.0%}, "
                    f"load {batch.load:.1f}; cpu s "
                    + ", ".join(f"{k} {v:.1f}" for k, v in batch.cpu_s.items())
                    + ")",
                    flush=True,
                )
    return results


def report(results: Results, rounds: int, store: str) -> str:
    lines = [
        "# Scale: workers",
        "",
        f"{results.machine}; {results.orders} lookups a batch, {rounds} rounds, store {store}; "
        f"load average at the end {os.getloadavg()[0]:.1f}.",
        "",
        "| configuration | lookups/min median (min-max) | wall s median | our CPU / (cores x wall) "
        "| machine busy | CPU s: command / workers (of which Python) / Temporal / sandbox |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    cores = os.cpu_count() or 1
    for label, batches in results.batches.items():
        rates = [results.orders / b.wall_s * 60 for b in batches]
        ours = [sum(b.cpu_s.values()) / (cores * b.wall_s) for b in batches]
        med = {
            part: statistics.median(b.cpu_s.get(part, 0.0) for b in batches)
            for part in ("aijia run", "workers", "workers_python", "temporal server", "sandbox")
        }
        cpu = (
            f"{med['aijia run']:.1f} / {med['workers']:.1f} ({med['workers_python']:.1f}) / "
            f"{med['temporal server']:.1f} / {med['sandbox']:.1f}"
        )
        lines.append(
            f"| {label} | {statistics.median(rates):.1f} ({min(rates):.1f}-{max(rates):.1f}) "
            f"| {statistics.median(b.wall_s for b in batches):.1f} "
            f"| {statistics.median(ours):.0%} "
            f"| {statistics.median(b.machine_busy for b in batches):.0%} | {cpu} |"
        )
    return "\n".join(lines) + "\n"


def levels_of(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="Rounds (the order rotates).")
    parser.add_argument("--orders", type=int, default=20, help="Lookups in a batch.")
    parser.add_argument("--workers", default="1,2,4", help="Worker counts, comma-separated.")
    parser.add_argument(
        "--postgres", action="store_true", help="The store on a throwaway PostgreSQL server."
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=Path(__file__).parent / "results" / "scale.md",
        help="Where the table is written.",
    )
    args = parser.parse_args()
    # `timeout` and Ctrl-C: unwind, so that the servers and workers it started are stopped
    signal.signal(signal.SIGTERM, _interrupted)
    results = run_all(args.rounds, args.orders, levels_of(args.workers), args.postgres)
    text = report(results, args.rounds, "PostgreSQL" if args.postgres else "SQLite")
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
