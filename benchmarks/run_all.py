"""Run every marsad benchmark in turn (``make bench``) and print one summary.

Each benchmark is its own script, run here as a subprocess so a crash or a memory
spike in one does not skew the next. Benchmarks that need ``../shared/eval`` skip
cleanly when it is absent. Pass names to run a subset: ``run_all.py fetch topic``.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# name -> script and arguments; ordered cheapest first.
BENCHMARKS: dict[str, list[str]] = {
    "topic": ["topic_bench.py"],
    "decode": ["decode_bench.py"],
    "langid": ["langid_eval.py"],
    "sitemaps": ["sitemap_compare.py"],
    "dedup": ["dedup_eval.py"],
    "dedup-throughput": ["dedup_throughput.py"],
    "dedup-stream": ["dedup_stream.py"],
    "stream-state": ["stream_state_bench.py"],
    "fetch": ["fetch_bench.py"],
    "hostile": ["hostile_bounds.py"],
    # a year of hourly runs for 40 outlets, before/after compaction (~10 min)
    "year": ["year_sim.py"],
    # The whole run against a bare requests + trafilatura loop (issue #15). Quick size by
    # default; ``overhead.py --pages 500,5000 --profile-pages 2000`` is the full judge.
    "overhead": ["overhead.py", "--pages", "500", "--repeats", "3"],
}


def machine() -> str:
    cpus = os.cpu_count() or 0
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    return f"{platform.platform()}, python {platform.python_version()}, {cpus} CPUs, load {load}"


def main(argv: list[str] | None = None) -> int:
    wanted = (argv if argv is not None else sys.argv[1:]) or list(BENCHMARKS)
    unknown = [name for name in wanted if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    print(f"machine: {machine()}")
    results: list[tuple[str, int, float]] = []
    for name in wanted:
        script, *args = BENCHMARKS[name]
        if not (HERE / script).exists():
            print(f"\n== {name}: {script} missing, skipped")
            continue
        print(f"\n== {name}", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(HERE / script), *args], cwd=ROOT)
        results.append((name, code, time.perf_counter() - started))
    print("\n== summary")
    for name, code, seconds in results:
        print(f"{name:18s} {'ok' if code == 0 else f'exit {code}':8s} {seconds:8.1f} s")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
