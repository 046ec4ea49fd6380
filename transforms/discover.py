"""DiscoverSources: ``site:`` outlets → the feeds and sitemaps found on their homepages.

Feeds and sitemaps listed in the sources file pass through. A ``site`` whose discovery
is cached in the feed state and fresh (``DISCOVERY_TTL_DAYS``) expands without a request;
the others are fetched politely (robots.txt first, whose ``Sitemap:`` lines count) and
discovered (``marsad.feeds.discovery``). A homepage that cannot be fetched, or shows
nothing, is a failure row (stage ``discover``). Each URL is polled once even when listed
and discovered both (the listed one wins).
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.typehints import Tuple

from marsad.errors import FetchError
from marsad.feeds.discovery import cached_discovery, discover
from marsad.fetch.crawl import PolitenessConfig
from marsad.fetch.http import FetchConfig, HttpResponse
from schemas.records import SourceFeed
from transforms.common import FAILURES, counter
from transforms.polite import FetchPolitely, PoliteFetchFn

HOMEPAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
PROBE_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"
TO_DISCOVER = "to_discover"


class SplitSitesFn(beam.DoFn):
    """Feeds and sitemaps pass; sites expand from the cache or go to discovery."""

    def process(self, source: SourceFeed, states):
        if source.kind != "site":
            yield source
            return
        cached = cached_discovery((states or {}).get(source.feed_url))
        if cached is None:
            yield pvalue.TaggedOutput(TO_DISCOVER, source)
            return
        counter("discover", "cached")
        yield from cached.sources(source)


class DiscoverFn(PoliteFetchFn):
    stage = "discover"
    accept = HOMEPAGE_ACCEPT

    def url_of(self, site: SourceFeed) -> str:
        return site.feed_url

    def describe(self, site: SourceFeed):
        return {"source": site.source, "feed_url": site.feed_url}

    def on_response(self, site: SourceFeed, response: HttpResponse, side):
        robots = self.fetcher.robots.rules_for(site.feed_url)

        def probe(url: str) -> HttpResponse:
            return self.fetcher.fetch_one(url, PROBE_ACCEPT)

        found = discover(
            site.feed_url, response.body, response.content_type, robots.sitemaps, fetch=probe
        )
        if not found.found:
            raise FetchError(
                f"no feed or sitemap found on {site.feed_url} (homepage links, robots.txt "
                f"Sitemap lines, and {len(found.probed)} common paths tried); list its feeds "
                "or sitemaps in the sources file",
                reason="nothing_discovered",
                http_status=response.status,
            )
        counter(self.stage, "sites")
        yield pvalue.TaggedOutput("state", found.to_state())
        yield from found.sources(site)


def _listed_first(group: tuple[str, list[SourceFeed]]) -> SourceFeed:
    _url, sources = group
    return min(sources, key=lambda s: (bool(s.discovered_from), s.source))


class DiscoverSources(beam.PTransform):
    """SourceFeeds (any kind) → (feeds and sitemaps to poll, failures, state updates)."""

    def __init__(
        self, run_id: str, config: FetchConfig, politeness: PolitenessConfig, states=None
    ) -> None:
        super().__init__()
        self.run_id = run_id
        self.config = config
        self.politeness = politeness
        self.states = states

    def expand(self, sources):
        split = sources | "SplitSites" >> beam.ParDo(SplitSitesFn(), self.states).with_outputs(
            TO_DISCOVER, main="main"
        )
        fn = DiscoverFn(self.run_id, self.config, self.politeness)
        found = split[TO_DISCOVER] | "Discover" >> FetchPolitely(fn)
        unique = (
            (split.main, found.main)
            | "Together" >> beam.Flatten()
            | "ByUrl" >> beam.Map(lambda s: (s.feed_url, s)).with_output_types(Tuple[str, Any])
            | "GroupByUrl" >> beam.GroupByKey()
            | "ListedFirst" >> beam.Map(_listed_first)
        )
        return unique, found[FAILURES], found.state
