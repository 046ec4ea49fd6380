"""``marsad report OUTPUT [--since DATE] [--out FILE]``: the analyst's HTML view of an output.

DuckDB reads local folders. An output on another Beam filesystem (``gs://``) is
first copied, partitions since ``--since`` only, into a temporary folder through
``FileSystems``; the report itself is written through ``FileSystems`` as well,
so ``--out gs://bucket/report.html`` works where Beam can write.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from datetime import date

from apache_beam.io.filesystems import FileSystems

from marsad.ages import parse_since
from marsad.errors import InputError
from schemas.tables import ARTICLES_PARTITION, FAILURES_PARTITION

REPORT_NAME = "report.html"
_PARTITIONED = {"articles": ARTICLES_PARTITION, "failures": FAILURES_PARTITION}


def add_report_parser(commands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "report",
        help="Write a self-contained HTML report (charts and tables) of an output folder.",
        description="Articles per day by outlet, relevance over time, languages and countries, "
        "top outlets, the largest syndication clusters, the most relevant recent articles, "
        "failures per outlet over time and every run's counts and timings, in one HTML file "
        "that opens in a browser without a network.",
    )
    parser.add_argument("output", metavar="OUTPUT", help="marsad output folder (local or gs://).")
    parser.add_argument(
        "--since",
        help="First publication day to include: YYYY-MM-DD, or an age back from today such as "
        "30d, 12w, 1y (default: all days). Failures and runs are limited to the same days.",
    )
    parser.add_argument(
        "--out", help=f"Where to write the HTML (default OUTPUT/{REPORT_NAME}). Local or gs://."
    )
    return parser


def _is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def _local_path(path: str) -> str:
    return path.removeprefix("file://")


def resolve_since(text: str | None, today: date | None = None) -> tuple[date | None, str]:
    """The first day of the report (None: every day) and how to say it in the page header."""
    if not text or text.strip().lower() == "all":
        return None, "all days; --since narrows"
    since = parse_since(text, today)
    return since, f"since {since.isoformat()}"


def stage_locally(output: str, since: date | None, into: str) -> str:
    """Copy what the report reads from a non-local ``output`` into the folder ``into``."""
    for dataset, column in _PARTITIONED.items():
        pattern = FileSystems.join(output, dataset, f"{column}=*", "*.parquet")
        for meta in FileSystems.match([pattern])[0].metadata_list:
            relative = meta.path[len(output.rstrip("/")) + 1 :]
            partition = relative.split("/")[1]
            day = partition.partition("=")[2]
            if since and day[:10] < since.isoformat():
                continue
            _copy(meta.path, os.path.join(into, *relative.split("/")))
    for meta in FileSystems.match([FileSystems.join(output, "runs", "*.json")])[0].metadata_list:
        _copy(meta.path, os.path.join(into, "runs", meta.path.rsplit("/", 1)[1]))
    return into


def _copy(source: str, target: str) -> None:
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with FileSystems.open(source) as reader, open(target, "wb") as writer:
        while chunk := reader.read(1 << 20):
            writer.write(chunk)


def write_text(path: str, text: str) -> None:
    """Write ``path`` whole or not at all: a temp name, then a rename."""
    if _is_local(path):
        path = _local_path(path)
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, delete=False) as tmp:
            tmp.write(text)
        os.chmod(tmp.name, 0o644)
        os.replace(tmp.name, path)
        return
    with FileSystems.create(path, mime_type="text/html") as handle:  # object stores: atomic
        handle.write(text.encode("utf-8"))


def run_report(args: argparse.Namespace) -> int:
    from marsad.report.page import build_report

    output = args.output.rstrip("/") or args.output
    target = args.out or FileSystems.join(output, REPORT_NAME)
    if _is_local(output):
        folder = _local_path(output)
        if not os.path.isdir(folder):
            raise InputError(f"output folder {output} does not exist", reason="output_missing")
        since, period = resolve_since(args.since)
        html = build_report(folder, since, output_label=output, period=period)
    else:
        if not FileSystems.match([FileSystems.join(output, "**")])[0].metadata_list:
            raise InputError(f"output {output} holds no files", reason="output_missing")
        since, period = resolve_since(args.since)
        with tempfile.TemporaryDirectory(prefix="marsad-report-") as scratch:
            local = stage_locally(output, since, scratch)
            html = build_report(local, since, output_label=output, period=period)
    write_text(target, html)
    print(f"report: {os.path.abspath(target) if _is_local(target) else target}")
    return 0
