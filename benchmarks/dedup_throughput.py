"""Cost of ``marsad dedup`` end to end at 10k, 30k and 100k articles (ANT plus realistic copies).

    .venv/bin/python benchmarks/dedup_throughput.py [--sizes 10000,30000,100000]
                                                    [--json-out FILE] [beam options]

The corpus is the ANT corpus (``../shared/eval/arabic_text``, 31,525 articles) plus
wire copies of its articles made by ``dedup_corpus.syndicate_corpus`` (14 outlets'
editing habits); each size is the first N of that mixture by publication time (so
duplicates are as dense at every size), written to a temporary Parquet file. Each size runs in a fresh process
the way a user runs it: read the table, ``dedup_table`` (the Beam transform on the
local FnApiRunner unless ``--runner`` says otherwise), write the result. Reported per
size: wall time, articles per second, the process's peak resident memory, the largest
LSH bucket and component, candidate and linked pairs; then memory per 1,000
articles at each size, which must not grow (linear at most), and a 5 MB one-line
text fingerprinted alone (bounded memory). Skips with a message when the evaluation
data is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
for entry in (str(ROOT), str(HERE)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import dedup_corpus  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from marsad.dedup.neardup import NearDupConfig  # noqa: E402

DEFAULT_SIZES = (10_000, 30_000, 100_000)
COPIES_PER_STORY = 3.5  # fewer than the ~3.7 syndicate_corpus makes a story: enough copies


def build_corpus(eval_dir: Path, size: int, seed: int = 5, full: int = 100_000) -> pa.Table:
    """The first ``size`` documents, by publication time, of one mixture of ANT and wire
    copies of its articles (``full`` documents)."""
    ant, categories = dedup_corpus.load_ant(eval_dir)
    docs = list(ant)
    full = max(full, size)
    if full > len(docs):
        stories = int((full - len(docs)) / COPIES_PER_STORY * 1.1) + 1
        docs += dedup_corpus.syndicate_corpus(ant, categories, stories, seed=seed).docs
    # A slice of time, not a random sample: a copy is published hours after its
    # original, so a slice keeps each story whole and duplicates as dense at every size.
    chosen = sorted(docs, key=lambda d: (d.published_us or 0, d.doc_id))[:size]
    return pa.table(
        {
            "id": [d.doc_id for d in chosen],
            "text": [d.text for d in chosen],
            "source": [d.source for d in chosen],
            "published_at": pa.array([d.published_us for d in chosen], pa.int64()).cast(
                pa.timestamp("us", tz="UTC")
            ),
        }
    )


def run_one(corpus: str, beam_args: list[str]) -> dict:
    """In this (fresh) process: read, cluster and write ``corpus`` as `marsad dedup` does."""
    from pipeline.dedup_cmd import dedup_input
    from pipeline.tables import write_table

    started = time.perf_counter()
    metrics: dict = {}
    result = dedup_input(corpus, NearDupConfig(), False, beam_args, metrics)
    with tempfile.TemporaryDirectory(prefix="marsad-bench-out-") as scratch:
        write_table(result, os.path.join(scratch, "out.parquet"))
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "articles": result.num_rows,
        "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "articles_per_s": round(result.num_rows / wall, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "largest_bucket": metrics.get("dedup_near.bucket_size", {}).get("max", 1),
        "largest_component": metrics.get("dedup_near.component_size", {}).get("max", 1),
        "candidate_pairs": metrics.get("dedup_near.candidate_pairs", 0),
        "linked_pairs": metrics.get("dedup_near.linked_pairs", 0),
        "duplicates": result.num_rows - len(set(result.column("cluster_id").to_pylist())),
    }


def long_text_memory(megabytes: int = 5) -> dict:
    """Fingerprint one ``megabytes`` MB one-line text; peak Python/numpy allocation."""
    import tracemalloc

    from marsad.dedup.neardup import Doc, doc_fingerprints

    words = [f"كلمة{i % 50_000}" for i in range(megabytes * 1024 * 1024 // 11)]
    text = " ".join(words)
    tracemalloc.start()
    started = time.perf_counter()
    doc_fingerprints([Doc("long", text, "x", 0)], NearDupConfig())
    seconds = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "text_mb": round(len(text.encode("utf-8")) / 2**20, 1),
        "peak_alloc_mb": round(peak / 2**20),
        "seconds": round(seconds, 1),
    }


def load() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument("--eval-dir", default=str(dedup_corpus.EVAL_DIR))
    parser.add_argument("--json-out", help="Also write the figures to this JSON file.")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one corpus file
    args, beam_args = parser.parse_known_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, beam_args)))
        return 0
    eval_dir = Path(args.eval_dir)
    missing = dedup_corpus.missing_eval_files(eval_dir)
    if missing:
        print(f"skipped: evaluation data not found: {', '.join(missing)}")
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    report = {
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
        "load_before": load(),
        "runs": [],
    }
    print(f"machine: {report['machine']}, load {report['load_before']}")
    print(
        f"{'articles':>9} {'wall s':>7} {'cpu s':>6} {'art/s':>6} {'peak MB':>8} {'MB/1k':>6} "
        f"{'bucket':>6} {'comp.':>5} {'cand.':>8} {'linked':>7} {'dups':>6}  load"
    )
    with tempfile.TemporaryDirectory(prefix="marsad-bench-corpus-") as scratch:
        for size in sizes:
            corpus = os.path.join(scratch, f"corpus-{size}.parquet")
            pq.write_table(build_corpus(eval_dir, size), corpus)
            child = subprocess.run(
                [sys.executable, __file__, "--one", corpus, *beam_args],
                capture_output=True,
                text=True,
                cwd=ROOT,
                check=False,
            )
            if child.returncode != 0:
                print(child.stderr[-3000:])
                return 1
            figures = json.loads(child.stdout.strip().splitlines()[-1])
            figures["load_after"] = load()
            report["runs"].append(figures)
            print(
                f"{figures['articles']:>9} {figures['wall_s']:>7} {figures['cpu_s']:>6} "
                f"{figures['articles_per_s']:>6} "
                f"{figures['peak_rss_mb']:>8} {figures['peak_rss_mb'] / size * 1000:>6.1f} "
                f"{figures['largest_bucket']:>6} {figures['largest_component']:>5} "
                f"{figures['candidate_pairs']:>8} {figures['linked_pairs']:>7} "
                f"{figures['duplicates']:>6}  {figures['load_after']}",
                flush=True,
            )
    report["long_text"] = long_text_memory()
    lt = report["long_text"]
    print(
        f"one-line text of {lt['text_mb']} MB fingerprinted in {lt['seconds']} s, "
        f"peak allocation {lt['peak_alloc_mb']} MB"
    )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
