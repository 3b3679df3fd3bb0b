"""lookup_order on *heavy* pages (fault `heavy`: ~35 cacheable assets, some slow, and one
script from a CDN origin) — Aijia vs. a hand-written Playwright script doing the same reads.

Same process model on both sides, alternating A B A B, medians:

- **single**: a fresh browser context per lookup with the saved login (what `aijia run`
  does for one order; isolation per run), for capture `off` and `every_page`;
- **batch**: one context per worker reused for every lookup of the batch (what `aijia run -f`
  does for a read-only recipe), lookups per minute at 1, 2 and 4 workers.

Aijia runs with its containment on (the CDN listed in `allowed_origins`, everything else sent
to the sinkhole) and writes its events to a real store. Where Aijia's extra time goes is
measured from its own events (time inside steps vs. around them).
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent import AsyncAijia, RunState, Settings
from agent.browser.launch import launch
from bench.lookup import bench_settings, hand_written_lookup, login_state, read_order

USER = "lead"


@dataclass
class HeavyResults:
    machine: str
    rounds: int
    pairs: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    inside_steps: dict[str, list[float]] = field(default_factory=dict)
    captures: dict[str, int] = field(default_factory=dict)  # capture policy -> pages per run
    batch: dict[int, tuple[float, float]] = field(default_factory=dict)  # workers -> (A, S)
    batch_orders: int = 0
    requests_per_lookup: int = 0


async def _script_batch(browser: Any, base_url: str, state: Any, orders: list[str], n: int) -> None:
    """A hand-written batch: n workers, one context each, reused for all their lookups."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for order in orders:
        queue.put_nowait(order)

    async def worker() -> None:
        context = await browser.new_context(base_url=base_url, storage_state=state)
        try:
            page = await context.new_page()
            while not queue.empty():
                await read_order(page, queue.get_nowait())
        finally:
            await context.close()

    await asyncio.gather(*(worker() for _ in range(n)))


def _inside_steps(aijia: AsyncAijia, run_id: str) -> float:
    return sum(
        float(e.data.get("duration_ms") or 0) / 1000
        for e in aijia.store.events(run_id)
        if e.kind == "step_finished"
    )


def _captures(aijia: AsyncAijia, run_id: str) -> int:
    return sum(1 for e in aijia.store.events(run_id) if e.kind == "page_captured")


