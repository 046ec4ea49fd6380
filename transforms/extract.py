"""ExtractArticles: page HTML → article text and metadata (trafilatura, feed fallback)."""

from __future__ import annotations

from functools import partial

import apache_beam as beam

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
from transforms.common import apply_stage, counter
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
        return partial(
            extract_article, min_chars=self.min_chars, max_text_chars=self.max_text_chars
        )

    def outputs(self, article: Article, extracted: Article):
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
