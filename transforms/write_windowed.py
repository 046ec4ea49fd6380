"""WriteWindowed: streaming output, one set of Parquet files per window, pane and partition.

Elements are windowed into fixed windows of *poll time* (the timestamp every
record inherits from the poll that found it), so an item published hours ago but
first seen now is on time, never late: it lands in its ``published_date``
partition in a file named for the window that wrote it. Records that still come
behind the watermark (a slow worker, a replay) fire a late pane with its own file
name instead of being dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms import trigger, window
from apache_beam.utils.timestamp import Duration

from transforms.common import counter
from transforms.write import KEYED_FOR_WRITE, keyed_for_write, tmp_dir, write_packed_file

LATE_DATA_HORIZON = Duration(seconds=30 * 24 * 3600)


def window_label(start) -> str:
    return datetime.fromtimestamp(float(start), UTC).strftime("%Y%m%dT%H%M%SZ")


class _WriteWindowFn(beam.DoFn):
    def __init__(self, dataset: str, output: str, run_id: str, schema: pa.Schema, column: str):
        self.dataset = dataset
        self.output = output
        self.run_id = run_id
        self.schema = schema
        self.column = column

    def process(self, element, win=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam):
        (partition, shard), records = element
        name = f"part-{self.run_id}-w{window_label(win.start)}-p{pane.index}-{shard:05d}.parquet"
        final_path = FileSystems.join(self.output, self.dataset, f"{self.column}={partition}", name)
        temp_path = FileSystems.join(
            tmp_dir(self.output, self.run_id), f"{self.dataset}-{partition}-{name}"
        )
        rows = write_packed_file(records, self.schema, final_path, temp_path)
        for _ in range(rows):
            counter(f"write_{self.dataset}", "rows")
        counter(f"write_{self.dataset}", "files")
        yield final_path


class WriteWindowed(beam.PTransform):
    def __init__(
        self,
        dataset: str,
        output: str,
        run_id: str,
        schema: pa.Schema,
        partition_column: str,
        window_seconds: float,
        shards_per_partition: int = 1,
    ) -> None:
        super().__init__()
        self.dataset = dataset
        self.output = output
        self.run_id = run_id
        self.schema = schema
        self.partition_column = partition_column
        self.window_seconds = window_seconds
        self.shards = shards_per_partition

    def expand(self, records):
        return (
            records
            | "Window"
            >> beam.WindowInto(
                window.FixedWindows(self.window_seconds),
                trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
                accumulation_mode=trigger.AccumulationMode.DISCARDING,
                allowed_lateness=LATE_DATA_HORIZON,
            )
            | "KeyByPartition"
            >> beam.Map(keyed_for_write, self.shards).with_output_types(KEYED_FOR_WRITE)
            | "GroupByPartition" >> beam.GroupByKey()
            | "WriteFiles"
            >> beam.ParDo(
                _WriteWindowFn(
                    self.dataset, self.output, self.run_id, self.schema, self.partition_column
                )
            )
        )