async def run_heavy(rounds: int, batch_orders: int, levels: list[int]) -> HeavyResults:
    from playwright.async_api import async_playwright

    from evidence.store import EvidenceStore
    from sandbox.testing import SandboxServer

    results = HeavyResults(
        machine=f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        rounds=rounds,
        batch_orders=batch_orders,
    )
    with tempfile.TemporaryDirectory(prefix="aijia-bench-heavy-") as tmp:
        workdir = Path(tmp)
        sandbox_dir = workdir / "sandbox"
        with SandboxServer(sandbox_dir, flavors="shoplane", faults={"heavy": "true"}) as sandbox:
            os.environ.update(sandbox.env())
            base_url = sandbox.url("shoplane").rstrip("/")
            settings: Settings = bench_settings(workdir, base_url)
            settings.sites["shoplane"].allowed_origins = [sandbox.cdn_url]
            creds = sandbox.credentials("shoplane")
            orders = [o.order_id for o in sandbox.find_orders("shoplane", None)]
            async with async_playwright() as pw:
                browser = await launch(pw, settings.browser)
                state = await login_state(browser, base_url, creds.username, creds.password)
                results.requests_per_lookup = await _count_requests(
                    browser, base_url, state, orders
                )
                with EvidenceStore.open(settings) as store:
                    aijia = AsyncAijia(settings, store=store, browser=browser)
                    recipe = aijia.recipe("lookup_order", "shoplane")
                    await aijia.run(recipe, {"order_id": orders[0]}, as_user=USER)  # log in
                    await hand_written_lookup(browser, base_url, state, orders[0])
                    for capture in ("off", "every_page"):
                        settings.evidence.capture = capture
                        a_times: list[float] = []
                        s_times: list[float] = []
                        inside: list[float] = []
                        for i in range(rounds):
                            order_id = orders[(i + 1) % len(orders)]
                            started = time.perf_counter()
                            result = await aijia.run(recipe, {"order_id": order_id}, as_user=USER)
                            a_times.append(time.perf_counter() - started)
                            if result.state is not RunState.DONE:
                                raise RuntimeError(f"lookup_order failed: {result.error}")
                            inside.append(_inside_steps(aijia, result.run_id or ""))
                            results.captures[capture] = _captures(aijia, result.run_id or "")
                            started = time.perf_counter()
                            await hand_written_lookup(browser, base_url, state, order_id)
                            s_times.append(time.perf_counter() - started)
                        results.pairs[capture] = (a_times, s_times)
                        results.inside_steps[capture] = inside
                    settings.evidence.capture = "off"
                    for level in levels:
                        rows = [{"order_id": o} for o in orders[:batch_orders]]
                        started = time.perf_counter()
                        batch = await aijia.run_batch(recipe, rows, as_user=USER, concurrency=level)
                        a_rate = len(rows) / (time.perf_counter() - started) * 60
                        failed = [r for r in batch if r.state is not RunState.DONE]
                        if failed:
                            raise RuntimeError(f"batch at {level}: {failed[0].error}")
                        started = time.perf_counter()
                        await _script_batch(browser, base_url, state, orders[:batch_orders], level)
                        s_rate = len(rows) / (time.perf_counter() - started) * 60
                        results.batch[level] = (a_rate, s_rate)
                    await aijia.close()
                await browser.close()
    return results


async def _count_requests(browser: Any, base_url: str, state: Any, orders: list[str]) -> int:
    context = await browser.new_context(base_url=base_url, storage_state=state)
    seen: list[str] = []
    context.on("request", lambda r: seen.append(r.url))
    try:
        page = await context.new_page()
        await read_order(page, orders[0])
    finally:
        await context.close()
    return len(seen)


def write_heavy_report(results: HeavyResults, path: Path) -> None:
    lines = [
        "# lookup_order on heavy pages: Aijia vs. a hand-written Playwright script",
        "",
        f"Machine: {results.machine}. Sandbox ShopLane with fault `heavy` "
        f"({results.requests_per_lookup} requests per lookup in a fresh context, one of them "
        "on a CDN origin). Aijia runs contained (CDN in `allowed_origins`).",
        "",
        "## One lookup, a fresh context each (alternating pairs, medians)",
        "",
        "| capture | pages captured per run | Aijia s | script s | ratio | goal | "
        "Aijia time inside steps s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    goals = {"off": "≤ 1.10", "every_page": "≤ 1.25"}
    for capture, (a, s) in results.pairs.items():
        ma, ms = statistics.median(a), statistics.median(s)
        inside = statistics.median(results.inside_steps[capture])
        lines.append(
            f"| {capture} | {results.captures.get(capture, 0)} | {ma:.3f} | {ms:.3f} | "
            f"**{ma / ms:.3f}** | {goals[capture]} | {inside:.3f} |"
        )
    lines += [
        "",
        f'{results.rounds} pairs per row. "Inside steps" is the sum of the run\'s own '
        "`step_finished` durations; the rest of Aijia's time is around the steps (policy check, "
        "run record, new context with the saved session and containment, closing it, sealing).",
        "",
        f"## Batch: one context per worker, reused ({results.batch_orders} lookups per level)",
        "",
        "| workers | Aijia lookups/min | script lookups/min | ratio |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for level, (a_rate, s_rate) in sorted(results.batch.items()):
        lines.append(f"| {level} | {a_rate:.1f} | {s_rate:.1f} | {s_rate / a_rate:.3f} |")
    lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
