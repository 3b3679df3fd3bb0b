"""Benchmark (not a test): evidence bytes and time per `lookup_order` run, per capture policy.

    .venv/bin/python -m bench.capture [RUNS_PER_POLICY]

Starts the ShopLane sandbox on free ports, runs recipes/shoplane/lookup_order.yaml through the
facade (`AsyncAijia.run`, as the shipped policy's `lead`) against delivered orders with one
Chromium, one warm-up run per policy (it logs in and saves the
session), then RUNS_PER_POLICY timed runs. Reports the median wall time per run, its ratio to
capture `off` (the goal: full capture at most 1.3x), and the evidence bytes a run adds
(database + files). Screenshots are PNG unless AIJIA_BENCH_FORMAT=webp.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from agent import AsyncAijia, RunState, Settings, load_config
from agent.core.settings import BrowserSettings, EvidenceSettings, SiteSettings
from agent.recipes.model import load_recipe
from evidence.store import EvidenceStore
from sandbox.testing import SandboxServer

PROJECT = Path(__file__).resolve().parents[1]
POLICIES = ("off", "on_failure", "on_action", "every_page")


def store_bytes(store: EvidenceStore) -> int:
    """Database (checkpointed, so the WAL's size does not count) plus files."""
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in store.root.rglob("*") if p.is_file())


async def bench(runs: int) -> None:
    from playwright.async_api import async_playwright

    from agent.browser.launch import launch

    fmt = os.environ.get("AIJIA_BENCH_FORMAT", "png")
    recipe = load_recipe(PROJECT / "recipes" / "shoplane" / "lookup_order.yaml")
    with (
        tempfile.TemporaryDirectory() as tmp,
        SandboxServer(Path(tmp) / "sandbox", flavors="shoplane") as sandbox,
    ):
        os.environ.update(sandbox.env())
        orders = [o.order_id for o in sandbox.find_orders("shoplane", "delivered", limit=runs)]
        lead = sandbox.credentials("shoplane")
        site = SiteSettings(
            base_url=sandbox.url("shoplane"),
            flavor="shoplane",
            credentials={"username": lead.username, "password": {"$env": "SHOPLANE_PASSWORD"}},
        )
        shipped = load_config(PROJECT / "config.yaml").policy  # who may run what
        settings = {
            policy: Settings(
                data_dir=Path(tmp) / policy,
                evidence=EvidenceSettings(capture=policy, screenshot_format=fmt),
                sites={"shoplane": site},
                policy=shipped,
            )
            for policy in POLICIES
        }
        stores = {policy: EvidenceStore.open(s) for policy, s in settings.items()}
        times: dict[str, list[float]] = {policy: [] for policy in POLICIES}
        before: dict[str, int] = {}
        async with async_playwright() as pw:
            browser = await launch(pw, BrowserSettings())
            aijias = {
                policy: AsyncAijia(s, store=stores[policy], browser=browser)
                for policy, s in settings.items()
            }

            async def once(policy: str, order_id: str) -> float:
                started = time.perf_counter()
                result = await aijias[policy].run(recipe, {"order_id": order_id}, as_user="lead")
                assert result.state is RunState.DONE, result.error
                return time.perf_counter() - started

            for policy in POLICIES:  # warm-up: logs in and saves the session
                await once(policy, orders[0])
                before[policy] = store_bytes(stores[policy])
            for order_id in orders:  # interleaved, so load on the machine hits all alike
                for policy in POLICIES:
                    times[policy].append(await once(policy, order_id))
            await browser.close()
        results: dict[str, tuple[float, float]] = {}
        for policy, store in stores.items():
            assert store.verify().ok
            added = (store_bytes(store) - before[policy]) / len(orders)
            results[policy] = (statistics.median(times[policy]), added)
            store.close()
    base = results["off"][0]
    print(f"lookup_order, {runs} runs per policy, screenshots {fmt}")
    print(f"{'policy':<12}{'median s/run':>14}{'vs off':>9}{'evidence KiB/run':>19}")
    for policy, (seconds, added) in results.items():
        print(f"{policy:<12}{seconds:>14.3f}{seconds / base:>8.2f}x{added / 1024:>19.1f}")


if __name__ == "__main__":
    asyncio.run(bench(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
