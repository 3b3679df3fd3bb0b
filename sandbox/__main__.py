"""`python -m sandbox`: the sandbox server without the aijia CLI (the test harness runs this).

Prints one JSON line when every seller center accepts connections::

    {"ready": true, "urls": {"shoplane": "http://127.0.0.1:8700", ...},
     "cdn": "http://127.0.0.1:8703", "token": "..."}
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from sandbox.errors import SandboxError
from sandbox.faults import parse_fault_flags
from sandbox.server import Running, ServeOptions, parse_flavors, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--flavor", default="all")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700, help="0: free ports")
    parser.add_argument("--db", type=Path, default=Path("var/sandbox/sandbox.db"))
    parser.add_argument("--seed", type=int, default=2611)
    parser.add_argument("--orders", type=int, default=240)
    parser.add_argument("--today", type=date.fromisoformat, default=None)
    parser.add_argument("--token", default=None)
    parser.add_argument("--fault", action="append", default=[])
    args = parser.parse_args(argv)

    def ready(running: Running) -> None:
        message = {"ready": True, "urls": running.urls, "cdn": running.cdn_url}
        print(json.dumps({**message, "token": running.token}), flush=True)

    try:
        options = ServeOptions(
            flavors=parse_flavors(args.flavor),
            host=args.host,
            port=args.port,
            db_path=args.db,
            seed=args.seed,
            count=args.orders,
            today=args.today,
            token=args.token,
            faults=parse_fault_flags(args.fault),
        )
        serve(options, ready)
    except (SandboxError, ValueError) as exc:
        print(f"sandbox: {exc}", file=sys.stderr, flush=True)
        return 4
    return 0


if __name__ == "__main__":
    sys.exit(main())
