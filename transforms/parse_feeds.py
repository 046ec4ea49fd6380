"""ParseFeeds: FeedFetch → FeedEntry, one per feed item."""

from __future__ import annotations

import apache_beam as beam

from marsad.feeds.parse import parse_feed
from schemas.records import Failure, FeedFetch
from transforms.common import StageDoFn, apply_stage, counter


class ParseFeedFn(StageDoFn):
    stage = "parse_feeds"

    def describe(self, fetch: FeedFetch):
        return fetch.feed.feed_url, {"source": fetch.feed.source, "feed_url": fetch.feed.feed_url}

    def handle(self, fetch: FeedFetch):
        parsed = parse_feed(fetch)
        for problem in parsed.problems:
            counter(self.stage, "entries")
            yield Failure(
                stage=self.stage,
                reason=problem.error.reason,
                message=str(problem.error),
                url=problem.url,
                run_id=self.run_id,
                source=fetch.feed.source,
                feed_url=fetch.feed.feed_url,
                entry_key=problem.key,
            )
        for entry in parsed.entries:
            counter(self.stage, "entries")
            yield entry


class ParseFeeds(beam.PTransform):
    """Parse feeds with feedparser. Counts every item as ``parse_feeds.entries``."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def expand(self, fetches):
        return apply_stage(fetches, "Parse", ParseFeedFn(self.run_id))
