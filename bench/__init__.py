"""Benchmarks: each `bench/bench_*.py` module has `run() -> dict`; `python -m bench` prints all as JSON."""
