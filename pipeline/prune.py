"""``marsad prune``: retention for the datasets that only grow — never for ``articles/``.

    marsad prune OUTPUT --failures-older-than 90d --runs-older-than 1y [--dry-run]

- ``failures/failed_date=DAY`` partitions whose day is older than the cutoff go
  whole (a partition is one day, so nothing is left half-pruned). On a local disk
  the folder is first renamed into ``_tmp/`` and deleted there: a reader sees the
  day or does not, never part of it.
- ``runs/<run_id>.json`` manifests older than the cutoff go. A manifest's age is its
  run's start: the timestamp that starts every run id (``20240128T060000Z-…``),
  else the manifest's ``started_at``/``committed_at``, else the file's modification
  time.

The corpus itself (``articles/``) and the feed state are out of this command's
reach by construction: it only ever lists ``failures/`` and ``runs/``, and refuses
to delete anything outside them. Runs take the output lock (``pipeline/lock.py``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from apache_beam.io.filesystems import FileSystems

from pipeline import journal
from schemas.tables import FAILURES_PARTITION
from transforms.commit import delete_tree

PRUNABLE = ("failures", "runs")
_RUN_STAMP = re.compile(r"^(\d{8}T\d{6}Z)")


@dataclass
class PruneReport:
    cutoff_failures: date | None
    cutoff_runs: datetime | None
    failure_partitions: list[str] = field(default_factory=list)
    failure_files: int = 0
    failure_bytes: int = 0
    manifests: list[str] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        lines = []
        if self.cutoff_failures is not None:
            lines.append(
                f"failures: {verb} {len(self.failure_partitions)} day partition(s), "
                f"{self.failure_files} file(s), {self.failure_bytes / 1e6:.1f} MB "
                f"(failed before {self.cutoff_failures.isoformat()})"
            )
        if self.cutoff_runs is not None:
            lines.append(
                f"runs: {verb} {len(self.manifests)} manifest(s) "
                f"(started before {self.cutoff_runs.date().isoformat()})"
            )
        return (
            "\n".join(lines) or "nothing to prune: give --failures-older-than or --runs-older-than"
        )


def _inside(output: str, path: str) -> None:
    """The guard: prune deletes under failures/ and runs/ of ``output`` and nowhere else."""
    root = output.rstrip("/") + "/"
    relative = path[len(root) :] if path.startswith(root) else None
    if relative is None or relative.split("/", 1)[0] not in PRUNABLE:
        raise RuntimeError(f"prune refused to delete {path}: outside failures/ and runs/")


def _failure_partitions(output: str) -> dict[str, list]:
    pattern = FileSystems.join(output, "failures", f"{FAILURES_PARTITION}=*", "*.parquet")
    try:
        matched = FileSystems.match([pattern])[0].metadata_list
    except Exception:
        return {}
    found: dict[str, list] = {}
    for meta in matched:
        found.setdefault(meta.path.rsplit("/", 1)[0], []).append(meta)
    return found


def _partition_day(folder: str) -> date | None:
    value = folder.rsplit("/", 1)[1].partition("=")[2]
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def run_started(path: str, modified: float | None = None) -> datetime | None:
    """When the run of manifest ``path`` started (see the module docstring)."""
    stamp = _RUN_STAMP.match(path.rsplit("/", 1)[1])
    if stamp:
        return datetime.strptime(stamp.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    try:
        with FileSystems.open(path) as handle:
            record = json.loads(handle.read().decode("utf-8"))
        for key in ("started_at", "committed_at", "finished_at"):
            if isinstance(record, dict) and record.get(key):
                moment = datetime.fromisoformat(str(record[key]))
                return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (OSError, ValueError):
        pass
    return datetime.fromtimestamp(modified, UTC) if modified else None


def _remove_partition(output: str, folder: str, files: list) -> None:
    _inside(output, folder)
    if journal.is_local(folder) and os.path.isdir(folder):
        # One rename takes the whole day out of readers' sight, then it is deleted.
        aside = os.path.join(output, "_tmp", f"prune-{secrets.token_hex(4)}")
        os.makedirs(aside, exist_ok=True)
        os.rename(folder, os.path.join(aside, os.path.basename(folder)))
        delete_tree(aside)
        return
    for meta in files:
        _inside(output, meta.path)
    FileSystems.delete([m.path for m in files])


def prune_output(
    output: str,
    failures_older_than: timedelta | None,
    runs_older_than: timedelta | None,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
) -> PruneReport:
    """Delete old failure partitions and run manifests. Hold the output lock."""
    now = now or datetime.now(UTC)
    report = PruneReport(
        cutoff_failures=(now - failures_older_than).date() if failures_older_than else None,
        cutoff_runs=now - runs_older_than if runs_older_than else None,
        dry_run=dry_run,
    )
    if report.cutoff_failures is not None:
        for folder, files in sorted(_failure_partitions(output).items()):
            day = _partition_day(folder)
            if day is None or day >= report.cutoff_failures:
                continue
            report.failure_partitions.append(folder)
            report.failure_files += len(files)
            report.failure_bytes += sum(m.size_in_bytes for m in files)
            if not dry_run:
                _remove_partition(output, folder, files)
    if report.cutoff_runs is not None:
        try:
            manifests = FileSystems.match([FileSystems.join(output, "runs", "*.json")])[0]
        except Exception:
            manifests = None
        for meta in sorted(manifests.metadata_list if manifests else [], key=lambda m: m.path):
            started = run_started(meta.path, getattr(meta, "last_updated_in_seconds", None))
            if started is None or started >= report.cutoff_runs:
                continue
            report.manifests.append(meta.path)
            if not dry_run:
                _inside(output, meta.path)
                FileSystems.delete([meta.path])
    return report
