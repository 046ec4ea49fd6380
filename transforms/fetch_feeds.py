"""FetchFeeds: SourceFeed → FeedFetch, with conditional GET against stored validators.

Feeds and sitemaps alike. A sitemap index is expanded here: its recent children are
fetched through the same polite fetcher (conditional GET each), and each changed child
goes on as its own FeedFetch; the index's child list is kept in the state, so an
unchanged (304) index still has its children checked.

Outputs: main (FeedFetch of changed feeds), ``failures``, and ``state``
(FeedState per feed fetched, for the driver to promote after a successful run).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import apache_beam as beam
from apache_beam import pvalue

from marsad.errors import FetchError, MarsadError
from marsad.feeds.sitemaps import MAX_DEPTH, SitemapConfig, looks_like_sitemap, parse_sitemap
from marsad.fetch.crawl import PolitenessConfig
from marsad.fetch.feedstate import FeedState, body_sha256, conditional_headers
from marsad.fetch.http import FetchConfig, HttpResponse
from schemas.records import FeedFetch, SourceFeed
from transforms.common import counter
from transforms.polite import FetchPolitely, PoliteFetchFn

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
_FEED_TYPES = ("xml", "rss", "atom", "rdf", "json", "text/plain")
_SITEMAP_TYPES = ("xml", "gzip", "octet-stream", "text/plain")
_FEED_STARTS = (b"<?xml", b"<rss", b"<feed", b"<rdf", b"{", b"\xef\xbb\xbf")


def check_feed_type(response: HttpResponse, kind: str = "feed") -> None:
    """Refuse bodies that are clearly not feeds (or sitemaps); tolerate feeds mislabelled
    text/html and gzipped sitemaps served as octet-stream."""
    media_type = response.content_type.split(";")[0].strip().lower()
    if kind == "sitemap":
        if not media_type or any(k in media_type for k in _SITEMAP_TYPES):
            return
        if looks_like_sitemap(response.body):
            return
    if not media_type or any(k in media_type for k in _FEED_TYPES):
        return
    if media_type == "text/html" and response.body.lstrip()[:20].lower().startswith(_FEED_STARTS):
        return
    what = "sitemap" if kind == "sitemap" else "RSS/Atom/JSON feed"
    raise FetchError(
        f"{response.final_url} is {media_type!r}, not a {what}",
        reason="unsupported_content_type",
        http_status=response.status,
        attempts=response.attempts,
    )


class FetchFeedFn(PoliteFetchFn):
    stage = "fetch_feeds"
    accept = FEED_ACCEPT

    def url_of(self, feed: SourceFeed) -> str:
        return feed.feed_url

    def describe(self, feed: SourceFeed):
        return {"source": feed.source, "feed_url": feed.feed_url}

    def headers_for(self, feed: SourceFeed, states):
        return conditional_headers((states or {}).get(feed.feed_url))

    def __init__(self, *args, sitemaps: SitemapConfig | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sitemaps = sitemaps or SitemapConfig()

    def process(self, batch, side=None):
        self._seen_sitemaps: set[str] = set()  # index children fetched in this batch
        yield from super().process(batch, side)

    def on_response(self, feed: SourceFeed, response: HttpResponse, states, depth: int = 0):
        previous = (states or {}).get(feed.feed_url)
        now = datetime.now(UTC).isoformat()
        if response.status == 304 and previous is not None:
            counter(self.stage, "not_modified")
            yield pvalue.TaggedOutput(
                "state", FeedState(**{**previous.__dict__, "checked_at": now})
            )
            if previous.kind == "sitemap_index":
                yield from self._children(feed, list(previous.links), states, depth)
            return
        check_feed_type(response, feed.kind)
        digest = body_sha256(response.body)
        state = FeedState(
            feed_url=feed.feed_url,
            etag=response.headers.get("etag", ""),
            last_modified=response.headers.get("last-modified", ""),
            body_sha256=digest,
            checked_at=now,
        )
        if feed.kind == "sitemap" and looks_like_sitemap(response.body):
            sitemap = parse_sitemap(response.body, response.final_url, self.sitemaps)
            if sitemap.kind == "index":
                children = [child.loc for child in sitemap.children]
                counter(self.stage, "sitemap_index")
                yield pvalue.TaggedOutput(
                    "state",
                    FeedState(
                        **{**state.__dict__, "kind": "sitemap_index", "links": tuple(children)}
                    ),
                )
                yield from self._children(feed, children, states, depth)
                return
        yield pvalue.TaggedOutput("state", state)
        if previous is not None and previous.body_sha256 == digest:
            counter(self.stage, "unchanged")
            return
        yield FeedFetch(
            feed=feed,
            final_url=response.final_url,
            status=response.status,
            headers=response.headers,
            body=response.body,
            fetched_at=response.fetched_at,
        )

    def _children(self, index: SourceFeed, urls: list[str], states, depth: int):
        """Fetch an index's children (politely, conditionally) and handle each like a
        listed sitemap; nested indexes up to ``MAX_DEPTH``, each URL once per run."""
        if depth >= MAX_DEPTH:
            return
        seen = self._seen_sitemaps
        seen.add(index.feed_url)
        for url in urls[: self.sitemaps.max_children]:
            if url in seen:
                continue
            seen.add(url)
            child = replace(index, feed_url=url, kind="sitemap")
            counter(self.stage, "in")
            try:
                response = self.fetcher.fetch_one(url, self.accept, self.headers_for(child, states))
                if self.archive is not None:
                    self.archive.write_response(
                        response.final_url, response.status, response.headers, response.body
                    )
                outputs = list(self.on_response(child, response, states, depth + 1))
            except MarsadError as error:
                outputs = [self._failure(child, error)]
            yield from outputs


class FetchFeeds(beam.PTransform):
    """Fetch every feed politely; returns (feeds, failures, state updates).

    ``states`` is a side input (``AsSingleton``) of the stored ``FeedState`` map.
    """

    def __init__(
        self,
        run_id: str,
        config: FetchConfig,
        politeness: PolitenessConfig,
        states=None,
        warc_dir: str | None = None,
        sitemaps: SitemapConfig | None = None,
    ) -> None:
        super().__init__()
        self.run_id = run_id
        self.config = config
        self.politeness = politeness
        self.states = states
        self.warc_dir = warc_dir
        self.sitemaps = sitemaps

    def expand(self, feeds):
        fn = FetchFeedFn(
            self.run_id, self.config, self.politeness, self.warc_dir, sitemaps=self.sitemaps
        )
        result = feeds | "Politely" >> FetchPolitely(fn, side_input=self.states)
        return result.main, result.failures, result.state
