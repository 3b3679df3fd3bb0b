"""Benchmarks (never timed tests). `python -m bench` runs them and writes bench/REPORT.md."""
