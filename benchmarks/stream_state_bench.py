"""Streaming state benchmark: a simulated day of polling through the keyed-state dedup.

96 polls (every 15 minutes) over 200 feeds; each poll lists each feed's latest 20
items, of which ~1-2 are new (the rest repeats). Entries go through
``FirstSeenFn`` (the streaming URL dedup with event-time TTL) under TestStream on
the BundleBasedDirectRunner, the watermark advancing with the polls. Reports
per-poll work (entries in, new entries out, wall time), live state entries at the
end (bounded by the TTL, not by the day's volume) and peak memory.

    python benchmarks/stream_state_bench.py [--feeds 200] [--polls 96] [--ttl-hours 6]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms.window import TimestampedValue
from apache_beam.typehints import Any, Tuple

from schemas.records import FeedEntry
from transforms.stream_state import EXPIRED, FirstSeenFn

POLL_SECONDS = 900


def simulate(
    feeds: int, polls: int, window: int, seed: int = 7
) -> list[list[tuple[str, FeedEntry]]]:
    rng = random.Random(seed)
    latest = {f: [f"f{f}-i{i}" for i in range(window)] for f in range(feeds)}
    counters = dict.fromkeys(range(feeds), window)
    batches = []
    for _poll in range(polls):
        batch = []
        for f in range(feeds):
            for _ in range(rng.choice((0, 1, 1, 2))):
                latest[f] = [f"f{f}-i{counters[f]}", *latest[f][:-1]]
                counters[f] += 1
            for item in latest[f]:
                entry = FeedEntry(
                    source=f"s{f}",
                    feed_url=f"https://f{f}.example/rss",
                    link=f"https://f{f}.example/{item}",
                    article_id=item,
                )
                batch.append((item, entry))
        batches.append(batch)
    return batches


def _count_new(entry):
    from benchmarks._tally import TALLY

    TALLY["new"] += 1
    return entry


class _CountExpired(beam.DoFn):
    """When the stream ends the watermark jumps to infinity and every timer fires;
    only expiries within the simulated day count against the day's state."""

    def __init__(self, day_end: float) -> None:
        self.day_end = day_end

    def process(self, _key, timestamp=beam.DoFn.TimestampParam):
        from benchmarks._tally import TALLY

        if float(timestamp) <= self.day_end:
            TALLY["expired"] += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--polls", type=int, default=96)
    parser.add_argument("--items", type=int, default=20, help="items listed per feed per poll")
    parser.add_argument("--ttl-hours", type=float, default=6.0)
    args = parser.parse_args()

    batches = simulate(args.feeds, args.polls, args.items)
    stream = TestStream().advance_watermark_to(0)
    for poll, batch in enumerate(batches):
        at = poll * POLL_SECONDS + 1
        stream = stream.add_elements([TimestampedValue(e, at) for e in batch])
        stream = stream.advance_watermark_to((poll + 1) * POLL_SECONDS)
    stream = stream.advance_watermark_to((args.polls + 1) * POLL_SECONDS)  # not to infinity

    options = PipelineOptions(["--runner=BundleBasedDirectRunner"])
    options.view_as(StandardOptions).streaming = True
    started = time.perf_counter()
    with beam.Pipeline(options=options) as p:
        seen = (
            p
            | stream.with_output_types(Tuple[str, Any])
            | beam.ParDo(FirstSeenFn(ttl_seconds=args.ttl_hours * 3600)).with_outputs(
                EXPIRED, main="new"
            )
        )
        _ = seen.new | "CountNew" >> beam.Map(_count_new)
        day_end = args.polls * POLL_SECONDS
        _ = seen[EXPIRED] | "CountExpired" >> beam.ParDo(_CountExpired(day_end))
    elapsed = time.perf_counter() - started
    from benchmarks._tally import TALLY

    entries = sum(len(b) for b in batches)
    distinct = len({key for b in batches for key, _ in b})
    report = {
        "feeds": args.feeds,
        "polls": args.polls,
        "entries_total": entries,
        "entries_per_poll": entries // args.polls,
        "new_per_poll": round(TALLY["new"] / args.polls, 1),
        "distinct_items": distinct,
        "emitted_once_each": TALLY["new"] == distinct,
        "ttl_hours": args.ttl_hours,
        "state_entries_at_end": TALLY["new"] - TALLY["expired"],
        "state_bound_by_ttl": TALLY["new"] - TALLY["expired"] < distinct,
        "wall_s": round(elapsed, 1),
        "ms_per_poll": round(elapsed / args.polls * 1000, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(report, indent=2))
    return 0 if report["emitted_once_each"] else 1


if __name__ == "__main__":
    sys.exit(main())
