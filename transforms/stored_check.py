"""CheckStoredFiles: find unreadable Parquet files in ``articles/`` and quarantine them.

A zero-byte, truncated or corrupt file (a disk that filled up under another tool,
a copy cut short) would otherwise stop every later run at the first read. Each
such file becomes a failure row (stage ``read_stored``, reason ``corrupt_file``)
and a move into ``_quarantine/<run_id>/`` made by the run's commit; the run goes
on without its rows, and the driver prints a warning naming the file. The commit
also drops the feed state, so the next run lists every feed in full and stores
the lost articles again, once (their ids are no longer in articles/).
"""

from __future__ import annotations

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from schemas.records import Failure
from schemas.tables import ARTICLES_PARTITION
from transforms.common import counter

STAGE = "read_stored"


def quarantine_path(output: str, run_id: str, path: str) -> str:
    relative = (
        path[len(output) :].lstrip("/") if path.startswith(output) else path.rsplit("/", 1)[-1]
    )
    return FileSystems.join(output, "_quarantine", run_id, *relative.split("/"))


def list_article_files(articles_dir: str) -> list[str]:
    pattern = FileSystems.join(articles_dir, f"{ARTICLES_PARTITION}=*", "*.parquet")
    try:
        return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except Exception:  # no articles yet
        return []


def unreadable_reason(path: str) -> str | None:
    """Why ``path`` cannot be read as the articles dataset needs, or None when it can."""
    try:
        with FileSystems.open(path) as handle:
            pq.ParquetFile(handle).read(columns=["article_id"])
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc)[:300]}"
    return None


class _CheckFn(beam.DoFn):
    def __init__(self, output: str, run_id: str) -> None:
        self.output = output
        self.run_id = run_id

    def process(self, path: str):
        reason = unreadable_reason(path)
        if reason is None:
            return
        destination = quarantine_path(self.output, self.run_id, path)
        counter(STAGE, "failed.corrupt_file")
        yield beam.pvalue.TaggedOutput("moves", (path, destination))
        yield Failure(
            stage=STAGE,
            reason="corrupt_file",
            message=f"{path} is not a readable Parquet file ({reason}); moved to {destination}. "
            "Its rows took no part in deduplication this run. Restore the file from a backup "
            "into articles/ or delete it from _quarantine/.",
            url=path,
            run_id=self.run_id,
        )


class CheckStoredFiles(beam.PTransform):
    """→ (failure rows, (path, quarantine path) moves) for unreadable article files."""

    def __init__(self, output: str, run_id: str) -> None:
        super().__init__()
        self.output = output
        self.run_id = run_id

    def expand(self, pbegin):
        articles = FileSystems.join(self.output, "articles")
        result = (
            pbegin
            | "ArticlesFolder" >> beam.Create([articles])
            | "ListFiles" >> beam.FlatMap(list_article_files)
            | "Spread" >> beam.Reshuffle()
            | "Check"
            >> beam.ParDo(_CheckFn(self.output, self.run_id)).with_outputs("moves", main="failures")
        )
        return result.failures, result.moves
