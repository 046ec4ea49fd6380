"""Record types that flow through the pipeline and the pyarrow schemas they are written with."""

from schemas.records import Article, Failure, FeedEntry, FeedFetch
from schemas.tables import ARTICLES_SCHEMA, FAILURES_SCHEMA, SCHEMA_VERSION

__all__ = [
    "ARTICLES_SCHEMA",
    "FAILURES_SCHEMA",
    "SCHEMA_VERSION",
    "Article",
    "Failure",
    "FeedEntry",
    "FeedFetch",
]
