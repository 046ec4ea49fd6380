"""ParseFeeds: FeedFetch → FeedEntry, one per feed item."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from marsad.feeds.parse import parse_feed
from marsad.feeds.sitemaps import SitemapConfig, looks_like_sitemap, sitemap_entries
from schemas.records import Failure, FeedFetch
from transforms.common import METRICS_NAMESPACE, StageDoFn, apply_stage, counter


def parse_any(fetch: FeedFetch, sitemaps: SitemapConfig | None = None):
    """A feed with feedparser, a sitemap with marsad's sitemap reader."""
    if fetch.feed.kind == "sitemap" or looks_like_sitemap(fetch.body):
        parsed, sitemap = sitemap_entries(fetch, sitemaps)
        for outcome, count in (
            ("sitemap_recent", len(parsed.entries)),
            ("sitemap_old", sitemap.skipped_old),
            ("sitemap_undated", sitemap.skipped_undated),
            ("sitemap_over_limit", sitemap.over_limit),
            ("sitemap_truncated", int(sitemap.truncated)),
        ):
            if count:
                Metrics.counter(METRICS_NAMESPACE, f"parse_feeds.{outcome}").inc(count)
        return parsed
    return parse_feed(fetch)


class ParseFeedFn(StageDoFn):
    stage = "parse_feeds"

    def __init__(self, run_id: str, sitemaps: SitemapConfig | None = None) -> None:
        super().__init__(run_id)
        self.sitemaps = sitemaps

    def describe(self, fetch: FeedFetch):
        return fetch.feed.feed_url, {"source": fetch.feed.source, "feed_url": fetch.feed.feed_url}

    def handle(self, fetch: FeedFetch):
        parsed = parse_any(fetch, self.sitemaps)
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

    def __init__(self, run_id: str, sitemaps: SitemapConfig | None = None) -> None:
        super().__init__()
        self.run_id = run_id
        self.sitemaps = sitemaps

    def expand(self, fetches):
        return apply_stage(fetches, "Parse", ParseFeedFn(self.run_id, self.sitemaps))
