"""Keyed Beam state for streaming mode: what batch keeps in files, streaming keeps here.

- ``PollFeedFn`` (key: feed URL) holds the feed's conditional-GET validators, body
  hash and the entry keys of its last body; it fetches the feed and emits only
  entries it has not listed before. A sitemap index is read with its recent
  children; a ``site`` keeps its discovery (``marsad.feeds.discovery``) in the same
  state and polls what was found (without per-child validators: the listed entry
  keys keep repeats out).
- ``FirstSeenFn`` (key: article id) emits an entry the first time its id is seen,
  then remembers it until ``ttl`` of event time passes without a sighting (an
  event-time timer clears it).

Near-duplicate clusters have their own keyed state: ``transforms/stream_neardup.py``.

Seeds (``SEED`` payloads from an earlier batch output) only fill the state, so
switching from scheduled batch to streaming emits nothing twice.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.coders import PickleCoder, StrUtf8Coder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)
from apache_beam.utils.timestamp import Duration, Timestamp

from marsad.errors import FetchError
from marsad.feeds.discovery import cached_discovery, discover
from marsad.feeds.sitemaps import SitemapConfig, looks_like_sitemap, parse_sitemap
from marsad.fetch.crawl import PoliteFetcher, PolitenessConfig
from marsad.fetch.feedstate import FeedState, body_sha256, conditional_headers
from marsad.fetch.http import FetchConfig, HttpClient
from schemas.records import Failure, FeedFetch, SourceFeed
from transforms.common import FAILURES, counter, failure_from_error
from transforms.fetch_feeds import FEED_ACCEPT, check_feed_type
from transforms.parse_feeds import parse_any

SEED = "__seed__"
EXPIRED = "expired"


def entry_key(entry) -> str:
    return entry.guid or entry.link


class PollFeedFn(beam.DoFn):
    """(feed_url, SourceFeed) → FeedEntry for entries new to this feed; failures tagged."""

    FEED_STATE = ReadModifyWriteStateSpec("feed_state", PickleCoder())
    LISTED = ReadModifyWriteStateSpec("listed", PickleCoder())

    def __init__(
        self,
        run_id: str,
        fetch: FetchConfig,
        politeness: PolitenessConfig,
        sitemaps: SitemapConfig | None = None,
    ) -> None:
        self.run_id = run_id
        self.fetch_config = fetch
        self.politeness = politeness
        self.sitemaps = sitemaps or SitemapConfig()

    def setup(self) -> None:
        self.client = HttpClient(self.fetch_config)
        self.fetcher = PoliteFetcher(self.client, self.politeness)

    def teardown(self) -> None:
        self.fetcher.close()
        self.client.close()

    def process(
        self,
        element: tuple[str, SourceFeed],
        feed_state=beam.DoFn.StateParam(FEED_STATE),
        listed_state=beam.DoFn.StateParam(LISTED),
    ):
        _url, feed = element
        counter("fetch_feeds", "in")
        previous: FeedState | None = feed_state.read()
        try:
            if feed.kind == "site":
                (entries, problems), state = self._poll_site(feed, previous)
            else:
                response = self.fetcher.fetch_one(
                    feed.feed_url, FEED_ACCEPT, conditional_headers(previous)
                )
                if response.status == 304 and previous is not None:
                    counter("fetch_feeds", "not_modified")
                    return
                check_feed_type(response, feed.kind)
                digest = body_sha256(response.body)
                if previous is not None and previous.body_sha256 == digest:
                    counter("fetch_feeds", "unchanged")
                    return
                entries, problems = self._entries(feed, response)
                state = FeedState(
                    feed_url=feed.feed_url,
                    etag=response.headers.get("etag", ""),
                    last_modified=response.headers.get("last-modified", ""),
                    body_sha256=digest,
                    checked_at=datetime.now(UTC).isoformat(),
                )
        except Exception as error:  # every poll failure is a row
            failure = failure_from_error(
                error,
                "fetch_feeds",
                feed.feed_url,
                self.run_id,
                source=feed.source,
                feed_url=feed.feed_url,
            )
            counter(failure.stage, f"failed.{failure.reason}")
            yield pvalue.TaggedOutput(FAILURES, failure)
            return
        counter("fetch_feeds", "out")
        feed_state.write(state)
        parsed = _Entries(entries, problems)
        already = set(listed_state.read() or ())
        listed_state.write(
            sorted({entry_key(e) for e in parsed.entries} | {p.key for p in parsed.problems})
        )
        for problem in parsed.problems:  # a bad entry is a failure row here too, once
            counter("parse_feeds", "entries")
            if problem.key in already:
                counter("parse_feeds", "already_listed")
                continue
            failure = Failure(
                stage="parse_feeds",
                reason=problem.error.reason,
                message=str(problem.error),
                url=problem.url,
                run_id=self.run_id,
                source=feed.source,
                feed_url=feed.feed_url,
                entry_key=problem.key,
            )
            counter("parse_feeds", f"failed.{failure.reason}")
            yield pvalue.TaggedOutput(FAILURES, failure)
        for entry in parsed.entries:
            counter("parse_feeds", "entries")
            if entry_key(entry) in already:
                counter("parse_feeds", "already_listed")
                continue
            yield entry

    def _entries(self, feed: SourceFeed, response, depth: int = 0) -> tuple[list, list]:
        """(entries, problems) of a fetched feed or sitemap; a sitemap index's recent
        children are fetched and read in turn (bounded like batch: ``max_children``)."""
        fetch = FeedFetch(
            feed,
            response.final_url,
            response.status,
            response.headers,
            response.body,
            response.fetched_at,
        )
        if feed.kind == "sitemap" and looks_like_sitemap(response.body):
            sitemap = parse_sitemap(response.body, response.final_url, self.sitemaps)
            if sitemap.kind == "index":
                entries, problems = [], []
                for child in sitemap.children[: self.sitemaps.max_children]:
                    if depth >= 2 or child.loc == feed.feed_url:
                        continue
                    child_feed = replace(feed, feed_url=child.loc)
                    child_response = self.fetcher.fetch_one(child.loc, FEED_ACCEPT)
                    more, issues = self._entries(child_feed, child_response, depth + 1)
                    entries += more
                    problems += issues
                return entries, problems
        parsed = parse_any(fetch, self.sitemaps)
        return parsed.entries, parsed.problems

    def _poll_site(self, site: SourceFeed, previous: FeedState | None):
        found = cached_discovery(previous)
        if found is None:
            response = self.fetcher.fetch_one(site.feed_url, "text/html, */*;q=0.5")
            robots = self.fetcher.robots.rules_for(site.feed_url)
            found = discover(
                site.feed_url,
                response.body,
                response.content_type,
                robots.sitemaps,
                fetch=lambda url: self.fetcher.fetch_one(url, FEED_ACCEPT),
            )
            counter("discover", "sites")
        if not found.found:
            raise FetchError(
                f"no feed or sitemap found on {site.feed_url}; list its feeds or sitemaps",
                reason="nothing_discovered",
            )
        entries, problems = [], []
        for source in found.sources(site):
            response = self.fetcher.fetch_one(source.feed_url, FEED_ACCEPT)
            check_feed_type(response, source.kind)
            more, issues = self._entries(source, response)
            entries += more
            problems += issues
        return (entries, problems), found.to_state()


class _Entries:
    def __init__(self, entries: list, problems: list) -> None:
        self.entries = entries
        self.problems = problems


class FirstSeenFn(beam.DoFn):
    """(article_id, entry | SEED) → the entry, the first time its id is seen within ``ttl``."""

    SEEN = ReadModifyWriteStateSpec("seen", StrUtf8Coder())
    EXPIRE = TimerSpec("expire", TimeDomain.WATERMARK)

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = Duration(seconds=ttl_seconds)

    def process(
        self,
        element,
        timestamp=beam.DoFn.TimestampParam,
        seen=beam.DoFn.StateParam(SEEN),
        expire=beam.DoFn.TimerParam(EXPIRE),
    ):
        _article_id, payload = element
        if seen.read():
            # Sliding TTL: an id is forgotten only after ``ttl`` without sightings, so an
            # item that stays listed in a feed longer than the TTL is never re-emitted.
            expire.set(_expiry(timestamp, self.ttl))
            if payload != SEED:
                counter("dedup_urls", "already_seen")
            return
        seen.write("1")
        expire.set(_expiry(timestamp, self.ttl))
        if payload == SEED:
            counter("dedup_urls", "seeded")
            return
        counter("dedup_urls", "out")
        yield payload

    @on_timer(EXPIRE)
    def on_expire(self, key=beam.DoFn.KeyParam, seen=beam.DoFn.StateParam(SEEN)):
        counter("dedup_urls", "expired")
        seen.clear()
        # Expired ids on their own output, for monitoring state size.
        yield pvalue.TaggedOutput(EXPIRED, key)


def _expiry(timestamp: Timestamp, ttl: Duration) -> Timestamp:
    # Elements from a bounded seed carry MIN_TIMESTAMP; their TTL starts now.
    base = timestamp if timestamp > Timestamp(0) else Timestamp.now()
    return base + ttl
