"""One worker process of the session-cap test: a batch of the `slow` recipe on the config
given, as the test runner, through the public API (its own store handle and browser).

    python -m tests.pool.batch_worker CONFIG RECIPE ROWS CONCURRENCY

Prints one line per run: `<state> <run_id>`.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from agent import AsyncAijia
from agent.core.settings import load_config
from tests.conftest import TEST_USERS, add_policy_users


async def main(config: Path, recipe: Path, rows: int, concurrency: int) -> None:
    settings = load_config(config)
    add_policy_users(settings, TEST_USERS)
    async with AsyncAijia(settings) as aijia:
        results = await aijia.run_batch(
            recipe, [{"n": i} for i in range(rows)], as_user="tester", concurrency=concurrency
        )
    for result in results:
        print(result.state.value, result.run_id, result.error or "", flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
