"""``marsad compact``: rewrite a partition's many small Parquet files as a few large ones.

An hourly run adds a file to every partition it touches, so after a year a day's
folder holds dozens of files of a few kilobytes, and every reader pays for each
open and footer. Compaction merges the *small* files of a partition (smaller than
half the target size, ``TARGET_FILE_MB`` by default) into files of about the target
size; files already large are left alone, so compacting again rewrites nothing.

Readers never see a row twice or miss one. On a local disk the new partition
folder is built beside the old one (compacted files plus hard links to the files
kept) and the two folders are swapped in one ``renameat2(RENAME_EXCHANGE)`` call:
a reader lists either the old set of files or the new one. A query that had
listed the old set just before the swap and opens a file after it gets "file not
found" (``marsad report`` retries; so should a scheduled reader), never a wrong
count. The old files are deleted only ``reader_grace_s`` (2 s) after the last
swap, so a reader that opened a folder just before its swap and lists it just
after never sees it empty. Where the swap is not available (object stores, other
filesystems) files are moved in and the old ones deleted, one by one: the
partition is briefly seen with both, which ``docs/storage.md`` says.

Crash safety: compacted files are written and verified (row counts) under
``_tmp/compact-<id>/`` before a journal (``pipeline/journal.py``) records the
swap about to happen; the next holder of the output lock rolls it forward from
what it finds. Every state between the steps holds each row exactly once (swap)
or at least once (moves), and recovery ends in exactly once.
"""

from __future__ import annotations

import ctypes
import errno
import glob
import logging
import os
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipeline import journal
from transforms.commit import delete_tree

TARGET_FILE_MB = 128
"""Size a compacted file aims at: large enough that a year is a few hundred files,
small enough for a reader to parallelise within a day and for BigQuery's and
DuckDB's recommended range (tens of MB to ~1 GB)."""
SMALL_FRACTION = 0.5
ROW_GROUP_BYTES = 64 << 20
"""Uncompressed bytes buffered per row group: bounds memory, keeps row groups few."""
DATASETS = ("articles", "failures")
JOURNAL_KIND = "compact"

_log = logging.getLogger(__name__)


class ExchangeUnsupported(OSError):
    """This filesystem cannot swap two folders atomically."""


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_libc = ctypes.CDLL(None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)


