"""Throughput of ClusterNearDuplicates on the ANT corpus (about 31,500 Arabic articles).

    .venv/bin/python benchmarks/dedup_throughput.py [--limit N] [--json-out FILE] [beam options]

Reads ``../shared/eval/arabic_text/ant_multisource_v2.1.parquet`` (relative to the
project root) inside the pipeline, clusters it end to end through the Beam
transform on the local FnApiRunner (unless ``--runner`` says otherwise), and
reports articles per second and the process's peak resident memory. Skips with
a message when the evaluation data is absent.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from datetime import UTC
from email.utils import parsedate_to_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import apache_beam as beam  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from apache_beam.metrics.metric import MetricsFilter  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions  # noqa: E402

from marsad.dedup.neardup import NearDupConfig  # noqa: E402
from schemas.records import Article  # noqa: E402
from transforms.common import METRICS_NAMESPACE  # noqa: E402
from transforms.dedup_near import ClusterNearDuplicates  # noqa: E402

ANT = ROOT.parent / "shared" / "eval" / "arabic_text" / "ant_multisource_v2.1.parquet"
COLUMNS = ["url", "src", "title", "time", "text"]


def ant_articles(path: str, limit: int = 0):
    """Articles of the ANT corpus; ids are ``ant<row>`` (row numbers of ant_pairs.parquet)."""
    table = pq.read_table(path, columns=COLUMNS)
    if limit:
        table = table.slice(0, limit)
    for row, record in enumerate(table.to_pylist()):
        try:
            published = parsedate_to_datetime(record["time"]).astimezone(UTC)
        except (TypeError, ValueError):
            published = None
        yield Article(
            article_id=f"ant{row}",
            url=record["url"] or "",
            canonical_url=record["url"] or "",
            source=record["src"] or "",
            feed_url="",
            run_id="bench",
            title=record["title"] or "",
            text=record["text"] or "",
            text_chars=len(record["text"] or ""),
            published_at=published,
        )


def run(limit: int, beam_args: list[str], config: NearDupConfig) -> dict:
    options = PipelineOptions(beam_args)
    if not options.view_as(StandardOptions).runner:
        options.view_as(StandardOptions).runner = "FnApiRunner"
    started = time.perf_counter()
    pipeline = beam.Pipeline(options=options)
    _ = (
        pipeline
        | "Corpus" >> beam.Create([str(ANT)])
        | "ReadAnt" >> beam.FlatMap(ant_articles, limit)
        | "Spread" >> beam.Reshuffle()
        | "DedupNear" >> ClusterNearDuplicates(config)
    )
    result = pipeline.run()
    result.wait_until_finish()
    wall = time.perf_counter() - started
    counters = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    counts = {c.key.metric.name: c.committed for c in counters["counters"]}
    articles = counts.get("dedup_near.in", 0)
    peak_kb = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    return {
        "articles": articles,
        "wall_s": round(wall, 1),
        "articles_per_s": round(articles / wall, 1),
        "peak_rss_mb": round(peak_kb / 1024),
        "duplicates": counts.get("dedup_near.duplicate", 0),
        "canonical": counts.get("dedup_near.canonical", 0),
        "candidate_pairs": counts.get("dedup_near.candidate_pairs", 0),
        "similar_pairs": counts.get("dedup_near.similar_pairs", 0),
        "unresolved": counts.get("dedup_near.unresolved", 0),
        "runner": options.view_as(StandardOptions).runner,
        "threshold": config.threshold,
        "banding": list(config.banding()),
        "cpus": len(__import__("os").sched_getaffinity(0)),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="First N articles (default all).")
    parser.add_argument("--threshold", type=float, default=NearDupConfig.threshold)
    parser.add_argument("--json-out", help="Also write the figures to this JSON file.")
    args, beam_args = parser.parse_known_args(argv)
    if not ANT.exists():
        print(f"skipped: evaluation data not found at {ANT}")
        return 0
    figures = run(args.limit, beam_args, NearDupConfig(threshold=args.threshold))
    print(json.dumps(figures, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
