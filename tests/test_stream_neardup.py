"""Streaming near-duplicates under TestStream (BundleBasedDirectRunner): same decisions
as batch once settled, copies across windows, seeded rows, TTL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream as BeamTestStream
from apache_beam.testing.util import assert_that, equal_to_per_window
from apache_beam.transforms import window
from apache_beam.transforms.window import IntervalWindow, TimestampedValue

from marsad.dedup.neardup import Doc, NearDupConfig, cluster_docs, doc_fingerprints
from marsad.dedup.streaming import replay
from marsad.text.boilerplate import clean_article
from schemas.records import Article
from transforms.stored_texts import StoredText
from transforms.stream_neardup import StreamClusterDuplicates

WINDOW = 60
DAY = 24 * 3600
HOUR = 3600
SEEDS = Path(__file__).resolve().parents[1] / "marsad" / "samplesite" / "content" / "seeds"
T0 = datetime(2024, 1, 28, 9, tzinfo=UTC)


def streaming_options() -> PipelineOptions:
    options = PipelineOptions(["--runner=BundleBasedDirectRunner"])
    options.view_as(StandardOptions).streaming = True
    return options


def _seed_text(number: str) -> str:
    return next(SEEDS.glob(f"{number}_*.txt")).read_text(encoding="utf-8")


def _article(doc_id: str, text: str, published: datetime | None = T0) -> Article:
    return Article(
        article_id=doc_id,
        url=f"http://x/{doc_id}",
        canonical_url=f"http://x/{doc_id}",
        source="s",
        feed_url="f",
        run_id="r",
        text=text,
        text_chars=len(text),
        published_at=published,
    )


def _cluster_of(a: Article) -> tuple[str, str, bool]:
    cluster = a.cluster_id
    if a.article_id == "digest" and cluster in {"orig", "other"}:
        cluster = "orig or other"
    return a.article_id, cluster, a.is_duplicate


def test_syndicated_copy_two_windows_later_joins_the_first_cluster():
    story, other = _seed_text("000"), _seed_text("002")
    copy = "بغداد - (رويترز) - " + story.replace("2024", "2025") + "\nتابعنا على تويتر"
    digest = "أبرز الأخبار\n" + story + "\n" + other
    stream = (
        BeamTestStream()
        .advance_watermark_to(0)
        .add_elements(
            [
                TimestampedValue(_article("orig", story), 5),
                TimestampedValue(_article("other", other), 6),
            ]
        )
        .advance_watermark_to(3 * WINDOW)
        .add_elements(
            [
                TimestampedValue(_article("copy", copy, T0 + timedelta(hours=1)), 3 * WINDOW + 5),
                TimestampedValue(
                    _article("digest", digest, T0 + timedelta(hours=1)), 3 * WINDOW + 6
                ),
            ]
        )
        .advance_watermark_to_infinity()
    )
    with beam.Pipeline(options=streaming_options()) as p:
        flagged = (
            p
            | stream
            | "Global" >> beam.WindowInto(window.GlobalWindows())
            | StreamClusterDuplicates(NearDupConfig(), ttl_seconds=DAY)
            | beam.Map(_cluster_of)
            | "PerWindow" >> beam.WindowInto(window.FixedWindows(WINDOW))
        )
        assert_that(
            flagged,
            equal_to_per_window(
                {
                    IntervalWindow(0, WINDOW): [("orig", "orig", False), ("other", "other", False)],
                    IntervalWindow(3 * WINDOW, 4 * WINDOW): [
                        ("copy", "orig", True),
                        # The digest quotes both stories: it may join one, never merge them.
                        ("digest", "orig or other", True),
                    ],
                }
            ),
        )


def test_near_copy_of_a_seeded_row_joins_its_cluster_and_state_expires():
    story = _seed_text("000")
    stored = StoredText("old", story, "", "old", True, "", published_at_us=10_000_000)
    copy = "أربيل - " + story + "\nشارك الخبر"
    stream = (
        BeamTestStream()
        .advance_watermark_to(10)
        .add_elements([TimestampedValue(_article("copy", copy), 20)])
        .advance_watermark_to(20 + 2 * DAY)
        .add_elements([TimestampedValue(_article("copy_after_ttl", copy + " "), 30 + 2 * DAY)])
        .advance_watermark_to(40 + 2 * DAY)
        .advance_watermark_to_infinity()
    )
    with beam.Pipeline(options=streaming_options()) as p:
        seeds = p | "Seeds" >> beam.Create([stored])
        flagged = (
            p
            | stream
            | beam.WindowInto(window.GlobalWindows())
            | StreamClusterDuplicates(NearDupConfig(), ttl_seconds=DAY, seeds=seeds)
            | beam.Map(lambda a: (a.article_id, a.cluster_id, a.duplicate_of))
        )
        assert_that(
            flagged,
            equal_to_per_window(
                {
                    window.GlobalWindow(): [
                        ("copy", "old", "old"),
                        # Two days later the TTL has dropped both: a new cluster starts.
                        ("copy_after_ttl", "copy_after_ttl", ""),
                    ]
                }
            ),
        )


def _settled(stream: BeamTestStream, last: int) -> BeamTestStream:
    """End the stream past every settle timer first: the direct runner does not hold the
    watermark for a pending timer (Dataflow does), so a jump straight to infinity would
    make the ledger's decisions late for any window downstream."""
    return stream.advance_watermark_to(last + 2 * HOUR).advance_watermark_to_infinity()


