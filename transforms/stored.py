"""ReadStoredArticles: what earlier runs wrote to this output, for incremental runs.

Listing happens inside the pipeline (not at graph construction) so building a
Dataflow job never touches Cloud Storage.
"""

from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from schemas.tables import ARTICLES_PARTITION


class StoredArticle(NamedTuple):
    article_id: str
    content_hash: str
    cluster_id: str
    published_at_us: int  # microseconds since epoch, 0 when unknown


STORED_COLUMNS = ["article_id", "content_hash", "cluster_id", "published_at"]


def list_article_files(articles_dir: str) -> list[str]:
    pattern = FileSystems.join(articles_dir, f"{ARTICLES_PARTITION}=*", "*.parquet")
    try:
        matched = FileSystems.match([pattern])[0].metadata_list
    except Exception:  # a missing folder is a first run, not an error
        return []
    return sorted(m.path for m in matched)


def read_stored(path: str) -> list[StoredArticle]:
    with FileSystems.open(path) as handle:
        table = pq.read_table(handle, columns=STORED_COLUMNS)
    published = table.column("published_at").cast("int64").to_pylist()
    return [
        StoredArticle(aid, chash or "", cid or aid, pub or 0)
        for aid, chash, cid, pub in zip(
            table.column("article_id").to_pylist(),
            table.column("content_hash").to_pylist(),
            table.column("cluster_id").to_pylist(),
            published,
            strict=True,
        )
    ]


class ReadStoredArticles(beam.PTransform):
    """PCollection of ``StoredArticle`` for every row already in ``articles_dir``."""

    def __init__(self, articles_dir: str) -> None:
        super().__init__()
        self.articles_dir = articles_dir

    def expand(self, pbegin):
        return (
            pbegin
            | "ArticlesFolder" >> beam.Create([self.articles_dir])
            | "ListFiles" >> beam.FlatMap(list_article_files)
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadIds" >> beam.FlatMap(read_stored)
        )
