"""``marsad export``: one dataset of an output folder as a single CSV, JSONL or Parquet file.

    marsad export OUTPUT FILE [--format csv|jsonl|parquet] [--dataset articles|failures]
                  [--where SQL] [--columns a,b,c]

DuckDB reads the Hive-partitioned Parquet files (the partition column, e.g.
``published_date``, becomes a column again; files of older schema versions are
unioned by column name) and writes FILE with ``COPY``: lists and structs become
JSON-like text in CSV, stay nested in JSONL and Parquet. ``--where`` is a DuckDB
SQL condition over the columns ``marsad schema`` lists. A remote output
(``gs://...``) is first copied to a temporary local folder through Beam's
FileSystems; FILE is written next to its final name and renamed into place, so a
failed export never leaves half a file behind.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile

from marsad.errors import InputError
from schemas.tables import ARTICLES_PARTITION, ARTICLES_SCHEMA, FAILURES_PARTITION, FAILURES_SCHEMA

FORMATS = {"csv": "csv", "jsonl": "json", "parquet": "parquet"}
EXTENSIONS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
DATASETS = {
    "articles": (ARTICLES_SCHEMA, ARTICLES_PARTITION),
    "failures": (FAILURES_SCHEMA, FAILURES_PARTITION),
}


def add_export_parser(commands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "export",
        help="Write a dataset of an output folder to one CSV, JSONL or Parquet file (DuckDB).",
        description="Read OUTPUT/articles (or failures) with DuckDB and write the rows, "
        "optionally filtered with --where, to FILE. The format follows FILE's extension "
        "unless --format names it.",
        epilog='example:\n  marsad export out/ relevant.csv --where "is_relevant AND NOT '
        "is_duplicate AND published_date >= '2024-01-01'\"",
    )
    parser.add_argument(
        "output", metavar="OUTPUT", help="A marsad output folder (--output of run)."
    )
    parser.add_argument("file", metavar="FILE", help="The file to write (.csv, .jsonl, .parquet).")
    parser.add_argument(
        "--format", choices=sorted(FORMATS), help="File format (default: from FILE's extension)."
    )
    parser.add_argument(
        "--dataset", choices=sorted(DATASETS), default="articles", help="Default: articles."
    )
    parser.add_argument(
        "--where",
        help="DuckDB SQL condition on the rows, e.g. \"is_relevant AND source = 'Shafaq News'\".",
    )
    parser.add_argument(
        "--columns",
        help="Comma-separated columns to keep, in this order (default: all; see `marsad schema`).",
    )
    return parser


def export_format(path: str, given: str | None) -> str:
    if given:
        return given
    extension = os.path.splitext(path)[1].lower()
    if extension not in EXTENSIONS:
        raise InputError(
            f"cannot tell the format of {path} from its extension {extension or '(none)'!r}",
            reason="format_unsupported",
            hint="end FILE in .csv, .jsonl or .parquet, or pass --format",
        )
    return EXTENSIONS[extension]


def _local_dataset(output: str, dataset: str, scratch: str) -> str:
    """A local folder holding the dataset: the output's own, or a copy of a remote one."""
    from apache_beam.io.filesystems import FileSystems

    if "://" not in output:
        if not os.path.isdir(output):
            raise InputError(
                f"output folder {output} does not exist",
                reason="input_missing",
                hint="give the folder a `marsad run --output` wrote to",
            )
        return os.path.join(output, dataset)
    root = FileSystems.join(output, dataset)
    target = os.path.join(scratch, dataset)
    for match in FileSystems.match([FileSystems.join(root, "*", "*.parquet")])[0].metadata_list:
        relative = match.path[len(root) :].lstrip("/")
        local = os.path.join(target, relative)
        os.makedirs(os.path.dirname(local), exist_ok=True)
        with FileSystems.open(match.path) as source, open(local, "wb") as sink:
            shutil.copyfileobj(source, sink)
    return target


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def export(
    output: str,
    file: str,
    *,
    fmt: str | None = None,
    dataset: str = "articles",
    where: str | None = None,
    columns: str | None = None,
) -> int:
    """Write the rows; returns how many were written."""
    import duckdb
    import pyarrow as pa

    kind = export_format(file, fmt)
    if "://" not in file and os.path.isdir(file):
        raise InputError(
            f"FILE {file} is a folder",
            reason="output_is_folder",
            hint=f"name a file, e.g. {os.path.join(file, 'articles.' + kind)}",
        )
    schema, partition = DATASETS[dataset]
    with tempfile.TemporaryDirectory(prefix="marsad-export-") as scratch:
        folder = _local_dataset(output, dataset, scratch)
        connection = duckdb.connect()
        files = os.path.join(folder, "*", "*.parquet")
        has_files = os.path.isdir(folder) and any(
            name.endswith(".parquet") for _root, _dirs, names in os.walk(folder) for name in names
        )
        if has_files:
            source = (
                f"read_parquet({_quote(files)}, hive_partitioning = true, union_by_name = true)"
            )
        else:  # an output with no rows yet: the declared columns, no rows
            empty = schema.empty_table().append_column(partition, pa.array([], pa.string()))
            connection.register("empty_dataset", empty)
            source = "empty_dataset"
        select = "*"
        if columns:
            names = [name.strip() for name in columns.split(",") if name.strip()]
            select = ", ".join('"' + name.replace('"', '""') + '"' for name in names)
        query = f"SELECT {select} FROM {source}" + (f" WHERE {where}" if where else "")
        local_file = file if "://" not in file else os.path.join(scratch, os.path.basename(file))
        partial = local_file + ".partial"
        options = "FORMAT csv, HEADER" if kind == "csv" else f"FORMAT {FORMATS[kind]}"
        try:
            count = connection.execute(
                f"COPY ({query}) TO {_quote(partial)} ({options})"
            ).fetchone()[0]
        except duckdb.Error as error:
            if os.path.exists(partial):
                os.remove(partial)
            first_line = str(error).strip().splitlines()[0]
            raise InputError(
                f"the query failed: {first_line}",
                reason="query_invalid",
                hint=f"check --where/--columns against the columns of `marsad schema {dataset}`"
                f" (plus {partition})",
            ) from None
        finally:
            connection.close()
        os.replace(partial, local_file)
        if local_file != file:
            from apache_beam.io.filesystems import FileSystems

            with open(local_file, "rb") as source_file, FileSystems.create(file) as sink:
                shutil.copyfileobj(source_file, sink)
    return int(count)


def run_export(args: argparse.Namespace) -> int:
    directory = os.path.dirname(args.file)
    if directory and "://" not in args.file and not os.path.isdir(directory):
        raise InputError(
            f"the folder of FILE ({directory}) does not exist",
            reason="input_missing",
            hint="create it first, or write FILE elsewhere",
        )
    count = export(
        args.output,
        args.file,
        fmt=args.format,
        dataset=args.dataset,
        where=args.where,
        columns=args.columns,
    )
    if not args.quiet:
        print(f"exported {count} {args.dataset} rows to {args.file}")
    return 0
