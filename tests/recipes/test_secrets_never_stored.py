"""The canary test on real runs: the password the agent types never reaches the evidence store.

The sandbox's lead password is the canary. Runs of the shipped recipes (every page captured,
with MHTML copies and a Playwright trace)
and a run that fails with the password still typed into the form (failure screenshot + DOM)
are recorded; then every byte under the data dir — SQLite database and WAL, artifact files
(zip members unpacked), saved sessions — is decoded layer by layer and searched for the
canary (tests/security/leaks.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.core.states import RunState
from agent.recipes.model import load_recipe
from tests.recipes.conftest import Runner
from tests.security.leaks import scan

CANARY_RECIPE = Path(__file__).parent / "canary" / "fail_after_password.yaml"


def _scan(root: Path, secret: str) -> list[str]:
    """Every hit of the secret under root, in any spelling (tests/security/leaks.py decodes
    every layer a page, a trace or an MHTML may wrap it in)."""
    return scan([root], [secret], root=root)


def test_typed_password_never_reaches_the_store(
    run: Any, chromium: Any, product: Any, store: Any, sandbox: Any
) -> None:
    product.evidence.capture = "every_page"
    product.evidence.full_page = True
    product.evidence.trace = True  # the trace records every fill, the password's too
    product.evidence.mhtml = True
    secret = sandbox.credentials("shoplane").password
    shoplane = Runner("shoplane", run, chromium, product, store)
    order = sandbox.find_orders("shoplane", "delivered", limit=1)[0]

    failed = run(shoplane.aijia.run(load_recipe(CANARY_RECIPE), {}, as_user="lead"))
    assert failed.state is RunState.FAILED
    assert "failing on purpose" in (failed.error or "")
    assert secret not in (failed.error or "")

    looked_up = shoplane("lookup_order", order_id=order.order_id)
    assert looked_up.state is RunState.DONE, looked_up.error
    assert "session_login" in shoplane.event_kinds(looked_up)  # the password was typed

    assert failed.run_id is not None
    artifacts = {
        store.artifact(sha).kind for e in store.events(failed.run_id) for sha in e.artifacts
    }
    assert {"screenshot", "dom", "mhtml", "trace"} <= artifacts, "every kind was captured"
    store.close()
    assert _scan(product.data_dir, secret) == []
