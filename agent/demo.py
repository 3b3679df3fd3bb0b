"""`aijia demo`: the main job against the sandbox seller centers, start to finish.

The sandbox runs in a subprocess on free ports with its own database under
`<data_dir>/demo-sandbox/`; the config's sites are pointed at it in memory, and the sandbox's
published demo passwords are put in the environment the config's `{$env: …}` references read.
Runs and evidence go to the configured evidence store, so `aijia evidence show RUN` works after.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.config import Settings
from agent.errors import SandboxError

if TYPE_CHECKING:
    from sandbox.fixtures import OrderSummary
    from sandbox.testing import SandboxServer


@dataclass(frozen=True)
class DemoOrder:
    flavor: str
    order: OrderSummary
    refund_amount: str  # a part of what is refundable, as text with 2 decimals
    reason: str
    customer_ask: str  # what the buyer wrote to support, recorded as the case's ask


@contextmanager
def demo_sandbox(settings: Settings, flavors: str = "all") -> Iterator[SandboxServer]:
    """Start the sandbox, point `settings.sites` at it and export its demo passwords."""
    from sandbox.testing import SandboxServer

    workdir = settings.data_dir / "demo-sandbox"
    db = workdir / "sandbox.db"
    if db.exists():
        db.unlink()  # the demo always starts from the seeded state
    server = SandboxServer(workdir, seed=settings.sandbox.seed, flavors=flavors)
    server.start()
    saved = {name: os.environ.get(name) for name in server.env()}
    try:
        os.environ.update(server.env())
        for name, url in server.base_urls.items():
            site = settings.sites.get(name)
            if site is None:
                raise SandboxError(
                    f"config.yaml has no site {name!r} for the sandbox's {name} seller center",
                    hint="keep the shoplane/markethub/storefront entries of the shipped config",
                )
            site.base_url = url.rstrip("/")
            site.allowed_domains = []
        yield server
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()


def pick_demo_order(server: SandboxServer, flavor: str = "shoplane") -> DemoOrder:
    """A completed, partially refunded order: there is something left to refund."""
    orders = server.find_orders(flavor, "partially_refunded", limit=20)
    candidates = [o for o in orders if float(o.refundable) >= 2]
    if not candidates:
        raise SandboxError(f"the {flavor} seed has no partially refunded order to demo with")
    order = candidates[0]
    amount = f"{round(float(order.refundable) / 2, 2):.2f}"
    ask = (
        f"Order {order.order_id}: the item arrived damaged. Can I get "
        f"{order.currency} {amount} back?"
    )
    return DemoOrder(
        flavor=flavor, order=order, refund_amount=amount, reason="damaged", customer_ask=ask
    )
