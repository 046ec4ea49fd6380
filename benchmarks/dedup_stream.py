"""Streaming vs batch near-duplicate decisions on the same corpus, arrivals shuffled.

    .venv/bin/python benchmarks/dedup_stream.py [--settle 0,15,30,60,120] [--ttl-days 14]
                                                [--slice 160] [--json-out F]

The ANT corpus (``../shared/eval/arabic_text``; skipped when absent) is clustered by
the batch reference (``neardup.cluster_docs``, equal to ``ClusterNearDuplicates``)
and by the streaming decisions. Arrival order is not publication order: each article
is found by the poll (every 15 minutes) after its publication plus a delay
(exponential, mean 20 minutes; one article in 20 waits 1-12 hours more, a slow feed),
and the watermark follows the polls.

The whole corpus goes through ``marsad.dedup.streaming.replay`` (the transform's own
functions, in the order TestStream feeds them): the local direct runner re-examines
every key's state at each watermark step, so 31,525 articles in ~15,000 polls would
take hours there. A slice (the ``--slice`` articles of the busiest days for
syndication) also goes through ``StreamClusterDuplicates`` under TestStream on the
BundleBasedDirectRunner, and must give the replay's decisions exactly.

Reported per settle time: the share of articles whose cluster has the same members in
both (partition agreement) and the same cluster id (canonical), and the disagreements
explained: copies further apart than the TTL, a copy that arrived after its cluster
was written (later than the settle time), other.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
for entry in (str(ROOT), str(HERE)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import apache_beam as beam  # noqa: E402
import dedup_corpus as corpus  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions  # noqa: E402
from apache_beam.testing.test_stream import TestStream  # noqa: E402
from apache_beam.transforms import window  # noqa: E402
from apache_beam.transforms.window import TimestampedValue  # noqa: E402

from marsad.dedup import neardup  # noqa: E402
from marsad.dedup.neardup import Doc, NearDupConfig  # noqa: E402
from marsad.dedup.streaming import replay  # noqa: E402
from schemas.records import Article  # noqa: E402
from transforms.stream_neardup import StreamClusterDuplicates  # noqa: E402

POLL_US = 15 * 60 * 1_000_000
MINUTE_US = 60_000_000
HOUR_US = 60 * MINUTE_US


def arrivals(docs: list[Doc], seed: int = 3) -> dict[str, int]:
    """Poll time (µs) at which each article is found."""
    rng = random.Random(seed)
    found = {}
    for doc in docs:
        delay = rng.expovariate(1 / (20 * MINUTE_US))
        if rng.random() < 0.05:
            delay += rng.uniform(1, 12) * HOUR_US
        moment = (doc.published_us or 0) + int(delay)
        found[doc.doc_id] = (moment // POLL_US + 1) * POLL_US
    return found


def _article(doc: Doc) -> Article:
    published = datetime.fromtimestamp(doc.published_us / 1e6, UTC) if doc.published_us else None
    return Article(
        article_id=doc.doc_id,
        url="",
        canonical_url="",
        source=doc.source,
        feed_url="",
        run_id="stream-bench",
        text=doc.text,
        text_chars=len(doc.text),
        published_at=published,
    )


class _Collect(beam.DoFn):
    """Writes each decision as a JSON line (the runner runs in this process)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def process(self, article: Article):
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps([article.article_id, article.cluster_id]) + "\n")


def stream_decisions(docs, found, config, ttl_days, settle_minutes, scratch: Path):
    by_tick: dict[int, list[Doc]] = defaultdict(list)
    for doc in docs:
        by_tick[found[doc.doc_id]].append(doc)
    ticks = sorted(by_tick)
    events = TestStream().advance_watermark_to(ticks[0] / 1e6 - 1)
    for tick in ticks:
        batch = [TimestampedValue(_article(d), tick / 1e6) for d in by_tick[tick]]
        events = events.add_elements(batch).advance_watermark_to(tick / 1e6)
    # Past every timer before the end: the direct runner does not hold the watermark
    # for pending timers (see tests/test_stream_neardup.py).
    events = events.advance_watermark_to(ticks[-1] / 1e6 + 2 * ttl_days * 86400)
    events = events.advance_watermark_to_infinity()
    out = scratch / "stream-decisions.jsonl"
    out.unlink(missing_ok=True)
    options = PipelineOptions(["--runner=BundleBasedDirectRunner"])
    options.view_as(StandardOptions).streaming = True
    with beam.Pipeline(options=options) as pipeline:
        _ = (
            pipeline
            | events
            | beam.WindowInto(window.GlobalWindows())
            | StreamClusterDuplicates(
                config, ttl_seconds=ttl_days * 86400, settle_seconds=settle_minutes * 60
            )
            | beam.ParDo(_Collect(str(out)))
        )
    return dict(json.loads(line) for line in out.read_text(encoding="utf-8").splitlines())


def agreement(batch: dict[str, str], stream: dict[str, str]) -> dict:
    groups_b, groups_s = defaultdict(set), defaultdict(set)
    for doc_id, cluster in batch.items():
        groups_b[cluster].add(doc_id)
    for doc_id, cluster in stream.items():
        groups_s[cluster].add(doc_id)
    same_members = [d for d in batch if d in stream and groups_b[batch[d]] == groups_s[stream[d]]]
    same_id = [d for d in batch if stream.get(d) == batch[d]]
    return {
        "articles": len(batch),
        "decided_by_stream": len(stream),
        "same_members": len(same_members),
        "same_cluster_id": len(same_id),
        "partition_agreement": len(same_members) / len(batch),
        "canonical_agreement": len(same_id) / len(batch),
    }


