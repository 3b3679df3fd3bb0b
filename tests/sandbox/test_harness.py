"""The test harness itself: the published fixture list matches what the server serves, and a
second, differently seeded server can run next to the session one."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sandbox.fixtures import CASES
from sandbox.testing import SandboxServer

FLAVORS = ("shoplane", "markethub", "storefront")


@pytest.mark.parametrize("flavor", FLAVORS)
def test_fixture_list_matches_the_server(sandbox: SandboxServer, flavor: str) -> None:
    for case in CASES:
        for summary in sandbox.find_orders(flavor, case, limit=2):
            served = sandbox.order(flavor, summary.order_id)
            assert (
                served["status"],
                served["currency"],
                served["total"],
                served["refundable"],
            ) == (summary.status, summary.currency, summary.total, summary.refundable), (
                case,
                summary.order_id,
            )
            assert summary.url_path.endswith("/" + served["ref"])


def test_a_second_server_with_its_own_seed(tmp_path: Path, sandbox: SandboxServer) -> None:
    with SandboxServer(tmp_path, flavors="storefront", seed=7, orders=30) as other:
        assert list(other.base_urls) == ["storefront"]
        assert other.info()["count"] == 30
        first = other.find_orders("storefront")[0]
        assert first.order_id == "#1030"
        assert other.order("storefront", first.order_id)["total"] == first.total
        assert other.url("storefront") != sandbox.url("storefront")
        url = other.url("storefront")
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)
