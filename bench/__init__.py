"""Benchmarks (never timed tests); bench/REPORT.md lists them with their last figures."""
