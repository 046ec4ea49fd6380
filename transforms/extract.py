"""ExtractArticles: fetched page → article text and metadata (decoding, trafilatura, feed
fallback)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import apache_beam as beam

from marsad.fetch.encoding import decode_document
from marsad.text.extract import (
    DEFAULT_MAX_TEXT_CHARS,
    DEFAULT_MIN_CHARS,
    cap_text,
    choose_date,
    choose_text,
    extract_with_trafilatura,
    plausible_date,
)
from schemas.records import Article
from transforms.common import apply_stage, counter, error_fields
from transforms.pooled import PooledStageDoFn


def extract_article(
    article: Article,
    min_chars: int = DEFAULT_MIN_CHARS,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
) -> Article:
    """Fill text and metadata of ``article`` from its page and its feed entry.

    The publication date is the feed's, else the page's, else the fetch time; a date
    outside [1990-01-01, fetch time + 1 day] is skipped for the next source, and
    ``published_from`` names the one used. ``content_hash`` is left to the duplicate
    stage, which normalises the text anyway (``transforms.dedup_near``).
    """
    page = extract_with_trafilatura(article.html, article.final_url or article.url)
    chosen = choose_text(
        page,
        article.feed_content,
        article.summary,
        min_chars=min_chars,
    )
    feed_date = article.published_at if article.published_from == "feed" else None
    published_at, published_from = choose_date(
        [(feed_date, "feed"), (chosen.page_date, "page")], article.fetched_at
    )
    updated_at = (
        article.updated_at if plausible_date(article.updated_at, article.fetched_at) else None
    )
    text, truncated = cap_text(chosen.text, max_text_chars)
    return article.replace(
        text=text,
        text_truncated=truncated,
        updated_at=updated_at,
        title=chosen.title or article.title,
        authors=chosen.authors or article.authors,
        sitename=chosen.sitename,
        language=chosen.language,
        declared_language=chosen.declared_language or article.declared_language,
        published_at=published_at,
        published_from=published_from,
        extraction_method=chosen.method,
        text_chars=len(text),
        html="",
        feed_content="",
    )


@dataclass(frozen=True)
class PageExtraction:
    """What the worker returns for one fetched page: the extracted article, or the
    failure's fields, and how the page was decoded ("" when it came decoded)."""

    article: Article | None
    encoding_source: str
    failure: dict[str, Any] | None = None


def extract_page(
    article: Article,
    min_chars: int = DEFAULT_MIN_CHARS,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
) -> PageExtraction:
    """Decode the fetched page (undecodable bytes become U+FFFD, never an error), then
    :func:`extract_article`; a failure comes back as fields, so that the decoding is
    counted for every page, extracted or not."""
    source = ""
    try:
        if article.page:
            decoded = decode_document(article.page, article.content_type)
            source = decoded.source
            article = article.replace(
                html=decoded.text,
                encoding=decoded.encoding,
                encoding_source=decoded.source,
                page=b"",
                content_type="",
            )
        return PageExtraction(extract_article(article, min_chars, max_text_chars), source)
    except Exception as error:  # a row, as StageDoFn makes one for what handle raises
        return PageExtraction(None, source, error_fields(error))


class ExtractFn(PooledStageDoFn):
    stage = "extract"

    def __init__(
        self,
        run_id: str,
        min_chars: int,
        max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
        workers: int = 1,
    ) -> None:
        super().__init__(run_id, workers)
        self.min_chars = min_chars
        self.max_text_chars = max_text_chars

    def describe(self, article: Article):
        return article.final_url or article.url, {
            "source": article.source,
            "feed_url": article.feed_url,
            "article_id": article.article_id,
            "http_status": article.http_status,
        }

    def work(self):
        return partial(extract_page, min_chars=self.min_chars, max_text_chars=self.max_text_chars)

    def outputs(self, article: Article, result: PageExtraction):
        if result.encoding_source:  # named as when FetchArticles decoded the page
            counter("fetch_articles", f"encoding.{result.encoding_source}")
        if result.failure is not None:
            yield self._failure_from(article, result.failure)
            return
        extracted = result.article
        counter(self.stage, f"method.{extracted.extraction_method}")
        if extracted.text_truncated:
            counter(self.stage, "text_truncated")
        yield extracted


class ExtractArticles(beam.PTransform):
    """Extract body text; ``extraction_empty`` failures when neither page nor feed has text.

    ``workers``: processes the extraction runs in (``marsad.workers``; 1: in-process)."""

    def __init__(
        self,
        run_id: str,
        min_chars: int = DEFAULT_MIN_CHARS,
        max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
        workers: int = 1,
    ) -> None:
        super().__init__()
        self.run_id = run_id
        self.min_chars = min_chars
        self.max_text_chars = max_text_chars
        self.workers = workers

    def expand(self, articles):
        return apply_stage(
            articles,
            "Extract",
            ExtractFn(self.run_id, self.min_chars, self.max_text_chars, self.workers),
        )
