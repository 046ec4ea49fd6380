"""ExtractArticles: page HTML → article text and metadata (trafilatura, feed fallback)."""

from __future__ import annotations

import apache_beam as beam

from marsad.text.extract import DEFAULT_MIN_CHARS, choose_text, extract_with_trafilatura
from marsad.text.normalize import content_hash
from schemas.records import Article
from transforms.common import StageDoFn, apply_stage, counter


def extract_article(article: Article, min_chars: int = DEFAULT_MIN_CHARS) -> Article:
    """Fill text and metadata of ``article`` from its page and its feed entry."""
    page = extract_with_trafilatura(article.html, article.final_url or article.url)
    chosen = choose_text(
        page,
        article.feed_content,
        article.summary,
        min_chars=min_chars,
    )
    published_at, published_from = article.published_at, article.published_from
    if published_at is None:
        if chosen.page_date is not None:
            published_at, published_from = chosen.page_date, "page"
        else:
            published_at, published_from = article.fetched_at, "fetched"
    return article.replace(
        text=chosen.text,
        title=chosen.title or article.title,
        authors=chosen.authors or article.authors,
        sitename=chosen.sitename,
        language=chosen.language,
        declared_language=chosen.declared_language or article.declared_language,
        published_at=published_at,
        published_from=published_from,
        extraction_method=chosen.method,
        text_chars=len(chosen.text),
        content_hash=content_hash(chosen.text),
        html="",
        feed_content="",
    )


class ExtractFn(StageDoFn):
    stage = "extract"

    def __init__(self, run_id: str, min_chars: int) -> None:
        super().__init__(run_id)
        self.min_chars = min_chars

    def describe(self, article: Article):
        return article.final_url or article.url, {
            "source": article.source,
            "feed_url": article.feed_url,
            "article_id": article.article_id,
            "http_status": article.http_status,
        }

    def handle(self, article: Article):
        extracted = extract_article(article, self.min_chars)
        counter(self.stage, f"method.{extracted.extraction_method}")
        yield extracted


class ExtractArticles(beam.PTransform):
    """Extract body text; ``extraction_empty`` failures when neither page nor feed has text."""

    def __init__(self, run_id: str, min_chars: int = DEFAULT_MIN_CHARS) -> None:
        super().__init__()
        self.run_id = run_id
        self.min_chars = min_chars

    def expand(self, articles):
        return apply_stage(articles, "Extract", ExtractFn(self.run_id, self.min_chars))
