"""Streaming state under TestStream (BundleBasedDirectRunner), asserted per window."""

from __future__ import annotations

import glob
import os
from datetime import UTC, datetime

import apache_beam as beam
import pyarrow.dataset as ds
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream as BeamTestStream
from apache_beam.testing.util import assert_that, equal_to_per_window
from apache_beam.transforms import window
from apache_beam.transforms.window import IntervalWindow, TimestampedValue
from apache_beam.typehints import Any, Tuple

from marsad.fetch.crawl import PolitenessConfig
from marsad.fetch.http import FetchConfig
from schemas.records import Article, FeedEntry, SourceFeed
from schemas.tables import ARTICLES_SCHEMA
from tests.faultsite import FaultSite
from transforms.stream_state import SEED, FirstSeenFn, PollFeedFn
from transforms.write_windowed import WriteWindowed

WINDOW = 60
DAY = 24 * 3600


def streaming_options() -> PipelineOptions:
    options = PipelineOptions(["--runner=BundleBasedDirectRunner"])
    options.view_as(StandardOptions).streaming = True
    return options


def entry(article_id: str) -> FeedEntry:
    return FeedEntry(source="s", feed_url="f", link=f"http://x/{article_id}", article_id=article_id)


def article(article_id: str, content: str = "h1") -> Article:
    return Article(
        article_id=article_id,
        url=f"http://x/{article_id}",
        canonical_url=f"http://x/{article_id}",
        source="s",
        feed_url="f",
        run_id="r",
        content_hash=content,
        published_at=datetime(2024, 1, 1, tzinfo=UTC),
    )


def _keyed(label, pcoll, key):
    return pcoll | label >> beam.Map(lambda e: (key(e), e)).with_output_types(Tuple[str, Any])


def test_first_seen_emits_once_and_forgets_after_ttl():
    stream = (
        BeamTestStream()
        .advance_watermark_to(0)
        .add_elements([TimestampedValue(entry("a"), 10), TimestampedValue(entry("b"), 20)])
        .advance_watermark_to(WINDOW)
        .add_elements([TimestampedValue(entry("a"), WINDOW + 10)])  # repeat: dropped
        .advance_watermark_to(2 * DAY + 10)  # past the 1-day TTL: state cleared
        .add_elements([TimestampedValue(entry("a"), 2 * DAY + 20)])  # seen again after TTL
        .advance_watermark_to_infinity()
    )
    with beam.Pipeline(options=streaming_options()) as p:
        ids = (
            _keyed("Key", p | stream, lambda e: e.article_id)
            | beam.ParDo(FirstSeenFn(ttl_seconds=DAY))
            | beam.Map(lambda e: e.article_id)
            | beam.WindowInto(window.FixedWindows(WINDOW))
        )
        last = (2 * DAY + 20) // WINDOW * WINDOW
        assert_that(
            ids,
            equal_to_per_window(
                {
                    IntervalWindow(0, WINDOW): ["a", "b"],
                    IntervalWindow(WINDOW, 2 * WINDOW): [],
                    IntervalWindow(last, last + WINDOW): ["a"],
                }
            ),
        )


def test_seeded_ids_are_never_emitted():
    stream = (
        BeamTestStream()
        .add_elements([TimestampedValue(("a", SEED), 1)])
        .advance_watermark_to(5)
        .add_elements(
            [TimestampedValue(("a", entry("a")), 10), TimestampedValue(("b", entry("b")), 10)]
        )
        .advance_watermark_to_infinity()
    )
    with beam.Pipeline(options=streaming_options()) as p:
        ids = (
            p
            | stream.with_output_types(Tuple[str, Any])
            | beam.ParDo(FirstSeenFn(ttl_seconds=DAY))
            | beam.Map(lambda e: e.article_id)
        )
        assert_that(ids, equal_to_per_window({window.GlobalWindow(): ["b"]}))


# The pipeline runs in this process; its steps reach the live server through this
# module-level registry (a server cannot be pickled into a closure).
_POLLED: dict = {}


def _poll_tick(n: int):
    """Before each poll the site's feed changes: new items, repeats, or only a new ETag."""
    site, feeds, feed = _POLLED["site"], _POLLED["feeds"], _POLLED["feed"]
    site.static["/feed.xml"] = (feeds[n], "application/rss+xml")
    site.etag_salt = n
    return feed.feed_url, feed


def test_three_polls_new_items_repeats_and_a_lying_etag():
    feeds = [
        '<rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.format(
            items="".join(
                f"<item><title>{i}</title><link>http://x.example/{i}</link></item>" for i in names
            )
        ).encode()
        # poll 1: a, b   poll 2: a, b, c (c new)   poll 3: same body, new ETag
        for names in (["a", "b"], ["a", "b", "c"], ["a", "b", "c"])
    ]
    with FaultSite("127.84.0.1") as site:
        feed = SourceFeed(source="s", feed_url=f"{site.base}/feed.xml")
        _POLLED.update(site=site, feeds=feeds, feed=feed)
        stream = BeamTestStream().advance_watermark_to(0)
        for n in range(3):
            stream = stream.add_elements([TimestampedValue(n, n * WINDOW + 1)])
            stream = stream.advance_watermark_to((n + 1) * WINDOW)
        stream = stream.advance_watermark_to_infinity()
        config = FetchConfig(allow_hosts=("127.84.0.1",), max_attempts=1)
        with beam.Pipeline(options=streaming_options()) as p:
            links = (
                p
                | stream
                | beam.Map(_poll_tick).with_output_types(Tuple[str, Any])
                | beam.ParDo(PollFeedFn("r", config, PolitenessConfig(min_interval=0)))
                | beam.Map(lambda e: e.link.rsplit("/", 1)[1])
                | beam.WindowInto(window.FixedWindows(WINDOW))
            )
            assert_that(
                links,
                equal_to_per_window(
                    {
                        IntervalWindow(0, WINDOW): ["a", "b"],
                        IntervalWindow(WINDOW, 2 * WINDOW): ["c"],
                        IntervalWindow(2 * WINDOW, 3 * WINDOW): [],
                    }
                ),
            )
        _POLLED.clear()
    feed_hits = [h for h in site.hits if h.path == "/feed.xml"]
    assert len(feed_hits) == 3
    assert "If-None-Match" in feed_hits[2].headers, "validators from state sent on later polls"


def test_entry_behind_the_watermark_is_still_written(tmp_path):
    output = str(tmp_path / "out")
    stream = (
        BeamTestStream()
        .advance_watermark_to(0)
        .add_elements([TimestampedValue(article("on-time"), 10)])
        .advance_watermark_to(5 * WINDOW)
        .add_elements([TimestampedValue(article("late"), 20)])  # its window closed long ago
        .advance_watermark_to_infinity()
    )
    with beam.Pipeline(options=streaming_options()) as p:
        _ = (
            p
            | stream
            | WriteWindowed("articles", output, "job", ARTICLES_SCHEMA, "published_date", WINDOW)
        )
    files = sorted(
        os.path.basename(f) for f in glob.glob(os.path.join(output, "articles", "*", "*.parquet"))
    )
    assert len(files) == 2 and any("-p0-" in f for f in files) and any("-p1-" in f for f in files)
    table = ds.dataset(os.path.join(output, "articles"), partitioning="hive").to_table()
    assert sorted(table.column("article_id").to_pylist()) == ["late", "on-time"]