def _wire_story() -> list[Doc]:
    """Seven outlets' versions of one wire story: the first published is cut short (the
    odd one out: too far from the expanded one for a star around it), the others carry
    more of it; plus two unrelated articles."""
    paragraphs = [p for p in clean_article(_seed_text("000")).text.split("\n") if p.strip()]
    background = [p for p in clean_article(_seed_text("003")).text.split("\n") if p.strip()]
    versions = {
        "cut": paragraphs[: round(len(paragraphs) * 0.55)],
        "full": paragraphs,
        "dated": ["بغداد - (رويترز) - " + paragraphs[0], *paragraphs[1:]],
        "credited": [*paragraphs, "(إعداد محمد علي للنشرة العربية)"],
        "trimmed": paragraphs[:-1],
        "updated": [paragraphs[0], "وقال مسؤول عراقي إن الجولة المقبلة ستعقد في واشنطن.", *paragraphs[1:]],
        "expanded": [*paragraphs, *background[:8]],
    }  # fmt: skip
    docs = [
        Doc(name, "\n".join(text), "s", int((T0 + timedelta(minutes=10 * n)).timestamp() * 1e6))
        for n, (name, text) in enumerate(versions.items())
    ]
    for n, number in enumerate(("002", "004")):
        when = int((T0 + timedelta(minutes=5 + 20 * n)).timestamp() * 1e6)
        docs.append(Doc(f"other{n}", clean_article(_seed_text(number)).text, "s", when))
    return docs


def test_shuffled_arrival_within_the_settle_time_decides_as_batch():
    docs = _wire_story()
    expected = cluster_docs(docs, NearDupConfig())
    assert expected["cut"].is_canonical, "the earliest published copy represents the story"
    assert len({s.cluster_id for s in expected.values()}) == 3
    order = docs[:]
    random.Random(4).shuffle(order)  # arrival order is not publication order
    stream = BeamTestStream().advance_watermark_to(0)
    for n, doc in enumerate(order):  # one arrival per 5 minutes; settle 1 hour
        published = datetime.fromtimestamp(doc.published_us / 1e6, UTC)
        stream = stream.add_elements(
            [TimestampedValue(_article(doc.doc_id, doc.text, published), 300 * n + 1)]
        ).advance_watermark_to(300 * n + 2)
    stream = _settled(stream, 300 * len(order))
    with beam.Pipeline(options=streaming_options()) as p:
        decided = (
            p
            | stream
            | beam.WindowInto(window.GlobalWindows())
            | StreamClusterDuplicates(NearDupConfig(), ttl_seconds=DAY, settle_seconds=HOUR)
            | beam.Map(lambda a: (a.article_id, a.cluster_id, a.is_canonical))
        )
        want = [(s.doc_id, s.cluster_id, s.is_canonical) for s in expected.values()]
        assert_that(decided, equal_to_per_window({window.GlobalWindow(): want}))


def test_without_settling_a_later_arrival_cannot_take_over_a_written_cluster():
    docs = {d.doc_id: d for d in _wire_story()}
    arrivals = [docs["full"], docs["cut"]]  # "cut" was published first but arrives second
    stream = BeamTestStream().advance_watermark_to(0)
    for n, doc in enumerate(arrivals):
        published = datetime.fromtimestamp(doc.published_us / 1e6, UTC)
        stream = stream.add_elements(
            [TimestampedValue(_article(doc.doc_id, doc.text, published), 3 * HOUR * n + 1)]
        ).advance_watermark_to(3 * HOUR * n + 2)
    stream = _settled(stream, 6 * HOUR)
    with beam.Pipeline(options=streaming_options()) as p:
        decided = (
            p
            | stream
            | beam.WindowInto(window.GlobalWindows())
            | StreamClusterDuplicates(NearDupConfig(), ttl_seconds=DAY, settle_seconds=HOUR)
            | beam.Map(lambda a: (a.article_id, a.cluster_id, a.is_canonical))
        )
        # Batch would make "cut" canonical; "full" was written hours before it arrived.
        want = [("full", "full", True), ("cut", "full", False)]
        assert_that(decided, equal_to_per_window({window.GlobalWindow(): want}))


def test_the_replay_gives_the_transforms_decisions_even_where_they_differ_from_batch():
    docs = _wire_story()
    order = docs[:]
    random.Random(9).shuffle(order)
    config = NearDupConfig()
    found = {doc.doc_id: 300 * n + 1 for n, doc in enumerate(order)}  # seconds
    stream = BeamTestStream().advance_watermark_to(0)
    for doc in order:
        published = datetime.fromtimestamp(doc.published_us / 1e6, UTC)
        stream = stream.add_elements(
            [TimestampedValue(_article(doc.doc_id, doc.text, published), found[doc.doc_id])]
        ).advance_watermark_to(found[doc.doc_id] + 1)
    stream = _settled(stream, 300 * len(order))
    fps = {fp.doc_id: fp for fp in doc_fingerprints(docs, config)}
    replayed = replay(
        [(found[d.doc_id] * 1_000_000, fps[d.doc_id]) for d in order],
        config,
        ttl_us=DAY * 1_000_000,
        settle_us=600 * 1_000_000,
    )
    batch = cluster_docs(docs, config)
    assert {k: s.cluster_id for k, s in replayed.items()} != {
        k: s.cluster_id for k, s in batch.items()
    }, "ten minutes are too short here: some copy arrives after its cluster is written"
    with beam.Pipeline(options=streaming_options()) as p:
        decided = (
            p
            | stream
            | beam.WindowInto(window.GlobalWindows())
            | StreamClusterDuplicates(config, ttl_seconds=DAY, settle_seconds=600)
            | beam.Map(lambda a: (a.article_id, a.cluster_id, a.is_canonical))
        )
        want = [(s.doc_id, s.cluster_id, s.is_canonical) for s in replayed.values()]
        assert_that(decided, equal_to_per_window({window.GlobalWindow(): want}))
