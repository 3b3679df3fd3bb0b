"""lookup_order through Aijia vs. the same clicks in a hand-written Playwright script.

Both sides use the same Chromium, the same sandbox (ShopLane, over HTTP on 127.0.0.1), a saved
login (storage state) and a fresh browser context per lookup, and read the same fields by the
same labels. Aijia's side is the public facade (`AsyncAijia.run`, as the shipped policy's
`lead`) and includes everything a real run does (the policy check, input binding, the evidence
store's hash-chained events in SQLite, the allowed-domain guard) with screenshot/DOM capture
off (`evidence.capture: off`), as the issue asks. The two alternate, A B A B …, so that drift
in machine load hits both alike; the report gives medians and the ratio of medians.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent import AsyncAijia, RunState, Settings, load_config
from agent.browser.launch import launch
from agent.core.settings import PROJECT_ROOT

USER = "lead"  # the shipped policy's support lead (role agent_runner)

FIELDS = (
    "Order ID",
    "Order status",
    "Order date",
    "Buyer name",
    "Payment method",
    "Shipping address",
    "Items subtotal",
    "Shipping fee",
    "Order total",
    "Refunded so far",
    "Refundable amount",
    "Carrier",
    "Tracking number",
    "Tracking status",
)


@dataclass
class Results:
    machine: str
    rounds: int
    aijia_s: list[float] = field(default_factory=list)
    script_s: list[float] = field(default_factory=list)
    throughput: dict[int, float] = field(default_factory=dict)  # contexts -> lookups/minute
    batch_orders: int = 0


async def hand_written_lookup(browser: Any, base_url: str, state: Any, order_id: str) -> dict:
    """What a developer would write by hand for the same lookup: a fresh context per order."""
    context = await browser.new_context(base_url=base_url, storage_state=state)
    try:
        return await read_order(await context.new_page(), order_id)
    finally:
        await context.close()


async def read_order(page: Any, order_id: str) -> dict:
    """The same reads as the lookup_order recipe, by the same labels."""
    await page.goto(f"/portal/sale/order?search={order_id}")
    await page.get_by_role("link", name=order_id, exact=True).click()
    await page.get_by_text("Loading tracking information").wait_for(state="hidden")
    values = {}
    for label in FIELDS:
        values[label] = await page.get_by_label(label, exact=True).inner_text()
    table = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="SKU"))
    values["items"] = await table.locator("tbody tr").all_inner_texts()
    values["tracking"] = (
        await page.get_by_role("listitem").filter(has=page.locator("time")).all_inner_texts()
    )
    assert values["Order ID"] == order_id
    return values


async def login_state(browser: Any, base_url: str, username: str, password: str) -> Any:
    context = await browser.new_context(base_url=base_url)
    page = await context.new_page()
    await page.goto("/account/signin")
    await page.get_by_label("Email", exact=True).fill(username)
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_role("button", name="Log in", exact=True).click()
    await page.get_by_role("heading", name="My Orders").wait_for()
    state = await context.storage_state()
    await context.close()
    return state


def bench_settings(workdir: Path, base_url: str) -> Settings:
    settings = load_config(PROJECT_ROOT / "config.yaml")
    settings.data_dir = workdir / "var"
    settings.evidence.capture = "off"
    settings.sites["shoplane"].base_url = base_url
    return settings


async def run_all(rounds: int, batch_orders: int, levels: list[int]) -> Results:
    import os
    import platform

    from playwright.async_api import async_playwright

    from evidence.store import EvidenceStore
    from sandbox.testing import SandboxServer

    results = Results(
        machine=f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        rounds=rounds,
        batch_orders=batch_orders,
    )
    with tempfile.TemporaryDirectory(prefix="aijia-bench-") as tmp:
        workdir = Path(tmp)
        with SandboxServer(workdir / "sandbox", flavors="shoplane") as sandbox:
            os.environ.update(sandbox.env())
            base_url = sandbox.url("shoplane").rstrip("/")
            settings = bench_settings(workdir, base_url)
            creds = sandbox.credentials("shoplane")
            orders = [o.order_id for o in sandbox.find_orders("shoplane", None)]
            async with async_playwright() as pw:
                browser = await launch(pw, settings.browser)
                state = await login_state(browser, base_url, creds.username, creds.password)
                with EvidenceStore.open(settings) as store:
                    aijia = AsyncAijia(settings, store=store, browser=browser)
                    recipe = aijia.recipe("lookup_order", "shoplane")
                    # warm-up: Aijia logs in once and saves its session, both warm the server
                    await aijia.run(recipe, {"order_id": orders[0]}, as_user=USER)
                    await hand_written_lookup(browser, base_url, state, orders[0])
                    for i in range(rounds):
                        order_id = orders[(i + 1) % len(orders)]
                        started = time.perf_counter()
                        result = await aijia.run(recipe, {"order_id": order_id}, as_user=USER)
                        results.aijia_s.append(time.perf_counter() - started)
                        if result.state is not RunState.DONE:
                            raise RuntimeError(f"lookup_order failed: {result.error}")
                        started = time.perf_counter()
                        await hand_written_lookup(browser, base_url, state, order_id)
                        results.script_s.append(time.perf_counter() - started)
                    await aijia.close()
                    await browser.close()
                    for level in levels:
                        rows = [{"order_id": o} for o in orders[:batch_orders]]
                        # its own Chromium, started inside the timing, as `aijia run -f` does
                        async with AsyncAijia(settings, store=store) as batch_aijia:
                            started = time.perf_counter()
                            batch = await batch_aijia.run_batch(
                                recipe, rows, as_user=USER, concurrency=level
                            )
                            elapsed = time.perf_counter() - started
                        failed = [r for r in batch if r.state is not RunState.DONE]
                        if failed:
                            raise RuntimeError(f"batch at {level}: {failed[0].error}")
                        results.throughput[level] = len(rows) / elapsed * 60
    return results


def write_report(results: Results, path: Path) -> None:
    a = statistics.median(results.aijia_s)
    s = statistics.median(results.script_s)
    ratio = a / s
    lines = [
        "# Benchmarks",
        "",
        "Written by `python -m bench` (`make bench`); numbers from the last run on: "
        f"{results.machine}.",
        "",
        "## lookup_order: Aijia vs. a hand-written Playwright script",
        "",
        f"{results.rounds} alternating pairs, same Chromium, same ShopLane sandbox, saved login,"
        " a fresh context per lookup, evidence capture off (events still written).",
        "",
        "| | median s | p90 s | min s |",
        "| --- | ---: | ---: | ---: |",
        _row("Aijia `lookup_order`", results.aijia_s),
        _row("hand-written script", results.script_s),
        "",
        f"**Ratio of medians: {ratio:.3f}** (goal ≤ 1.15, aim ≤ 1.05).",
        "",
        "## Batch throughput (lookup_order, one browser, N contexts)",
        "",
        f"{results.batch_orders} lookups per level.",
        "",
        "| contexts | lookups / minute |",
        "| ---: | ---: |",
        *(f"| {n} | {v:.1f} |" for n, v in sorted(results.throughput.items())),
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def _row(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"| {name} | {statistics.median(values):.3f} | {p90:.3f} | {ordered[0]:.3f} |"
