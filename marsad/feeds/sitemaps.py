"""Sitemaps as sources: Google News sitemaps, plain sitemaps and sitemap indexes.

A sitemap lists URLs; a Google News sitemap adds ``news:title``,
``news:publication_date`` and ``news:language`` (https://www.google.com/schemas/
sitemap-news/0.9). Each recent ``<url>`` becomes a ``FeedEntry`` like a feed item.

- Recent only: an entry is kept when its ``news:publication_date`` (else ``lastmod``) is
  within ``window_days`` (``--sitemap_window_days``, default 2: what Google News
  sitemaps promise to list); older and undated entries are counted and skipped (a
  50,000-URL archive sitemap would otherwise flood every run).
- Indexes: ``<sitemapindex>`` children are followed when recent or undated, at most
  ``max_children`` of them, at most ``MAX_DEPTH`` levels deep, never twice (cycles).
- Bounded: bodies are streamed through lxml's pull parser with entities and network
  access off; elements are dropped as soon as they are read; at most ``max_urls``
  entries per sitemap; gzip (``.xml.gz``) is decompressed in bounded steps
  (``MAX_SITEMAP_BYTES``, the protocol's 50 MB, or the fetch's ``--max_bytes`` if
  smaller), so a gzip bomb stops at the cap.
- Broken XML: a truncated sitemap keeps the ``<url>`` elements that were complete; an
  element cut off by the end of the file is dropped, not guessed.

trafilatura's ``sitemaps`` module was measured as the alternative
(``benchmarks/sitemap_compare.py``): it finds the same URLs but drops the news metadata
(titles, dates, language) and the dates that make "recent" decidable, and fetches by
itself, outside marsad's politeness, robots and address guard.
"""

from __future__ import annotations

import html
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin

from lxml import etree

from marsad.errors import FeedError

NS_SITEMAP = "http://www.sitemaps.org/schemas/sitemap/0.9"
NS_NEWS = "http://www.google.com/schemas/sitemap-news/0.9"
MAX_SITEMAP_BYTES = 50 * 1024 * 1024
MAX_URLS = 50_000
MAX_DEPTH = 3
DEFAULT_WINDOW_DAYS = 2.0
DEFAULT_MAX_CHILDREN = 50
_CHUNK = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class SitemapConfig:
    window_days: float = DEFAULT_WINDOW_DAYS
    max_urls: int = MAX_URLS
    max_children: int = DEFAULT_MAX_CHILDREN
    max_bytes: int = MAX_SITEMAP_BYTES


@dataclass
class SitemapUrl:
    loc: str
    lastmod: datetime | None = None
    title: str = ""
    published_at: datetime | None = None
    language: str = ""
    publication: str = ""

    @property
    def date(self) -> datetime | None:
        return self.published_at or self.lastmod


@dataclass
class Sitemap:
    """One parsed sitemap document: its URLs (``urlset``) or its children (``index``)."""

    kind: str  # "urlset" | "index"
    urls: list[SitemapUrl] = field(default_factory=list)
    children: list[SitemapUrl] = field(default_factory=list)
    is_news: bool = False
    skipped_old: int = 0
    skipped_undated: int = 0
    over_limit: int = 0
    truncated: bool = False


def looks_like_sitemap(body: bytes) -> bool:
    """A sitemap or sitemap index (plain or gzipped), judged from the first bytes."""
    if body[:2] == _GZIP_MAGIC:
        return True
    head = body[:2048].lower()
    return b"<urlset" in head or b"<sitemapindex" in head


