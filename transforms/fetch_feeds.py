"""FetchFeeds: SourceFeed → FeedFetch, with conditional GET against stored validators.

Outputs: main (FeedFetch of changed feeds), ``failures``, and ``state``
(FeedState per feed fetched, for the driver to promote after a successful run).
"""

from __future__ import annotations

from datetime import UTC, datetime

import apache_beam as beam
from apache_beam import pvalue

from marsad.errors import FetchError
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
_FEED_STARTS = (b"<?xml", b"<rss", b"<feed", b"<rdf", b"{", b"\xef\xbb\xbf")


def check_feed_type(response: HttpResponse) -> None:
    """Refuse bodies that are clearly not feeds; tolerate feeds mislabelled text/html."""
    media_type = response.content_type.split(";")[0].strip().lower()
    if not media_type or any(kind in media_type for kind in _FEED_TYPES):
        return
    if media_type == "text/html" and response.body.lstrip()[:20].lower().startswith(_FEED_STARTS):
        return
    raise FetchError(
        f"{response.final_url} is {media_type!r}, not an RSS/Atom/JSON feed",
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

    def on_response(self, feed: SourceFeed, response: HttpResponse, states):
        previous = (states or {}).get(feed.feed_url)
        now = datetime.now(UTC).isoformat()
        if response.status == 304 and previous is not None:
            counter(self.stage, "not_modified")
            yield pvalue.TaggedOutput(
                "state", FeedState(**{**previous.__dict__, "checked_at": now})
            )
            return
        check_feed_type(response)
        digest = body_sha256(response.body)
        state = FeedState(
            feed_url=feed.feed_url,
            etag=response.headers.get("etag", ""),
            last_modified=response.headers.get("last-modified", ""),
            body_sha256=digest,
            checked_at=now,
        )
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
    ) -> None:
        super().__init__()
        self.run_id = run_id
        self.config = config
        self.politeness = politeness
        self.states = states
        self.warc_dir = warc_dir

    def expand(self, feeds):
        fn = FetchFeedFn(self.run_id, self.config, self.politeness, self.warc_dir)
        result = feeds | "Politely" >> FetchPolitely(fn, side_input=self.states)
        return result.main, result.failures, result.state
