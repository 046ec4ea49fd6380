"""Tables analysts hand to ``marsad dedup`` / ``tag`` / ``eval``: Parquet or JSONL by extension.

Read and written through Beam's FileSystems, so ``gs://`` paths work as local ones.
"""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from marsad.errors import InputError


def is_jsonl(path: str) -> bool:
    return path.lower().endswith((".jsonl", ".ndjson", ".json"))


def read_rows(path: str) -> list[dict]:
    """Rows of a Parquet or JSONL file or a Hive-partitioned Parquet folder."""
    if os.path.isdir(path) or _is_remote_folder(path):
        return _read_dataset(path).to_pylist()
    if not FileSystems.exists(path):
        raise InputError(f"input {path} does not exist")
    with FileSystems.open(path) as handle:
        if not is_jsonl(path):
            return pq.read_table(handle).to_pylist()
        rows = []
        for number, line in enumerate(handle.read().decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise InputError(f"{path} line {number} is not JSON: {error.msg}") from error
    return rows


def read_table(path: str, required: tuple[str, ...] = ("id", "text")) -> pa.Table:
    """The input as a table with ``required`` columns and unique ids.

    A folder is read as a Hive-partitioned Parquet dataset (marsad's own ``articles/``),
    whose ``article_id`` stands in for ``id``.
    """
    if os.path.isdir(path) or _is_remote_folder(path):
        table = _read_dataset(path)
    elif is_jsonl(path):
        rows = read_rows(path)
        table = pa.Table.from_pylist(rows)
    else:
        if not FileSystems.exists(path):
            raise InputError(f"input {path} does not exist")
        with FileSystems.open(path) as handle:
            table = pq.read_table(handle)
    if "id" not in table.column_names and "article_id" in table.column_names:
        table = table.append_column("id", table.column("article_id"))
    missing = [name for name in required if name not in table.column_names]
    if missing:
        raise InputError(
            f"{path} lacks column(s) {', '.join(missing)}; have {', '.join(table.column_names)}"
        )
    if "id" in required:
        ids = [str(value) for value in table.column("id").to_pylist()]
        seen: set[str] = set()
        for value in ids:
            if value in seen:
                raise InputError(f"{path}: ids must be unique; {value!r} appears more than once")
            seen.add(value)
    return table


def _is_remote_folder(path: str) -> bool:
    """A ``gs://``-style prefix with Parquet objects under it (object stores have no folders)."""
    if "://" not in path or path.endswith(".parquet") or is_jsonl(path):
        return False
    return bool(_remote_parquet_files(path))


def _remote_parquet_files(path: str) -> list[str]:
    pattern = path.rstrip("/") + "/**"
    matched = FileSystems.match([pattern])[0].metadata_list
    return sorted(m.path for m in matched if m.path.endswith(".parquet"))


def _read_dataset(path: str) -> pa.Table:
    """A Hive-partitioned Parquet folder: local through pyarrow, remote through FileSystems."""
    if "://" not in path:
        return ds.dataset(path, format="parquet", partitioning="hive").to_table()
    root = path.rstrip("/") + "/"
    tables = []
    for file_path in _remote_parquet_files(path):
        with FileSystems.open(file_path) as handle:
            table = pq.read_table(handle)
        for part in file_path[len(root) :].split("/")[:-1]:
            column, equals, value = part.partition("=")
            if equals and column not in table.column_names:
                table = table.append_column(column, pa.array([value] * table.num_rows))
        tables.append(table)
    if not tables:
        raise InputError(f"input {path} holds no Parquet files")
    return pa.concat_tables(tables, promote_options="default")


def write_table(table: pa.Table, path: str) -> None:
    """Write ``table`` as Parquet or JSONL (by extension), creating local folders."""
    directory = os.path.dirname(path)
    if directory and "://" not in path:
        os.makedirs(directory, exist_ok=True)
    with FileSystems.create(path) as handle:
        if is_jsonl(path):
            for row in table.to_pylist():
                line = json.dumps(row, ensure_ascii=False, default=str) + "\n"
                handle.write(line.encode("utf-8"))
        else:
            pq.write_table(table, handle)
