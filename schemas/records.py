"""The records that flow between stages.

One article record (``Article``) carries everything downstream stages add; a
stage fills its fields and never invents a parallel record. ``FeedEntry`` is
what a feed says about an article before we fetch it. ``Failure`` is the
dead-letter record every stage emits instead of dropping an input.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SourceFeed:
    """One URL of one outlet to poll, as declared in the sources file (or discovered).

    ``kind``: ``feed`` (RSS/Atom/JSON Feed), ``sitemap`` (a sitemap, news sitemap or
    sitemap index) or ``site`` (a homepage whose feeds and sitemaps are discovered).
    ``discovered_from``: the homepage a discovered feed or sitemap was found on.
    """

    source: str
    feed_url: str
    language: str = ""
    country: str = ""
    tags: tuple[str, ...] = ()
    kind: str = "feed"
    discovered_from: str = ""


@dataclass
class FeedFetch:
    """Raw bytes of one feed plus the response metadata feedparser needs."""

    feed: SourceFeed
    final_url: str
    status: int
    headers: dict[str, str]
    body: bytes
    fetched_at: datetime


@dataclass
class FeedEntry:
    """One item of a feed, normalised by feedparser, before the article is fetched."""

    source: str
    feed_url: str
    link: str
    guid: str = ""
    title: str = ""
    summary: str = ""
    content: str = ""
    authors: list[str] = field(default_factory=list)
    published_at: datetime | None = None
    updated_at: datetime | None = None
    language: str = ""
    country: str = ""
    source_tags: list[str] = field(default_factory=list)
    # Filled by Canonicalize.
    canonical_url: str = ""
    article_id: str = ""
    # Filled by DedupUrls: other feeds of this run that listed the same article.
    also_listed_in: list[str] = field(default_factory=list)


@dataclass
class Article:
    """One article row of the ``articles`` dataset. Stages fill fields in order."""

    article_id: str
    url: str
    canonical_url: str
    source: str
    feed_url: str
    run_id: str
    final_url: str = ""
    source_country: str = ""
    source_tags: list[str] = field(default_factory=list)
    title: str = ""
    summary: str = ""
    text: str = ""
    language: str | None = None
    declared_language: str = ""
    authors: list[str] = field(default_factory=list)
    sitename: str = ""
    published_at: datetime | None = None
    published_from: str = ""
    updated_at: datetime | None = None
    fetched_at: datetime | None = None
    http_status: int | None = None
    encoding: str = ""
    encoding_source: str = ""
    extraction_method: str = ""
    text_chars: int = 0
    text_truncated: bool = False
    content_hash: str = ""
    cluster_id: str = ""
    is_duplicate: bool = False
    is_canonical: bool = True
    duplicate_of: str = ""
    duplicate_similarity: float | None = None
    topic_score: float = 0.0
    is_relevant: bool = False
    subtopics: list[str] = field(default_factory=list)
    matched_terms: list[dict] = field(default_factory=list)
    entities: list[dict] = field(default_factory=list)
    also_listed_in: list[str] = field(default_factory=list)
    # Not columns: the page as fetched (bytes and the response's Content-Type) from
    # FetchArticles to Extract, which decodes it in a worker process into ``html``.
    html: str = ""
    page: bytes = b""
    content_type: str = ""
    # Not columns: what the feed said, kept for the extraction fallback.
    feed_content: str = ""
    # Not a column: the outcome of tagging in the cleaning step's worker call
    # (``transforms/tag.py``, ``tag_ahead``; a ``transforms.pooled`` Done or Failed).
    tag_ahead: object | None = None

    def replace(self, **changes) -> Article:
        return dataclasses.replace(self, **changes)

    @property
    def partition_date(self) -> str:
        """``published_date`` partition: publication day (UTC), else the day fetched."""
        moment = self.published_at or self.fetched_at or utc_now()
        return moment.astimezone(UTC).strftime("%Y-%m-%d")


@dataclass
class Failure:
    """One row of the ``failures`` dataset: something that could not be processed."""

    stage: str
    reason: str
    message: str
    url: str
    run_id: str
    source: str = ""
    feed_url: str = ""
    article_id: str = ""
    http_status: int | None = None
    attempts: int = 1
    # What the failure ledger (state/entries.json) remembers the entry by.
    entry_key: str = ""
    failed_at: datetime = field(default_factory=utc_now)

    @property
    def partition_date(self) -> str:
        return self.failed_at.astimezone(UTC).strftime("%Y-%m-%d")
