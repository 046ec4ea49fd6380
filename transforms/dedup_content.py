"""DedupContent: flag (not drop) articles whose normalised text another row already has.

Exact stage: articles sharing a ``content_hash`` form one cluster. The
canonical row is a stored row from an earlier run if there is one (earlier runs
are never rewritten), else the earliest published, then the longest text, then
the smallest article id — the same answer whatever the bundling.
"""

from __future__ import annotations

from datetime import UTC, datetime

import apache_beam as beam
from apache_beam.typehints import Any, Tuple

from schemas.records import Article
from transforms.common import counter
from transforms.stored import StoredArticle

STAGE = "dedup_content"
_LATEST = datetime.max.replace(tzinfo=UTC)


def canonical_order(article: Article) -> tuple:
    return (article.published_at or _LATEST, -article.text_chars, article.article_id)


def flag_exact_duplicates(articles: list[Article], stored: list[StoredArticle]) -> list[Article]:
    """Assign cluster fields to articles that share one content hash."""
    if stored:
        first = min(stored, key=lambda s: (s.published_at_us or 2**62, s.article_id))
        canonical_id, canonical_cluster = first.article_id, first.cluster_id or first.article_id
        flagged = []
        for article in articles:
            flagged.append(
                article.replace(
                    cluster_id=canonical_cluster,
                    is_duplicate=True,
                    is_canonical=False,
                    duplicate_of=canonical_id,
                    duplicate_similarity=1.0,
                )
            )
        return flagged
    ordered = sorted(articles, key=canonical_order)
    canonical = ordered[0]
    result = [
        canonical.replace(cluster_id=canonical.article_id, is_duplicate=False, is_canonical=True)
    ]
    for article in ordered[1:]:
        result.append(
            article.replace(
                cluster_id=canonical.article_id,
                is_duplicate=True,
                is_canonical=False,
                duplicate_of=canonical.article_id,
                duplicate_similarity=1.0,
            )
        )
    return result


class _ClusterFn(beam.DoFn):
    def process(self, element):
        _hash, grouped = element
        articles = list(grouped["articles"])
        if not articles:
            return
        for article in flag_exact_duplicates(articles, list(grouped["stored"])):
            counter(STAGE, "duplicate" if article.is_duplicate else "unique")
            yield article


class DedupContent(beam.PTransform):
    """(articles, stored) → articles with cluster_id / is_duplicate / duplicate_of."""

    def expand(self, inputs):
        articles, stored = inputs
        keyed = articles | "KeyByHash" >> beam.Map(lambda a: (a.content_hash, a)).with_output_types(
            Tuple[str, Any]
        )
        keyed_stored = (
            stored
            | "StoredWithHash" >> beam.Filter(lambda s: bool(s.content_hash))
            | "KeyStoredByHash"
            >> beam.Map(lambda s: (s.content_hash, s)).with_output_types(Tuple[str, Any])
        )
        return (
            {"articles": keyed, "stored": keyed_stored}
            | "GroupByHash" >> beam.CoGroupByKey()
            | "FlagDuplicates" >> beam.ParDo(_ClusterFn())
        )