def explain(batch, stream, docs, found, ttl_days, settle_minutes) -> dict:
    """Why each article whose cluster differs does: TTL, a late arrival, or other."""
    published = {d.doc_id: d.published_us or 0 for d in docs}
    groups_b, groups_s = defaultdict(set), defaultdict(set)
    for doc_id, cluster in batch.items():
        groups_b[cluster].add(doc_id)
    for doc_id, cluster in stream.items():
        groups_s[cluster].add(doc_id)
    causes: dict[str, int] = defaultdict(int)
    for doc_id, cluster in batch.items():
        members = groups_b[cluster]
        if stream.get(doc_id) == cluster and groups_s[cluster] == members:
            continue
        times = [published[m] for m in members] + [found[m] for m in members]
        arrived = sorted(found[m] for m in members)
        if max(times) - min(times) > ttl_days * 86400 * 1_000_000:
            causes["copies further apart than the TTL"] += 1
        elif arrived[-1] - arrived[0] >= settle_minutes * MINUTE_US:
            # (decided at the first poll at or after the settle time, before that
            # poll's own arrivals are in: equal counts as after)
            causes["a copy arrived after its cluster was written"] += 1
        else:
            causes["other"] += 1
    return dict(causes)


def replay_decisions(docs, fps, found, config, ttl_days, settle_minutes) -> dict[str, str]:
    arrivals = sorted(((found[d.doc_id], fps[d.doc_id]) for d in docs), key=lambda a: a[0])
    decided = replay(
        arrivals, config, int(ttl_days * 86400 * 1_000_000), int(settle_minutes * MINUTE_US)
    )
    return {doc_id: status.cluster_id for doc_id, status in decided.items()}


def busiest_slice(docs: list[Doc], mined: list[dict], size: int) -> list[Doc]:
    """The ``size`` articles published around the day with most mined pairs."""
    published = {d.doc_id: d.published_us or 0 for d in docs}
    days = defaultdict(int)
    for row in mined:
        if row["jaccard5"] >= corpus.DIFFERENT:
            days[published[row["a"]] // (86400 * 1_000_000)] += 1
    day = max(days, key=days.get) * 86400 * 1_000_000
    ordered = sorted(docs, key=lambda d: abs(published[d.doc_id] - day - 43200 * 1_000_000))
    return ordered[:size]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval-dir", default=str(corpus.EVAL_DIR))
    parser.add_argument("--limit", type=int, default=0, help="First N ANT rows (default all).")
    parser.add_argument("--settle", default="0,15,30,60,120", help="Settle times, minutes.")
    parser.add_argument("--ttl-days", type=float, default=14.0)
    parser.add_argument("--slice", type=int, default=160, help="Articles run through Beam.")
    parser.add_argument("--json-out")
    args = parser.parse_args(argv)
    eval_dir = Path(args.eval_dir)
    missing = corpus.missing_eval_files(eval_dir)
    if missing:
        print(f"skipped: evaluation data not found: {', '.join(missing)}")
        return 0
    import tempfile

    docs, _categories = corpus.load_ant(eval_dir, args.limit)
    config = NearDupConfig()
    found = arrivals(docs)
    started = time.perf_counter()
    batch = {k: s.cluster_id for k, s in neardup.cluster_docs(docs, config).items()}
    fps = {fp.doc_id: fp for fp in neardup.doc_fingerprints(docs, config)}
    report = {
        "articles": len(docs),
        "ttl_days": args.ttl_days,
        "articles_found_out_of_publication_order": sum(
            1
            for a, b in zip(
                sorted(docs, key=lambda d: (found[d.doc_id], d.doc_id)),
                sorted(docs, key=lambda d: (d.published_us or 0, d.doc_id)),
                strict=True,
            )
            if a.doc_id != b.doc_id
        ),
        "batch_s": round(time.perf_counter() - started, 1),
        "settle": {},
    }
    print(f"{'settle min':>10} {'same members':>13} {'same cluster id':>16}  disagreements")
    for minutes in [float(m) for m in args.settle.split(",") if m.strip()]:
        stream = replay_decisions(docs, fps, found, config, args.ttl_days, minutes)
        figures = agreement(batch, stream)
        figures["disagreements"] = explain(batch, stream, docs, found, args.ttl_days, minutes)
        report["settle"][str(minutes)] = figures
        print(
            f"{minutes:>10g} {figures['partition_agreement']:>13.4f} "
            f"{figures['canonical_agreement']:>16.4f}  {figures['disagreements']}",
            flush=True,
        )
    chosen = 60.0
    part = busiest_slice(docs, corpus.load_mined_pairs(eval_dir), args.slice)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="marsad-stream-bench-") as scratch:
        beam_decisions = stream_decisions(part, found, config, args.ttl_days, chosen, Path(scratch))
    replayed = replay_decisions(part, fps, found, config, args.ttl_days, chosen)
    part_batch = {k: s.cluster_id for k, s in neardup.cluster_docs(part, config).items()}
    report["beam_slice"] = {
        "articles": len(part),
        "settle_minutes": chosen,
        "duplicates": sum(1 for k, c in part_batch.items() if k != c),
        "beam_equals_replay": beam_decisions == replayed,
        "beam_vs_batch": agreement(part_batch, beam_decisions),
        "seconds": round(time.perf_counter() - started, 1),
    }
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    s = report["beam_slice"]
    print(
        f"TestStream slice: {s['articles']} articles ({s['duplicates']} duplicates in batch), "
        f"settle {chosen:g} min: Beam equals replay: {s['beam_equals_replay']}; "
        f"same members as batch {s['beam_vs_batch']['partition_agreement']:.4f} "
        f"({s['seconds']} s)"
    )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