def gunzip_bounded(body: bytes, limit: int) -> bytes:
    """Decompress gzip in steps, refusing more than ``limit`` bytes of output."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = bytearray()
    data = body
    try:
        while data:
            out += inflater.decompress(data, _CHUNK)
            if len(out) > limit:
                raise FeedError(
                    f"gzipped sitemap inflates past {limit} bytes (a gzip bomb or an "
                    "oversized sitemap); refused",
                    reason="too_large",
                )
            data = inflater.unconsumed_tail
            if inflater.eof:
                break
    except zlib.error as exc:
        raise FeedError(f"sitemap is not valid gzip: {exc}", reason="feed_malformed") from exc
    return bytes(out)


def parse_datetime(value: str | None) -> datetime | None:
    """W3C datetime (``2024-02-01``, ``2024-02-01T10:00+03:00``, ``…Z``) in UTC."""
    if not value:
        return None
    value = value.strip()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _local(tag: object) -> tuple[str, str]:
    if not isinstance(tag, str):
        return "", ""
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


def _text(element) -> str:
    return html.unescape((element.text or "").strip()) if element is not None else ""


def _read_url(element, base_url: str) -> SitemapUrl | None:
    loc = lastmod = title = published = language = publication = ""
    for child in element.iter():
        namespace, name = _local(child.tag)
        if namespace == NS_NEWS:
            if name == "title":
                title = _text(child)
            elif name == "publication_date":
                published = _text(child)
            elif name == "language":
                language = _text(child)
            elif name == "name":
                publication = _text(child)
        elif name == "loc" and not loc:
            loc = (child.text or "").strip()
        elif name == "lastmod":
            lastmod = _text(child)
    if not loc:
        return None
    return SitemapUrl(
        loc=urljoin(base_url, loc),
        lastmod=parse_datetime(lastmod),
        title=title,
        published_at=parse_datetime(published),
        language=language.split("-")[0].lower(),
        publication=publication,
    )


def _events(body: bytes) -> Iterator[tuple[object, bool]]:
    """(element, complete) for every ``url``/``sitemap`` element; ``complete`` is False
    for one the end of the data cut off (only closed by the parser's recovery)."""
    parser = etree.XMLPullParser(
        events=("end",), recover=True, resolve_entities=False, no_network=True, huge_tree=False
    )
    for start in range(0, len(body), _CHUNK):
        parser.feed(body[start : start + _CHUNK])
        for _event, element in parser.read_events():
            yield element, True
    parser.close()
    for _event, element in parser.read_events():
        yield element, False


def parse_sitemap(
    body: bytes,
    base_url: str,
    config: SitemapConfig | None = None,
    now: datetime | None = None,
) -> Sitemap:
    """Parse sitemap bytes (gzip allowed). Raises ``FeedError`` when it is not a sitemap."""
    config = config or SitemapConfig()
    if body[:2] == _GZIP_MAGIC:
        body = gunzip_bounded(body, config.max_bytes)
    now = now or datetime.now(UTC)
    oldest = now - timedelta(days=config.window_days)
    sitemap: Sitemap | None = None
    for element, complete in _events(body):
        namespace, name = _local(element.tag)
        if sitemap is None and name in ("urlset", "sitemapindex"):
            sitemap = Sitemap(kind="index" if name == "sitemapindex" else "urlset")
        if name not in ("url", "sitemap") or namespace not in (NS_SITEMAP, ""):
            continue
        if sitemap is None:
            parent = element.getparent()
            parent_name = _local(parent.tag)[1] if parent is not None else ""
            sitemap = Sitemap(kind="index" if parent_name == "sitemapindex" else "urlset")
        if not complete:
            sitemap.truncated = True
            continue
        item = _read_url(element, base_url)
        _release(element)
        if item is None:
            continue
        if item.published_at is not None or item.title:
            sitemap.is_news = True
        target = sitemap.children if name == "sitemap" else sitemap.urls
        limit = config.max_children if name == "sitemap" else config.max_urls
        if name == "url":
            if item.date is None:
                sitemap.skipped_undated += 1
                continue
            if item.date < oldest:
                sitemap.skipped_old += 1
                continue
        elif item.lastmod is not None and item.lastmod < oldest:
            sitemap.skipped_old += 1
            continue
        if len(target) >= limit:
            sitemap.over_limit += 1
            continue
        target.append(item)
    if sitemap is None:
        raise FeedError(
            f"{base_url} is not a sitemap (no <urlset> or <sitemapindex>)", reason="not_a_feed"
        )
    return sitemap


def _release(element) -> None:
    """Free what has been read: the element and the siblings before it."""
    element.clear()
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def sitemap_entries(fetch, config: SitemapConfig | None = None, now: datetime | None = None):
    """A fetched sitemap (``FeedFetch``) as a ``ParsedFeed`` of ``FeedEntry`` records."""
    from marsad.feeds.parse import ParsedFeed
    from schemas.records import FeedEntry

    try:
        sitemap = parse_sitemap(fetch.body, fetch.final_url, config, now)
    except FeedError as error:
        error.http_status = fetch.status
        raise
    if sitemap.kind == "index":
        raise FeedError(
            f"{fetch.feed.feed_url} is a sitemap index; its children are fetched by FetchFeeds",
            reason="sitemap_index_unexpanded",
            http_status=fetch.status,
        )
    entries = [
        FeedEntry(
            source=fetch.feed.source,
            feed_url=fetch.feed.feed_url,
            link=item.loc,
            guid=item.loc,
            title=item.title,
            published_at=item.published_at or item.lastmod,
            language=fetch.feed.language or item.language,
            country=fetch.feed.country,
            source_tags=list(fetch.feed.tags),
        )
        for item in sitemap.urls
    ]
    version = "sitemap-news" if sitemap.is_news else "sitemap"
    return ParsedFeed(entries=entries, problems=[], version=version), sitemap
