"""DuckDB views over one marsad output folder: ``articles``, ``failures`` and ``runs``.

The views read the Hive-partitioned Parquet in place (``hive_partitioning``), so a
``--since`` day prunes whole partitions before any file is opened. Files of older
schema versions are read by column name (``union_by_name``) and a column no file
has yet reads as NULL, so a report works on a corpus written by any marsad version.

``runs`` comes from the JSON manifests in ``runs/``; they are small and their
``counts`` keys vary by version, so they are parsed here rather than by DuckDB's
JSON reader (which would fold every key ever seen into one wide struct).

A query that meets a file renamed away under it (``marsad compact`` swapping a
partition) is run again: compaction never shows a row twice or drops one, but a
reader that listed a partition just before the swap finds its old files gone.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import time
from collections.abc import Iterable
from datetime import date
from typing import Any

import duckdb
import pyarrow as pa

from schemas.tables import (
    ARTICLES_PARTITION,
    ARTICLES_SCHEMA,
    FAILURES_PARTITION,
    FAILURES_SCHEMA,
)

_log = logging.getLogger(__name__)

READ_ATTEMPTS = 8
"""Tries for a query that met a file compaction had just swapped away; the waits
between them double from 0.1 s to 2 s (about 7 s in all), longer than a compaction
of the demo's or the year simulation's partitions keeps swapping."""
_TRANSIENT = ("Cannot open file", "No such file", "No files found")


def dataset_glob(folder: str, dataset: str) -> str:
    return os.path.join(folder, dataset, "*=*", "*.parquet")


def is_transient(error: Exception) -> bool:
    return isinstance(error, duckdb.IOException) and any(m in str(error) for m in _TRANSIENT)


class Corpus:
    """Read-only DuckDB access to one local output folder, limited to days >= ``since``."""

    def __init__(self, folder: str, since: date | None = None) -> None:
        self.folder = folder
        self.since = since
        self.con = duckdb.connect(":memory:")
        self._view("articles", ARTICLES_SCHEMA, ARTICLES_PARTITION)
        self._view("failures", FAILURES_SCHEMA, FAILURES_PARTITION)
        self.runs = read_run_manifests(os.path.join(folder, "runs"), since)

    def _view(self, dataset: str, schema: pa.Schema, partition: str) -> None:
        pattern = dataset_glob(self.folder, dataset)
        empty = pa.schema([*schema, pa.field(partition, pa.date32())]).empty_table()
        self.con.register(f"_{dataset}_empty", empty)
        source = f"_{dataset}_empty"
        if glob.glob(pattern):
            source = (
                f"read_parquet({_quote(pattern)}, hive_partitioning = true, union_by_name = true)"
            )
        present = {
            row[0]
            for row in self._retrying(
                lambda: self.con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
            )
        }
        columns = [
            _ident(name) if name in present else f"NULL AS {_ident(name)}"
            for name in [*schema.names, partition]
        ]
        where = (
            f"WHERE {_ident(partition)} >= DATE '{self.since.isoformat()}'" if self.since else ""
        )
        # Binding reads every file's schema (union_by_name): a swap can bite here too.
        self._retrying(
            lambda: self.con.execute(
                f"CREATE OR REPLACE VIEW {dataset} AS SELECT {', '.join(columns)} FROM {source} {where}"
            )
        )

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Rows of ``sql`` as dicts (column name → value)."""

        def run() -> list[dict[str, Any]]:
            cursor = self.con.execute(sql, list(params))
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        return self._retrying(run)

    def scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        return self._retrying(lambda: self.con.execute(sql, list(params)).fetchone()[0])

    @staticmethod
    def _retrying(query):
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                return query()
            except duckdb.Error as error:
                if not is_transient(error) or attempt == READ_ATTEMPTS:
                    raise
                _log.info("a file was swapped away during the query (%s); reading again", error)
                time.sleep(min(0.1 * 2 ** (attempt - 1), 2.0))
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.con.close()


def read_run_manifests(folder: str, since: date | None) -> list[dict[str, Any]]:
    """Run manifests (``runs/*.json``), oldest first; unreadable ones are skipped with a warning."""
    manifests = []
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        try:
            with open(path, encoding="utf-8") as handle:
                manifest = json.load(handle)
        except (OSError, ValueError) as error:
            _log.warning("run manifest %s is unreadable (%s); left out of the report", path, error)
            continue
        if not isinstance(manifest, dict):
            continue
        started = str(manifest.get("started_at") or manifest.get("committed_at") or "")
        if since and started[:10] and started[:10] < since.isoformat():
            continue
        manifests.append(manifest)
    manifests.sort(key=lambda m: str(m.get("started_at") or m.get("committed_at") or ""))
    return manifests


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
