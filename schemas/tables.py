"""pyarrow schemas of the written datasets, each field with a description.

The schema version is stored in the Parquet metadata (``marsad.schema_version``);
bump it when a field changes meaning or type. Partition columns
(``published_date``, ``failed_date``) live in folder names only: storing them in
the files too breaks ``read_table(partitioning='hive')`` (BEAM_NOTES).
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

SCHEMA_VERSION = "2"

_TS = pa.timestamp("us", tz="UTC")
_TERM = pa.struct(
    [
        ("term", pa.string()),
        ("concept", pa.string()),
        ("count", pa.int32()),
        ("weight", pa.float32()),
    ]
)
_ENTITY = pa.struct([("type", pa.string()), ("name", pa.string()), ("mentions", pa.int32())])

ARTICLE_FIELDS: list[tuple[str, pa.DataType, str]] = [
    ("article_id", pa.string(), "Stable id: 'a_' + 16 hex of SHA-256 of canonical_url."),
    ("url", pa.string(), "Link as the feed gave it, resolved against the feed URL."),
    (
        "canonical_url",
        pa.string(),
        "Normalised URL (no tracking params/fragment) the id derives from.",
    ),
    ("final_url", pa.string(), "URL after HTTP redirects."),
    ("source", pa.string(), "Outlet name from the sources file."),
    ("source_country", pa.string(), "Outlet country (ISO 3166-1 alpha-2) from the sources file."),
    (
        "source_tags",
        pa.list_(pa.string()),
        "Outlet tags from the sources file (YAML tags, OPML category); empty when none.",
    ),
    ("feed_url", pa.string(), "Feed the article was first listed in."),
    ("also_listed_in", pa.list_(pa.string()), "Other feeds of this run that listed the same URL."),
    ("title", pa.string(), "Headline: page metadata, else the feed's title."),
    ("summary", pa.string(), "Teaser from the feed, HTML stripped."),
    ("text", pa.string(), "Article body as extracted (not normalised)."),
    (
        "language",
        pa.string(),
        "Language detected from the text: ISO 639-1 where one exists (ar, fa, ur, tr, en), "
        "else ISO 639-3 (ckb Central Kurdish/Sorani, kmr Northern Kurdish/Kurmanji); "
        "NULL when the detector is unsure.",
    ),
    ("declared_language", pa.string(), "Language the page or sources file declares."),
    ("authors", pa.list_(pa.string()), "Authors from the page, else from the feed."),
    ("sitename", pa.string(), "Site name from page metadata."),
    ("published_at", _TS, "Publication time (UTC)."),
    ("published_from", pa.string(), "Where published_at came from: feed, page or fetched."),
    ("updated_at", _TS, "Last update time given by the feed (UTC)."),
    ("fetched_at", _TS, "When marsad fetched the page (UTC)."),
    ("http_status", pa.int32(), "HTTP status of the final article response."),
    ("encoding", pa.string(), "Character encoding used to decode the page (Python codec name)."),
    (
        "encoding_source",
        pa.string(),
        "Where the encoding came from: bom, http (Content-Type), xml (XML declaration), "
        "meta (<meta charset>), detected (bytes analysed: no declaration decoded cleanly).",
    ),
    (
        "extraction_method",
        pa.string(),
        "What produced text: trafilatura, feed_content or feed_summary.",
    ),
    ("text_chars", pa.int32(), "Length of text in characters."),
    (
        "text_truncated",
        pa.bool_(),
        "True when the extracted text was longer than --max_text_chars and was cut there.",
    ),
    ("content_hash", pa.string(), "SHA-256 (32 hex) of the matching-normalised text."),
    ("cluster_id", pa.string(), "Duplicate cluster: article_id of the cluster's canonical row."),
    (
        "is_duplicate",
        pa.bool_(),
        "True when another row (this run or earlier) is the canonical copy.",
    ),
    (
        "is_canonical",
        pa.bool_(),
        "True for the one row that represents its cluster (not is_duplicate).",
    ),
    ("duplicate_of", pa.string(), "article_id of the canonical copy when is_duplicate."),
    ("duplicate_similarity", pa.float64(), "Similarity to the canonical copy (1.0 for exact)."),
    ("topic_score", pa.float64(), "Relevance to the Iraq troop-withdrawal story in [0, 1]."),
    ("is_relevant", pa.bool_(), "topic_score at or above the topic's threshold."),
    ("subtopics", pa.list_(pa.string()), "Subtopics of the story the article touches."),
    (
        "matched_terms",
        pa.list_(_TERM),
        "Topic terms found: concept, count, and weight (the log-odds the term added; "
        "largest first).",
    ),
    ("entities", pa.list_(_ENTITY), "Named entities from the topic gazetteer."),
    ("run_id", pa.string(), "Run that wrote the row."),
]

FAILURE_FIELDS: list[tuple[str, pa.DataType, str]] = [
    ("stage", pa.string(), "Pipeline stage that failed: fetch_feeds, parse_feeds, ..."),
    ("reason", pa.string(), "Short reason code: http_404, timeout, feed_malformed, ..."),
    ("message", pa.string(), "What went wrong, in words a user can act on."),
    ("url", pa.string(), "URL being processed."),
    ("source", pa.string(), "Outlet name."),
    ("feed_url", pa.string(), "Feed the URL came from."),
    ("article_id", pa.string(), "Article id when known."),
    ("http_status", pa.int32(), "HTTP status when the failure is an HTTP response."),
    ("attempts", pa.int32(), "How many attempts were made (within the run, or across runs)."),
    (
        "entry_key",
        pa.string(),
        "Key of the feed entry (or 'feed:' + feed URL) in the failure ledger "
        "state/entries.json; empty for failures not tied to one entry.",
    ),
    ("failed_at", _TS, "When the failure happened (UTC)."),
    ("run_id", pa.string(), "Run that recorded the failure."),
]


def _schema(fields: list[tuple[str, pa.DataType, str]], dataset: str) -> pa.Schema:
    return pa.schema(
        [pa.field(name, dtype, metadata={"description": doc}) for name, dtype, doc in fields],
        metadata={"marsad.dataset": dataset, "marsad.schema_version": SCHEMA_VERSION},
    )


ARTICLES_SCHEMA = _schema(ARTICLE_FIELDS, "articles")
FAILURES_SCHEMA = _schema(FAILURE_FIELDS, "failures")
ARTICLES_PARTITION = "published_date"
FAILURES_PARTITION = "failed_date"


def to_table(records: Iterable[object], schema: pa.Schema) -> pa.Table:
    """Build a table from dataclass records, keeping only (and all of) the schema's columns.

    Records use ``""`` for a string nobody filled in; the datasets say NULL, so that
    ``duplicate_of IS NULL`` means the same in every path (run, stream, dedup, tag).
    """
    # Fields are read directly: ``dataclasses.asdict`` deep-copies every value of every
    # row (the text, term lists), a third of the write stage's time.
    rows = list(records)
    strings = {field.name for field in schema if pa.types.is_string(field.type)}
    columns = {}
    for name in schema.names:
        values = [getattr(row, name, None) for row in rows]
        columns[name] = [None if v == "" else v for v in values] if name in strings else values
    return pa.Table.from_pydict(columns, schema=schema)


def describe(schema: pa.Schema) -> list[tuple[str, str, str]]:
    """(name, type, description) per field, for docs and ``marsad schema``."""
    return [
        (f.name, str(f.type), (f.metadata or {}).get(b"description", b"").decode()) for f in schema
    ]
