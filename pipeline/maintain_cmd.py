"""``marsad compact`` and ``marsad prune``: keeping an output folder healthy for years.

Both take the output lock (``pipeline/lock.py``) like a run, so they never race a
run, and both first finish whatever an interrupted run, compaction or prune left
in the journal (``pipeline/journal.py``). Scheduling: ``deploy/README.md``.
"""

from __future__ import annotations

import argparse

from apache_beam.io.filesystems import FileSystems

from marsad.ages import parse_age
from marsad.errors import InputError
from pipeline import journal
from pipeline.compact import TARGET_FILE_MB, CompactConfig, compact_output, new_compaction_id
from pipeline.lock import acquire_run_lock
from pipeline.prune import prune_output


def add_compact_parser(commands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "compact",
        help="Merge each partition's small Parquet files into few large ones (safe for readers).",
        description="Rewrite the small files of every partition of articles/ and failures/ "
        "(smaller than half of --target-mb) into files of about --target-mb MB. Readers "
        "running meanwhile see every row exactly once; an interrupted compaction is finished "
        "by the next marsad command on the output. See docs/storage.md.",
    )
    parser.add_argument("output", metavar="OUTPUT", help="marsad output folder.")
    parser.add_argument(
        "--partition",
        action="append",
        metavar="DATASET/COLUMN=VALUE",
        help="Only this partition, e.g. articles/published_date=2024-01-28 (repeatable; "
        "default: all).",
    )
    parser.add_argument(
        "--target-mb",
        "--target_mb",
        dest="target_mb",
        type=int,
        default=TARGET_FILE_MB,
        help=f"Size of a compacted file in MB (default {TARGET_FILE_MB}).",
    )
    return parser


def add_prune_parser(commands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "prune",
        help="Delete old failure rows and run manifests (never articles).",
        description="Retention for the datasets that only grow: failures/ day partitions and "
        "runs/ manifests older than the given ages. articles/ and the feed state are never "
        "touched. Ages: 90d, 12w, 1y.",
    )
    parser.add_argument("output", metavar="OUTPUT", help="marsad output folder.")
    parser.add_argument(
        "--failures-older-than",
        "--failures_older_than",
        dest="failures_older_than",
        metavar="AGE",
        help="Delete failures/ partitions of days older than this (e.g. 90d).",
    )
    parser.add_argument(
        "--runs-older-than",
        "--runs_older_than",
        dest="runs_older_than",
        metavar="AGE",
        help="Delete runs/ manifests of runs started longer ago than this (e.g. 1y).",
    )
    parser.add_argument(
        "--dry-run",
        "--dry_run",
        dest="dry_run",
        action="store_true",
        help="Only list what would be deleted.",
    )
    return parser


def _output_exists(output: str) -> str:
    output = output.rstrip("/") or output
    if "://" not in output:
        import os

        if not os.path.isdir(output):
            raise InputError(f"output folder {output} does not exist", reason="output_missing")
    return output


def run_compact(args: argparse.Namespace) -> int:
    output = _output_exists(args.output)
    if args.target_mb <= 0:
        raise InputError("--target-mb must be a positive number of megabytes")
    only = None
    if args.partition:
        only = [FileSystems.join(output, *p.strip("/").split("/")) for p in args.partition]
    compaction_id = new_compaction_id()
    with acquire_run_lock(output, f"compact-{compaction_id}"):
        report = compact_output(
            output, only, CompactConfig(target_bytes=args.target_mb << 20), compaction_id
        )
    for account in report.recovered:
        print(f"recovered: {account}")
    if only is not None and not report.partitions:
        raise InputError(f"no such partition with Parquet files: {', '.join(args.partition)}")
    print(report.summary())
    return 0


def run_prune(args: argparse.Namespace) -> int:
    output = _output_exists(args.output)
    failures = parse_age(args.failures_older_than) if args.failures_older_than else None
    runs = parse_age(args.runs_older_than) if args.runs_older_than else None
    if failures is None and runs is None:
        raise InputError(
            "say what to prune: --failures-older-than AGE and/or --runs-older-than AGE"
        )
    with acquire_run_lock(output, f"prune-{new_compaction_id()}"):
        for account in journal.recover(output):
            print(f"recovered: {account}")
        report = prune_output(output, failures, runs, dry_run=args.dry_run)
    print(report.summary())
    return 0
