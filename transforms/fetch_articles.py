"""FetchArticles: FeedEntry → Article carrying the fetched page, fetched politely.

The page travels as bytes: Extract decodes it (``marsad.fetch.encoding``) in a worker
process, so the pipeline process neither decodes it nor pickles it as text.
"""

from __future__ import annotations

import apache_beam as beam

from marsad.errors import FetchError
from marsad.fetch.crawl import PolitenessConfig
from marsad.fetch.http import FetchConfig, HttpResponse
from marsad.fetch.sniff import binary_kind
from schemas.records import Article, FeedEntry
from transforms.polite import FetchPolitely, PoliteFetchFn

ARTICLE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
_HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml", "text/xml")


def article_from_entry(entry: FeedEntry, run_id: str) -> Article:
    return Article(
        article_id=entry.article_id,
        url=entry.link,
        canonical_url=entry.canonical_url,
        source=entry.source,
        feed_url=entry.feed_url,
        run_id=run_id,
        source_country=entry.country,
        source_tags=list(entry.source_tags),
        title=entry.title,
        summary=entry.summary,
        declared_language=entry.language,
        authors=list(entry.authors),
        published_at=entry.published_at,
        published_from="feed" if entry.published_at else "",
        updated_at=entry.updated_at,
        also_listed_in=list(entry.also_listed_in),
        feed_content=entry.content,
    )


def check_article_type(response: HttpResponse) -> None:
    """An HTML page by its declared type *and* its first bytes (binaries served as HTML)."""
    media_type = response.content_type.split(";")[0].strip().lower()
    if media_type and not media_type.startswith(_HTML_TYPES):
        raise FetchError(
            f"{response.final_url} is {media_type!r}, not an HTML page",
            reason="unsupported_content_type",
            http_status=response.status,
            attempts=response.attempts,
        )
    sniffed = binary_kind(response.body)
    if sniffed is not None:
        raise FetchError(
            f"{response.final_url} is served as {media_type or 'untyped'} but its bytes are "
            f"{sniffed}, not an HTML page",
            reason="unsupported_content_type",
            http_status=response.status,
            attempts=response.attempts,
        )


class FetchArticleFn(PoliteFetchFn):
    stage = "fetch_articles"
    accept = ARTICLE_ACCEPT

    def url_of(self, entry: FeedEntry) -> str:
        return entry.link

    def describe(self, entry: FeedEntry):
        return {"source": entry.source, "feed_url": entry.feed_url, "article_id": entry.article_id}

    def on_response(self, entry: FeedEntry, response: HttpResponse, side):
        check_article_type(response)
        article = article_from_entry(entry, self.run_id)
        article.final_url = response.final_url
        article.http_status = response.status
        article.fetched_at = response.fetched_at
        article.page = response.body
        article.content_type = response.content_type
        yield article


class FetchArticles(beam.PTransform):
    """Fetch each new article page once; returns (articles, failures)."""

    def __init__(
        self,
        run_id: str,
        config: FetchConfig,
        politeness: PolitenessConfig,
        warc_dir: str | None = None,
    ) -> None:
        super().__init__()
        self.run_id = run_id
        self.config = config
        self.politeness = politeness
        self.warc_dir = warc_dir

    def expand(self, entries):
        fn = FetchArticleFn(self.run_id, self.config, self.politeness, self.warc_dir)
        result = entries | "Politely" >> FetchPolitely(fn)
        return result.main, result.failures
