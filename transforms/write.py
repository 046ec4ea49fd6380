"""WriteDataset: records → Hive-partitioned Parquet, staged for the run's commit.

Each (partition, shard) becomes one file ``<dataset>/<column>=<value>/part-<run_id>-<shard>.parquet``.
During the run the file is written (temp name, then rename) under
``<output>/_tmp/<run_id>/<dataset>/...``; the step emits (staged, final) pairs and
``CommitRun`` moves them into the dataset, journaled, once every dataset of the run
is complete (``transforms/commit.py``). So a run that dies leaves nothing visible
in the dataset folders, not even the files of the stages that had finished.
Partition folders are created before each rename: on the local filesystem a
rename into a missing folder fails (BEAM_NOTES). File names carry the run id, so
runs never overwrite each other.
"""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Callable, Iterable
from operator import itemgetter

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.typehints import Any, Tuple

from schemas.tables import to_table
from transforms.common import counter, ensure_folder


def tmp_dir(output: str, run_id: str) -> str:
    return FileSystems.join(output, "_tmp", run_id)


def _shard_of(key: str, shards: int) -> int:
    return zlib.crc32(key.encode("utf-8")) % shards


# Rows converted to Arrow at a time: a file's Arrow memory is bounded by one group's,
# not by the partition's.
ROWS_PER_GROUP = 1000


def partition_key(record: Any, shards: int) -> tuple[str, int]:
    """(partition, shard) of a record: its file within the run."""
    identity = getattr(record, "article_id", "") or getattr(record, "url", "")
    return record.partition_date, _shard_of(identity, shards)


def pack(record: Any) -> tuple[tuple, bytes]:
    """A record as it crosses the partition's GroupByKey: its sort key and its pickle.

    Beam's local runner decodes every grouped value into its grouping table and the
    worker decodes the group again, so a partition of records would be held twice as
    Python objects (several times the size of their pickles) while its file is
    written. As compressed bytes they are held at a fraction of their pickled size
    (zlib's fastest level: about half for news text, ~0.1 ms per article), and each row
    group is unpickled just before it becomes Arrow (docs/performance.md, fifth
    round)."""
    payload = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
    return _record_key(record), zlib.compress(payload, 1)


# What KeyByPartition emits (batch and windowed writes): the file, then the packed record.
KEYED_FOR_WRITE = Tuple[Tuple[str, int], Tuple[Any, bytes]]


def keyed_for_write(record: Any, shards: int) -> tuple[tuple[str, int], tuple[tuple, bytes]]:
    """A record keyed by its file (:func:`partition_key`) and packed (:func:`pack`)."""
    return partition_key(record, shards), pack(record)


def write_parquet_file(
    records: Iterable[Any],
    schema: pa.Schema,
    final_path: str,
    temp_path: str,
    sort_key: Callable[[Any], Any] | None = None,
) -> int:
    """Write records to ``temp_path`` then rename to ``final_path``; return row count."""
    records = sorted(records, key=sort_key) if sort_key is not None else list(records)
    groups = (
        records[start : start + ROWS_PER_GROUP] for start in range(0, len(records), ROWS_PER_GROUP)
    )
    return _write_groups(groups, schema, final_path, temp_path)


def write_packed_file(
    packed: Iterable[tuple[tuple, bytes]], schema: pa.Schema, final_path: str, temp_path: str
) -> int:
    """:func:`write_parquet_file` for records made by :func:`pack`: sorted by their
    keys, unpickled one row group at a time."""
    ordered = sorted(packed, key=itemgetter(0))
    groups = (
        [
            pickle.loads(zlib.decompress(payload))
            for _, payload in ordered[start : start + ROWS_PER_GROUP]
        ]
        for start in range(0, len(ordered), ROWS_PER_GROUP)
    )
    return _write_groups(groups, schema, final_path, temp_path)


def _write_groups(
    groups: Iterable[list[Any]], schema: pa.Schema, final_path: str, temp_path: str
) -> int:
    """Each group of records converted and compressed as one row group before the next
    is built; no group at all still makes a readable file with the schema."""
    rows = 0
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        for group in groups:
            writer.write_table(to_table(group, schema))
            rows += len(group)
        if not rows:
            writer.write_table(to_table([], schema))
    for folder in (final_path.rsplit("/", 1)[0], temp_path.rsplit("/", 1)[0]):
        ensure_folder(folder)
    try:
        with FileSystems.create(temp_path) as handle:
            handle.write(sink.getvalue().to_pybytes())
    except OSError as exc:  # name the file: "no space left" alone does not say where
        raise OSError(exc.errno, exc.strerror, exc.filename or temp_path) from exc
    if FileSystems.exists(final_path):
        FileSystems.delete([final_path])  # a retried bundle: same rows, same name
    FileSystems.rename([temp_path], [final_path])
    return rows


class _WriteGroupFn(beam.DoFn):
    def __init__(self, dataset: str, output: str, run_id: str, schema: pa.Schema, column: str):
        self.dataset = dataset
        self.output = output
        self.run_id = run_id
        self.schema = schema
        self.column = column

    def process(self, element):
        (partition, shard), records = element
        name = f"part-{self.run_id}-{shard:05d}.parquet"
        relative = f"{self.dataset}/{self.column}={partition}/{name}"
        final_path = FileSystems.join(self.output, *relative.split("/"))
        staging = tmp_dir(self.output, self.run_id)
        staged_path = FileSystems.join(staging, "staged", *relative.split("/"))
        temp_path = FileSystems.join(staging, "writing", f"{self.dataset}-{partition}-{name}")
        rows = write_packed_file(records, self.schema, staged_path, temp_path)
        for _ in range(rows):
            counter(f"write_{self.dataset}", "rows")
        counter(f"write_{self.dataset}", "files")
        yield (staged_path, final_path)


def _record_key(record: Any) -> tuple:
    return (
        getattr(record, "article_id", ""),
        getattr(record, "stage", ""),
        getattr(record, "url", ""),
    )


class WriteDataset(beam.PTransform):
    """Stage records of one dataset, partitioned by ``record.partition_date``.

    Returns (staged path, final path) pairs for ``CommitRun``.
    """

    def __init__(
        self,
        dataset: str,
        output: str,
        run_id: str,
        schema: pa.Schema,
        partition_column: str,
        shards_per_partition: int = 1,
    ) -> None:
        super().__init__()
        self.dataset = dataset
        self.output = output
        self.run_id = run_id
        self.schema = schema
        self.partition_column = partition_column
        self.shards = shards_per_partition

    def expand(self, records):
        return (
            records
            | "KeyByPartition"
            >> beam.Map(keyed_for_write, self.shards).with_output_types(KEYED_FOR_WRITE)
            | "GroupByPartition" >> beam.GroupByKey()
            | "WriteFiles"
            >> beam.ParDo(
                _WriteGroupFn(
                    self.dataset, self.output, self.run_id, self.schema, self.partition_column
                )
            )
        )