def exchange_dirs(first: str, second: str) -> None:
    """Swap two folders (same filesystem) in one step, as Linux's renameat2 does."""
    if _renameat2 is None:
        raise ExchangeUnsupported(errno.ENOSYS, "renameat2 is not available")
    if _renameat2(_AT_FDCWD, first.encode(), _AT_FDCWD, second.encode(), _RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        if code in (errno.EINVAL, errno.ENOSYS, errno.EXDEV, errno.EPERM, errno.ENOTSUP):
            raise ExchangeUnsupported(code, os.strerror(code))
        raise OSError(code, f"swap {first} <-> {second}: {os.strerror(code)}")


@dataclass(frozen=True)
class CompactConfig:
    target_bytes: int = TARGET_FILE_MB << 20
    min_files: int = 2
    atomic_swap: bool = True  # False forces the move-in/delete path (tests, odd filesystems)
    # A reader that opened a partition folder just before its swap still lists the old
    # folder; its files are deleted only this long after the last swap (all at once).
    reader_grace_s: float = 2.0


@dataclass
class ParquetPart:
    path: str
    size: int


@dataclass
class PartitionResult:
    partition: str
    files_before: int
    files_after: int
    rows: int
    bytes_before: int
    bytes_after: int
    method: str


@dataclass
class CompactReport:
    compaction_id: str
    partitions: list[PartitionResult] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        done = [p for p in self.partitions if p.files_before != p.files_after]
        before = sum(p.files_before for p in done)
        after = sum(p.files_after for p in done)
        rows = sum(p.rows for p in done)
        mb = sum(p.bytes_before for p in done) / 1e6
        return (
            f"compacted {len(done)} partition(s): {before} files -> {after} "
            f"({rows} rows, {mb:.1f} MB read) in {self.seconds:.1f}s"
        )


def new_compaction_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def list_partitions(output: str, datasets=DATASETS) -> dict[str, list[ParquetPart]]:
    """Partition folder → its Parquet files (``<output>/<dataset>/<column>=<value>``)."""
    found: dict[str, list[ParquetPart]] = defaultdict(list)
    for dataset in datasets:
        pattern = FileSystems.join(output, dataset, "*=*", "*.parquet")
        try:
            matched = FileSystems.match([pattern])[0].metadata_list
        except Exception:  # a dataset with no folder yet
            continue
        for meta in matched:
            found[meta.path.rsplit("/", 1)[0]].append(ParquetPart(meta.path, meta.size_in_bytes))
    return {folder: sorted(parts, key=lambda p: p.path) for folder, parts in sorted(found.items())}


def _schema_of(path: str) -> pa.Schema:
    with FileSystems.open(path) as handle:
        return pq.ParquetFile(handle).schema_arrow


def plan_groups(parts: list[ParquetPart], config: CompactConfig) -> list[list[ParquetPart]]:
    """The output files to write: lists of small input files of one schema, ~target bytes each.

    Files of different schemas (an older schema version) are never merged: every
    compacted file keeps one schema and its ``marsad.schema_version``.
    """
    small = [p for p in parts if p.size < config.target_bytes * SMALL_FRACTION]
    if len(small) < config.min_files:
        return []
    by_schema: dict[pa.Schema, list[ParquetPart]] = {}
    for part in small:
        schema = _schema_of(part.path)
        key = next((s for s in by_schema if s.equals(schema, check_metadata=True)), schema)
        by_schema.setdefault(key, []).append(part)
    groups = []
    for same in by_schema.values():
        if len(same) < 2:
            continue
        current, size = [], 0
        for part in same:
            if current and size + part.size > config.target_bytes:
                groups.append(current)
                current, size = [], 0
            current.append(part)
            size += part.size
        if len(current) == 1 and groups and groups[-1][0] in same:
            groups[-1].append(current[0])  # a lone leftover joins the last file, a bit over target
        elif len(current) > 1:
            groups.append(current)
    return groups


def _merge(group: list[ParquetPart], target: str) -> int:
    """Write the rows of ``group`` into ``target`` in file order; returns rows written."""
    schema = _schema_of(group[0].path)
    rows = 0
    buffered: list[pa.Table] = []
    buffered_bytes = 0
    with FileSystems.create(target) as sink:
        writer = pq.ParquetWriter(sink, schema, compression="zstd")
        for part in group:
            with FileSystems.open(part.path) as handle:
                table = pq.ParquetFile(handle).read()
            buffered.append(table)
            buffered_bytes += table.nbytes
            rows += table.num_rows
            if buffered_bytes >= ROW_GROUP_BYTES:
                writer.write_table(pa.concat_tables(buffered))
                buffered, buffered_bytes = [], 0
        if buffered:
            writer.write_table(pa.concat_tables(buffered))
        writer.close()
        if journal.is_local(target):
            sink.flush()
            os.fsync(sink.fileno())
    return rows


def _rows_in(path: str) -> int:
    with FileSystems.open(path) as handle:
        return pq.ParquetFile(handle).metadata.num_rows


def _name(path: str) -> str:
    return path.rsplit("/", 1)[1]


def compact_partition(
    output: str, folder: str, parts: list[ParquetPart], config: CompactConfig, compaction_id: str
) -> PartitionResult:
    relative = folder[len(output.rstrip("/")) + 1 :]
    groups = plan_groups(parts, config)
    bytes_before = sum(p.size for p in parts)
    rows_total = 0
    if not groups:
        return PartitionResult(
            relative, len(parts), len(parts), 0, bytes_before, bytes_before, "none"
        )
    staging = FileSystems.join(output, "_tmp", f"compact-{compaction_id}", relative)
    if not FileSystems.exists(staging):
        FileSystems.mkdirs(staging)
    merged, new = [], []
    for number, group in enumerate(groups):
        target = FileSystems.join(staging, f"part-compact-{compaction_id}-{number:05d}.parquet")
        written = _merge(group, target)
        expected = sum(_rows_in(p.path) for p in group)
        if _rows_in(target) != written or written != expected:
            raise OSError(f"compacted file {target} holds {written} rows, expected {expected}")
        rows_total += written
        merged += [p.path for p in group]
        new.append(_name(target))
    kept = [p.path for p in parts if p.path not in set(merged)]
    record = {
        "output": output,
        "partition": folder,
        "staging": staging,
        "merged": [_name(p) for p in merged],
        "kept": [_name(p) for p in kept],
        "new": new,
    }
    method = "moves"
    if config.atomic_swap and journal.is_local(folder):
        try:
            _swap_in(output, folder, staging, kept, record, compaction_id)
            method = "swap"
        except ExchangeUnsupported as error:
            _log.info("no atomic folder swap here (%s); moving files instead", error)
            _clear_links(staging, kept)
    if method == "moves":
        _move_in(output, folder, staging, merged, record, compaction_id)
    bytes_after = sum(p.size for p in list_partitions_of(folder))
    return PartitionResult(
        relative, len(parts), len(kept) + len(new), rows_total, bytes_before, bytes_after, method
    )


def list_partitions_of(folder: str) -> list[ParquetPart]:
    matched = FileSystems.match([FileSystems.join(folder, "*.parquet")])[0].metadata_list
    return [ParquetPart(m.path, m.size_in_bytes) for m in matched]


def _clear_links(staging: str, kept: list[str]) -> None:
    for path in kept:
        link = os.path.join(staging, _name(path))
        if os.path.lexists(link):
            os.unlink(link)


def _swap_in(output, folder, staging, kept, record, compaction_id) -> None:
    """Local disk: the new folder (compacted files + links to kept ones) replaces the old in one step."""
    try:
        for path in kept:
            os.link(path, os.path.join(staging, _name(path)))
    except OSError as error:  # a filesystem without hard links
        raise ExchangeUnsupported(error.errno or errno.EPERM, str(error)) from error
    journal.fsync_dir(staging)
    present = sorted(_name(p.path) for p in list_partitions_of(folder))
    if present != sorted(record["merged"] + record["kept"]):
        raise OSError(f"{folder} changed while it was being compacted; left as it was")
    path = journal.write_journal(
        output, JOURNAL_KIND, compaction_id + "-" + _slug(folder), {**record, "method": "swap"}
    )
    exchange_dirs(staging, folder)  # ExchangeUnsupported leaves both folders as they were
    journal.fsync_dir(folder.rsplit("/", 1)[0])
    # The staging folder now holds the old files. They stay until compact_output's grace
    # has passed (or, after a crash, until the next compaction drops orphaned staging):
    # deleting them now would show a reader mid-listing an empty partition.
    journal.remove_journal(path)


def _move_in(output, folder, staging, merged, record, compaction_id) -> None:
    """Object stores: new files in first, then the merged ones out (rows seen twice, briefly)."""
    path = journal.write_journal(
        output, JOURNAL_KIND, compaction_id + "-" + _slug(folder), {**record, "method": "moves"}
    )
    _roll_moves_forward(record)
    journal.remove_journal(path)


def _roll_moves_forward(record: dict) -> str:
    folder, staging = record["partition"], record["staging"]
    missing = [
        n
        for n in record["new"]
        if not FileSystems.exists(FileSystems.join(folder, n))
        and not FileSystems.exists(FileSystems.join(staging, n))
    ]
    if missing:  # staging lost before every new file was in: undo, the old files are whole
        placed = [
            FileSystems.join(folder, n)
            for n in record["new"]
            if FileSystems.exists(FileSystems.join(folder, n))
        ]
        if placed:
            FileSystems.delete(placed)
        delete_tree(staging)
        return f"{folder}: rolled back (staged files gone), original files kept"
    for name in record["new"]:
        final = FileSystems.join(folder, name)
        if not FileSystems.exists(final):
            FileSystems.rename([FileSystems.join(staging, name)], [final])
    old = [FileSystems.join(folder, n) for n in record["merged"]]
    old = [p for p in old if FileSystems.exists(p)]
    if old:
        FileSystems.delete(old)
    delete_tree(staging)
    return f"{folder}: rolled forward ({len(record['new'])} compacted file(s) in, {len(record['merged'])} out)"


def _recover_swap(record: dict) -> str:
    folder, staging = record["partition"], record["staging"]
    present = (
        {_name(p.path) for p in list_partitions_of(folder)} if os.path.isdir(folder) else set()
    )
    if set(record["new"]) <= present:  # swapped: the staging folder holds the old files
        delete_tree(staging)
        return f"{folder}: swap had happened; old files removed"
    staged = (
        {_name(p.path) for p in list_partitions_of(staging)} if os.path.isdir(staging) else set()
    )
    if set(record["new"]) <= staged and present == set(record["merged"] + record["kept"]):
        for name in record["kept"]:
            if name not in staged:
                os.link(os.path.join(folder, name), os.path.join(staging, name))
        exchange_dirs(staging, folder)
        journal.fsync_dir(folder.rsplit("/", 1)[0])
        delete_tree(staging)
        return f"{folder}: rolled forward (swapped in {len(record['new'])} compacted file(s))"
    delete_tree(staging)
    return f"{folder}: rolled back (nothing had been swapped), original files kept"


def recover_compaction(output: str, record: dict) -> str:
    if record.get("method") == "swap":
        return _recover_swap(record)
    return _roll_moves_forward(record)


journal.register(JOURNAL_KIND, recover_compaction)


def _slug(folder: str) -> str:
    dataset, partition = folder.rstrip("/").rsplit("/", 2)[-2:]
    return f"{dataset}-{partition.replace('=', '-')}"


def partitions_written_by(output: str, run_id: str) -> list[str]:
    """Partition folders holding a file of run ``run_id`` (what ``run --compact`` compacts)."""
    folders = set()
    for dataset in DATASETS:
        pattern = FileSystems.join(output, dataset, "*=*", f"part-{run_id}-*.parquet")
        try:
            matched = FileSystems.match([pattern])[0].metadata_list
        except Exception:
            continue
        folders.update(m.path.rsplit("/", 1)[0] for m in matched)
    return sorted(folders)


def _drop_orphaned_staging(output: str) -> None:
    """Staging of compactions that died: recovery has run, so nothing refers to it any more."""
    if journal.is_local(output):
        for folder in glob.glob(os.path.join(output, "_tmp", "compact-*")):
            delete_tree(folder)
        return
    # Object stores list objects, not folders: drop everything under _tmp/compact-*.
    try:
        orphans = FileSystems.match([FileSystems.join(output, "_tmp", "compact-*", "**")])[0]
    except Exception:
        return
    if orphans.metadata_list:
        FileSystems.delete([m.path for m in orphans.metadata_list])


def compact_output(
    output: str,
    only: list[str] | None = None,
    config: CompactConfig | None = None,
    compaction_id: str | None = None,
) -> CompactReport:
    """Compact every partition of ``output`` (or the folders in ``only``). Hold the lock."""
    config = config or CompactConfig()
    report = CompactReport(compaction_id or new_compaction_id())
    started = time.perf_counter()
    report.recovered = journal.recover(output)
    _drop_orphaned_staging(output)
    partitions = list_partitions(output)
    if only is not None:
        wanted = {f.rstrip("/") for f in only}
        partitions = {f: p for f, p in partitions.items() if f in wanted}
    for folder, parts in partitions.items():
        report.partitions.append(
            compact_partition(output, folder, parts, config, report.compaction_id)
        )
    # On an error the staging stays for the journal's recovery (or the next compaction).
    if any(result.method == "swap" for result in report.partitions):
        time.sleep(config.reader_grace_s)
    delete_tree(FileSystems.join(output, "_tmp", f"compact-{report.compaction_id}"))
    report.seconds = time.perf_counter() - started
    return report
