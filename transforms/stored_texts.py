"""ReadStoredTexts: rows of earlier runs that take part in near-duplicate clustering.

Partitions (``published_date=YYYY-MM-DD``) within ``lookback_days`` of the
reference day are read with their text, so a copy published today joins a
cluster started last week. Older partitions are read without text (hash only,
when ``exact_history``): an identical copy of an old story still joins it.
The folder is listed and the day computed inside the pipeline, never at graph
construction, so building a Dataflow job touches no storage and a scheduled job
with a fixed launch body still looks back from the day it runs.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from schemas.tables import ARTICLES_PARTITION

HASH_COLUMNS = ["article_id", "content_hash", "cluster_id", "published_at"]
TEXT_COLUMNS = [*HASH_COLUMNS, "text", "source", "is_canonical", "is_duplicate", "duplicate_of"]
_PARTITION = re.compile(rf"{ARTICLES_PARTITION}=(\d{{4}}-\d{{2}}-\d{{2}})")


class StoredText(NamedTuple):
    """One row an earlier run wrote; ``text`` is empty for rows read by hash only."""

    article_id: str
    text: str
    content_hash: str
    cluster_id: str
    is_canonical: bool
    duplicate_of: str
    published_at_us: int  # microseconds since epoch, 0 when unknown
    source: str = ""


def partition_day(path: str) -> date | None:
    found = _PARTITION.search(path)
    return date.fromisoformat(found.group(1)) if found else None


def window_start(reference: date | None, lookback_days: int) -> date:
    today = reference or datetime.now(UTC).date()
    return today - timedelta(days=lookback_days)


def list_stored_files(
    articles_dir: str, lookback_days: int, reference: date | None, exact_history: bool
) -> list[tuple[str, bool]]:
    """(path, read text?) for each Parquet file of the articles dataset worth reading."""
    pattern = FileSystems.join(articles_dir, f"{ARTICLES_PARTITION}=*", "*.parquet")
    try:
        matched = FileSystems.match([pattern])[0].metadata_list
    except Exception:  # a missing folder is a first run, not an error
        return []
    since = window_start(reference, lookback_days)
    chosen = []
    for path in sorted(m.path for m in matched):
        day = partition_day(path)
        in_window = day is not None and day >= since
        if in_window or exact_history:
            chosen.append((path, in_window))
    return chosen


def read_stored_texts(path: str, with_text: bool) -> list[StoredText]:
    """Rows of one file; columns missing from files of older schema versions get defaults.

    An unreadable file gives no rows: ``CheckStoredFiles`` reports and quarantines it.
    """
    try:
        with FileSystems.open(path) as handle:
            parquet = pq.ParquetFile(handle)
            present = set(parquet.schema_arrow.names)
            wanted = TEXT_COLUMNS if with_text else HASH_COLUMNS
            table = parquet.read(columns=[c for c in wanted if c in present])
    except Exception:
        return []

    def column(name: str, default) -> list:
        if name not in table.column_names:
            return [default] * table.num_rows
        if name == "published_at":
            return table.column(name).cast("int64").to_pylist()
        return table.column(name).to_pylist()

    rows = []
    for aid, text, chash, cid, canon, dup, dup_of, pub, source in zip(
        column("article_id", ""),
        column("text", ""),
        column("content_hash", ""),
        column("cluster_id", ""),
        column("is_canonical", None),
        column("is_duplicate", None),
        column("duplicate_of", ""),
        column("published_at", 0),
        column("source", ""),
        strict=True,
    ):
        cluster = cid or aid
        if canon is None:  # schema without is_canonical: infer from the other flags
            canon = not dup if dup is not None else cluster == aid
        rows.append(
            StoredText(
                aid,
                text or "",
                chash or "",
                cluster,
                bool(canon),
                dup_of or "",
                pub or 0,
                source or "",
            )
        )
    return rows


class ReadStoredTexts(beam.PTransform):
    """PCollection of ``StoredText`` from ``articles_dir`` for the look-back window.

    ``reference_date`` (default: the UTC day the pipeline runs) ends the window;
    ``lookback_days`` partitions before it are read with text.
    """

    def __init__(
        self,
        articles_dir: str,
        lookback_days: int = 30,
        reference_date: date | None = None,
        exact_history: bool = True,
    ) -> None:
        super().__init__()
        self.articles_dir = articles_dir
        self.lookback_days = lookback_days
        self.reference_date = reference_date
        self.exact_history = exact_history

    def expand(self, pbegin):
        lookback, reference, exact = self.lookback_days, self.reference_date, self.exact_history
        return (
            pbegin
            | "ArticlesFolder" >> beam.Create([self.articles_dir])
            | "ListWindow" >> beam.FlatMap(list_stored_files, lookback, reference, exact)
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadTexts" >> beam.FlatMapTuple(read_stored_texts)
        )
