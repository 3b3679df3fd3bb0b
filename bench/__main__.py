"""`python -m bench [--heavy] [--rounds N] [--orders N]`: lookup_order vs. a hand-written
script, and batch throughput; writes bench/results/lookup.md (light sandbox pages) or, with
--heavy, bench/results/heavy.md (bench/REPORT.md summarises every benchmark)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from bench.heavy import run_heavy, write_heavy_report
from bench.lookup import run_all, write_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15, help="Alternating pairs for the ratio.")
    parser.add_argument("--orders", type=int, default=48, help="Lookups per throughput point.")
    parser.add_argument(
        "--contexts", default="1,2,4,8", help="Concurrency levels for throughput, comma-separated."
    )
    parser.add_argument(
        "--report", type=Path, default=Path(__file__).parent / "results" / "lookup.md"
    )
    parser.add_argument(
        "--heavy",
        action="store_true",
        help="Heavy pages (many subresources, a CDN): writes bench/results/heavy.md.",
    )
    args = parser.parse_args()
    args.report.parent.mkdir(parents=True, exist_ok=True)
    levels = [int(x) for x in args.contexts.split(",") if x.strip()]
    if args.heavy:
        heavy = asyncio.run(run_heavy(args.rounds, args.orders, levels))
        report = args.report.with_name("heavy.md")
        write_heavy_report(heavy, report)
        print(report.read_text(encoding="utf-8"))
        return
    results = asyncio.run(run_all(args.rounds, args.orders, levels))
    write_report(results, args.report)
    print(args.report.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
