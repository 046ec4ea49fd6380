"""What batch and streaming dedup share: an article or a stored row as a fingerprint,
and a decision applied back onto an article."""

from __future__ import annotations

from marsad.dedup.clusters import Status
from marsad.dedup.neardup import Fingerprint, NearDupConfig, clean_for_matching, fingerprint
from marsad.text.boilerplate import Cleaned
from marsad.text.normalize import content_hash
from schemas.records import Article
from transforms.common import counter
from transforms.stored_texts import StoredText

STAGE = "dedup_near"


def published_micros(article: Article) -> int | None:
    if article.published_at is None:
        return None
    return int(article.published_at.timestamp() * 1_000_000)


def clean_and_fingerprint(
    article: Article, outlet_lines, config: NearDupConfig, published_us: int | None
) -> tuple[Article, Cleaned, Fingerprint]:
    """Clean the article's text, fingerprint it, and store the cleaned text if configured.

    The article's ``content_hash`` is set here, from the tokens the fingerprint already
    normalised (``textnorm.content_hash`` of the same text): the text is normalised once.
    """
    text = article.text or ""
    cleaned = clean_for_matching(text, outlet_lines, config)
    fp = fingerprint(article.article_id, cleaned.tokens, text, config, published_us=published_us)
    if config.rewrite_text and cleaned.text != article.text:
        article = article.replace(text=cleaned.text, text_chars=len(cleaned.text))
    if article.text == cleaned.text and cleaned.tokens:
        article = article.replace(content_hash=fp.content_hash)
    else:  # the original text is kept (or normalises to nothing): hash what is stored
        article = article.replace(content_hash=content_hash(article.text or ""))
    return article, cleaned, fp


def stored_status(row: StoredText) -> Status:
    """The decision a row of an earlier run was written with."""
    return Status(
        row.article_id,
        row.is_canonical,
        row.cluster_id or row.article_id,
        "" if row.is_canonical else row.duplicate_of,
    )


def stored_fingerprint(row: StoredText, config: NearDupConfig, published_us: int | None):
    tokens = clean_for_matching(row.text, (), config).tokens if row.text else []
    return fingerprint(
        row.article_id,
        tokens,
        row.text,
        config,
        published_us=published_us,
        fixed=stored_status(row),
        content_hash=row.content_hash,
    )


def apply_decision(article: Article, status: Status, drop_duplicates: bool):
    """The article with its cluster fields, or None when duplicates are dropped."""
    counter(STAGE, "canonical" if status.is_canonical else "duplicate")
    if drop_duplicates and not status.is_canonical:
        counter(STAGE, "dropped")
        return None
    counter(STAGE, "out")
    return article.replace(
        cluster_id=status.cluster_id,
        is_duplicate=not status.is_canonical,
        is_canonical=status.is_canonical,
        duplicate_of=status.duplicate_of,
        duplicate_similarity=status.similarity,
    )
