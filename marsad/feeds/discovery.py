"""Find an outlet's feeds and sitemaps from its homepage (``site:`` in the sources file).

In order, stopping at the first step that finds something:
1. the homepage's ``<link rel="alternate">`` feed links (trafilatura's
   ``feeds.determine_feed``, the field's feed finder, given the page marsad fetched) and
   the ``Sitemap:`` lines of the host's robots.txt (news sitemaps preferred);
2. common paths (``/feed``, ``/rss.xml``, ``/news-sitemap.xml`` …), each probed with one
   polite request and kept only when the answer *is* a feed or a sitemap.

At most ``MAX_FOUND`` feeds and ``MAX_FOUND`` sitemaps are kept. The result is cached in
the feed state (``kind: site``) for ``DISCOVERY_TTL_DAYS`` and listed by
``marsad sources --discover`` so users can pin it in their sources file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit

from marsad.errors import MarsadError
from marsad.feeds.sitemaps import looks_like_sitemap
from marsad.fetch.encoding import decode_document
from marsad.fetch.feedstate import FeedState
from schemas.records import SourceFeed

MAX_FOUND = 3
DISCOVERY_TTL_DAYS = 7.0
COMMON_FEED_PATHS = ("/feed/", "/rss/", "/rss.xml", "/feed.xml", "/atom.xml", "/index.xml")
COMMON_SITEMAP_PATHS = ("/news-sitemap.xml", "/sitemap_news.xml", "/sitemap-news.xml")
_FEED_STARTS = (b"<rss", b"<feed", b"<rdf:rdf", b"<?xml")


@dataclass
class Discovery:
    site: str
    feeds: list[str] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)
    checked_at: str = ""
    probed: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.feeds or self.sitemaps)

    def sources(self, site: SourceFeed) -> list[SourceFeed]:
        """The feeds and sitemaps to poll, carrying the outlet's name, language, tags."""
        made = [
            replace(site, feed_url=url, kind="feed", discovered_from=site.feed_url)
            for url in self.feeds
        ]
        made += [
            replace(site, feed_url=url, kind="sitemap", discovered_from=site.feed_url)
            for url in self.sitemaps
        ]
        return made

    def to_state(self) -> FeedState:
        links = tuple([f"feed {u}" for u in self.feeds] + [f"sitemap {u}" for u in self.sitemaps])
        return FeedState(feed_url=self.site, checked_at=self.checked_at, kind="site", links=links)

    @classmethod
    def from_state(cls, state: FeedState) -> Discovery:
        found = cls(site=state.feed_url, checked_at=state.checked_at)
        for link in state.links:
            kind, _, url = link.partition(" ")
            (found.feeds if kind == "feed" else found.sitemaps).append(url)
        return found


def cached_discovery(
    state: FeedState | None, now: datetime | None = None, ttl_days: float = DISCOVERY_TTL_DAYS
) -> Discovery | None:
    """A discovery recorded in the feed state that is still fresh, else None."""
    if state is None or state.kind != "site" or not state.links or not state.checked_at:
        return None
    try:
        checked = datetime.fromisoformat(state.checked_at)
    except ValueError:
        return None
    now = now or datetime.now(UTC)
    if now - checked > timedelta(days=ttl_days):
        return None
    return Discovery.from_state(state)


def feeds_in_html(html: str, page_url: str) -> list[str]:
    """Feed URLs a page announces (``<link rel="alternate">``, else feed-looking links)."""
    from trafilatura.feeds import FeedParameters, determine_feed

    parts = urlsplit(page_url)
    base = f"{parts.scheme}://{parts.netloc}"
    params = FeedParameters(base, parts.netloc, page_url)
    found = determine_feed(html, params)
    return list(dict.fromkeys(urljoin(page_url, url) for url in found))


def prefer_news(sitemaps: list[str]) -> list[str]:
    news = [url for url in sitemaps if "news" in url.lower()]
    return (news or sitemaps)[:MAX_FOUND]


def is_feed_body(body: bytes) -> bool:
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:512].lower()
    if head.startswith(b"{") and b"jsonfeed.org/version" in body[:2048]:
        return True
    return head.startswith(_FEED_STARTS) and (
        b"<rss" in head or b"<feed" in head or b"<rdf" in head
    )


def discover(
    homepage_url: str,
    homepage_body: bytes,
    content_type: str,
    robots_sitemaps: list[str],
    fetch: Callable[[str], object] | None = None,
    now: datetime | None = None,
) -> Discovery:
    """Discover from a fetched homepage; ``fetch(url)`` probes common paths (polite GET
    returning an ``HttpResponse`` or raising ``MarsadError``), only if nothing was found."""
    now = now or datetime.now(UTC)
    found = Discovery(site=homepage_url, checked_at=now.isoformat())
    html = decode_document(homepage_body, content_type).text
    found.feeds = feeds_in_html(html, homepage_url)[:MAX_FOUND]
    found.sitemaps = prefer_news(list(dict.fromkeys(robots_sitemaps)))
    if found.found or fetch is None:
        return found
    for paths, looks_right, into in (
        (COMMON_FEED_PATHS, is_feed_body, found.feeds),
        (COMMON_SITEMAP_PATHS, looks_like_sitemap, found.sitemaps),
    ):
        for path in paths:  # one hit per kind is enough; each probe is a request
            url = urljoin(homepage_url, path)
            found.probed.append(url)
            try:
                response = fetch(url)
            except MarsadError:
                continue
            if looks_right(response.body):
                into.append(response.final_url)
                break
    return found
