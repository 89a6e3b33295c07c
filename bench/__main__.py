"""Run every benchmark module (or those named on the command line) and print one JSON document."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv: list[str]) -> None:
    import bench

    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))
    wanted = [n for n in names if not argv or n.removeprefix("bench_") in argv or n in argv]
    report: dict[str, object] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    for name in wanted:
        start = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        report[name.removeprefix("bench_")] = module.run()
        print(f"# {name} done in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
