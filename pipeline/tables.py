"""Tables analysts hand to ``marsad dedup`` / ``tag`` / ``eval`` and get back.

The format follows the file extension — ``.parquet``/``.pq``, ``.jsonl``/``.ndjson``
(``.json`` is read as JSON Lines), ``.csv`` — and an extension marsad does not know
is an error, never a silent Parquet file named ``.csv``. A folder is read as a
Hive-partitioned Parquet dataset (marsad's own ``articles/``). Files are read and
written through Beam's FileSystems, so ``gs://`` paths work as local ones.
"""

from __future__ import annotations

import json
import os
import tempfile

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from marsad.errors import InputError

READ_FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
}
WRITE_FORMATS = {k: v for k, v in READ_FORMATS.items() if k != ".json"}
_NAMES = ".parquet, .jsonl or .csv"


def _extension(path: str) -> str:
    return os.path.splitext(path.rstrip("/"))[1].lower()


def is_jsonl(path: str) -> bool:
    return READ_FORMATS.get(_extension(path)) == "jsonl"


def input_format(path: str) -> str:
    """``parquet``, ``jsonl``, ``csv`` or ``folder``; anything else is ``format_unsupported``."""
    if ("://" not in path and os.path.isdir(path)) or _is_remote_folder(path):
        return "folder"
    found = READ_FORMATS.get(_extension(path))
    if found is None:
        looks_like = (
            " (a YAML file: a topic definition goes to --topic, a sources file to `marsad run`)"
            if _extension(path) in (".yaml", ".yml")
            else ""
        )
        raise InputError(
            f"input {path} is not a table marsad reads{looks_like}",
            reason="format_unsupported",
            hint=f"give a {_NAMES} file, or a marsad articles/ folder",
        )
    return found


def output_format(path: str) -> str:
    """The format ``write_table`` will use for ``path``; a folder or unknown extension is an error."""
    if "://" not in path and os.path.isdir(path):
        raise InputError(
            f"--output {path} is a folder; a table is written to one file",
            reason="output_is_folder",
            hint=f"name a file ending in {_NAMES}, e.g. {os.path.join(path, 'tagged.parquet')}",
        )
    found = WRITE_FORMATS.get(_extension(path))
    if found is None:
        raise InputError(
            f"--output {path}: cannot tell the format from the extension "
            f"{_extension(path) or '(none)'!r}",
            reason="format_unsupported",
            hint=f"end the file name in {_NAMES}",
        )
    return found


def _exists(path: str) -> None:
    if not FileSystems.exists(path):
        raise InputError(
            f"input {path} does not exist", reason="input_missing", hint="check the path"
        )


def read_rows(path: str) -> list[dict]:
    """Rows of a Parquet, JSONL or CSV file or a Hive-partitioned Parquet folder."""
    kind = input_format(path)
    if kind == "folder":
        return _read_dataset(path).to_pylist()
    _exists(path)
    if kind != "jsonl":
        return _read_file(path, kind).to_pylist()
    with FileSystems.open(path) as handle:
        data = handle.read()
    rows = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"{path} is not UTF-8 text ({error.reason})") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise InputError(f"{path} line {number} is not JSON: {error.msg}") from error
    return rows


def _read_file(path: str, kind: str) -> pa.Table:
    """A Parquet or CSV file as a table; an unreadable one is an ``InputError``."""
    import pyarrow.csv as pcsv

    with FileSystems.open(path) as handle:
        try:
            return pq.read_table(handle) if kind == "parquet" else pcsv.read_csv(handle)
        except pa.ArrowException as error:
            raise InputError(
                f"{path} is not a readable {kind.upper()} file ({error})",
                hint=f"is the extension right? marsad reads {_NAMES} tables",
            ) from None


def read_table(path: str, required: tuple[str, ...] = ("id", "text")) -> pa.Table:
    """The input as a table with ``required`` columns and unique ids.

    A folder is read as a Hive-partitioned Parquet dataset (marsad's own ``articles/``),
    whose ``article_id`` stands in for ``id``.
    """
    kind = input_format(path)
    if kind == "folder":
        table = _read_dataset(path)
    elif kind == "jsonl":
        table = pa.Table.from_pylist(read_rows(path))
    else:
        _exists(path)
        table = _read_file(path, kind)
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
        try:
            return ds.dataset(path, format="parquet", partitioning="hive").to_table()
        except pa.ArrowException as error:
            raise InputError(f"folder {path} is not a Parquet dataset ({error})") from None
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
    """Write ``table`` as Parquet, JSONL or CSV by extension, creating local folders."""
    kind = output_format(path)
    directory = os.path.dirname(path)
    if directory and "://" not in path:
        os.makedirs(directory, exist_ok=True)
    if kind == "csv":
        # DuckDB writes nested columns (lists, structs) as readable text; pyarrow refuses.
        import duckdb

        with tempfile.TemporaryDirectory(prefix="marsad-csv-") as scratch:
            local = os.path.join(scratch, "table.csv")
            connection = duckdb.connect()
            connection.register("result_table", table)
            connection.execute(f"COPY result_table TO '{_sql_path(local)}' (FORMAT csv, HEADER)")
            connection.close()
            with open(local, "rb") as source, FileSystems.create(path) as handle:
                while chunk := source.read(1 << 20):
                    handle.write(chunk)
        return
    with FileSystems.create(path) as handle:
        if kind == "jsonl":
            for row in table.to_pylist():
                line = json.dumps(row, ensure_ascii=False, default=str) + "\n"
                handle.write(line.encode("utf-8"))
        else:
            pq.write_table(table, handle)


def _sql_path(path: str) -> str:
    return path.replace("'", "''")
