"""One store process (as on one machine): open the store `config.yaml` describes, record
a run from start to done (so it is sealed, and the ledger too), close; print the run id.

    python -m tests.migrate.seal_one CONFIG
"""

from __future__ import annotations

import sys
from pathlib import Path

from agent.core.settings import load_config
from agent.core.states import RunState
from evidence.store import EvidenceStore


def main(config: Path) -> str:
    with EvidenceStore.open(load_config(config)) as store:
        run = store.create_run(
            recipe="lookup_order", recipe_version="1", site="shoplane", inputs={"n": 1}
        )
        store.transition(run.run_id, RunState.PENDING, RunState.RUNNING)
        store.finish_run(run.run_id, outputs={"status": "shipped"})
        store.transition(run.run_id, RunState.RUNNING, RunState.DONE)
        return run.run_id


if __name__ == "__main__":
    print(main(Path(sys.argv[1])))
