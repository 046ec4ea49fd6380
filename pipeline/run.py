"""Run the batch pipeline once: validate sources, build, run, write the manifest."""

from __future__ import annotations

import contextlib
import errno
import logging
import platform
import secrets
import sys
import time
from contextlib import AbstractContextManager, ExitStack, nullcontext
from datetime import UTC, datetime
from functools import partial
from importlib import metadata

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from marsad import workers
from marsad.errors import MarsadError, OutputError, StorageError
from marsad.text import language
from pipeline import journal, launch
from pipeline.beam_options import pipeline_options
from pipeline.graph import build_batch
from pipeline.launch import new_pipeline
from pipeline.lock import acquire_run_lock, take_lock
from pipeline.options import MarsadOptions, worker_count
from pipeline.outcome import judge_run
from pipeline.preflight import preflight
from pipeline.report import accounting, collect_counts, collect_timings
from transforms.commit import (
    delete_tree,
    journal_path,
    manifest_path,
    recover_commits,
    write_json,
)
from transforms.failure_ledger import ledger_path, read_ledger
from transforms.feed_state import feed_state_path, read_feed_state
from transforms.tag import tagger_for
from transforms.write import tmp_dir

_VERSIONED = ("marsad", "apache-beam", "feedparser", "trafilatura", "pyarrow", "requests")


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "unknown"
    return found


def _public_options(options: PipelineOptions) -> dict[str, object]:
    """Options for the manifest, without anything that looks like a secret."""
    shown = {}
    for key, value in sorted(options.get_all_options(drop_default=True).items()):
        if any(
            word in key.lower() for word in ("token", "secret", "password", "key", "credential")
        ):
            value = "***"
        shown[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
    return shown


def run_batch(argv: list[str], wait: bool = False, progress=None) -> dict:
    """Run once and return the manifest (also written to ``runs/<run_id>.json``).

    Everything is validated before the first fetch (``pipeline/preflight.py``). The
    output folder is locked for the run (``pipeline/lock.py``); a second run on the
    same output refuses to start. Feed state is promoted inside the graph
    (``transforms/commit.py``); here the driver adds counts, timings and the outcome
    (``pipeline/outcome.py``). ``progress(options, feeds)``, if given, is a context
    manager entered around a local run (the live display).

    On a remote runner the job is submitted and a launch record returned instead
    (``pipeline/launch.py``); ``wait`` waits for the job and writes the manifest with
    the job's metrics. ``--dry_run`` validates the graph and touches no storage.
    """
    options = pipeline_options(argv)
    if launch.is_dry_run(options):
        pipeline, options, _marsad, _feeds, run_id = prepare_batch(argv)
        with launch.scratch_removed(pipeline):
            return launch.dry_run(pipeline, options, "batch", run_id)
    if launch.is_remote(options):
        return _launch_remote(argv, wait)
    pipeline, options, marsad, feeds, run_id = prepare_batch(argv)
    try:
        with ExitStack() as stack:
            stack.enter_context(launch.scratch_removed(pipeline))
            try:
                stack.enter_context(acquire_run_lock(marsad.output, run_id))
            except OSError as error:  # the first write of the run: the output is unusable
                raise OutputError(
                    f"--output {marsad.output}: cannot write the run lock ({error})",
                    reason="output_not_writable",
                    hint="choose an output you can write to, or fix its permissions",
                ) from None
            display = progress(options, feeds) if progress is not None else nullcontext()
            return _run_locked(pipeline, options, marsad, feeds, run_id, display)
    except MarsadError:
        raise
    except Exception as error:
        found = storage_error_from(error, marsad.output)
        if found is None:
            raise
        raise found from error


_ADVICE = {
    errno.ENOSPC: (
        "disk_full",
        "the disk is full: free space (or choose another --output) and rerun",
    ),
    errno.EDQUOT: ("disk_full", "the disk quota is spent: free space and rerun"),
    errno.EROFS: (
        "output_read_only",
        "the output is on a read-only file system: remount it "
        "read-write or choose another --output",
    ),
    errno.EACCES: (
        "output_not_writable",
        "permission denied: make the output folder writable "
        "for this user or choose another --output",
    ),
    errno.EPERM: (
        "output_not_writable",
        "operation not permitted: make the output folder "
        "writable for this user or choose another --output",
    ),
}


def storage_error_from(error: BaseException, output: str) -> MarsadError | None:
    """The storage problem behind a failed run, as one actionable error, or None.

    Beam wraps an exception raised in a step in its own; the original is on the chain.
    """
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(seen) < 20:
        seen.append(current)
        current = current.__cause__ or current.__context__
    for item in reversed(seen):  # the original exception first
        if isinstance(item, MarsadError) and item.reason != MarsadError.reason:
            return item
    for item in reversed(seen):
        if isinstance(item, OSError) and item.errno in _ADVICE:
            reason, advice = _ADVICE[item.errno]
            where = item.filename or output
            return StorageError(
                f"cannot write {where}: {advice}. Nothing of this run was committed; "
                "the dataset is as it was.",
                reason=reason,
            )
    return None


def _launch_remote(argv: list[str], wait: bool) -> dict:
    token = secrets.token_hex(8)
    pipeline, options, marsad, feeds, run_id = prepare_batch(argv, lock_token=token)
    with launch.scratch_removed(pipeline):
        lock = take_lock(
            marsad.output,
            run_id,
            ttl_s=launch.REMOTE_LOCK_TTL_S,
            token=token,
            job_state=launch.dataflow_job_state(options),
        )
        started_at = datetime.now(UTC)
        record = launch.submit(
            pipeline, options, "batch", run_id, lock, wait=wait, collect_counts=collect_counts
        )
    if not wait:
        return record
    counts = record.get("counts", {})
    manifest = {
        **record,
        "output": marsad.output,
        "sources": marsad.sources,
        "feeds": len(feeds),
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "accounting": accounting(counts),
        "options": _public_options(options),
        "versions": versions(),
    }
    manifest["outcome"] = judge_run(manifest, marsad.max_failed_feeds)
    write_manifest(marsad.output, manifest)
    return manifest


def _with_quarantine(outcome: dict, quarantined: list[str]) -> dict:
    """A run that had to move unreadable data files aside completed, but not cleanly."""
    if not quarantined or outcome.get("exit_code", 0) != 0:
        return outcome
    count = len(quarantined)
    return {
        **outcome,
        "code": "quarantined",
        "exit_code": 1,
        "message": f"{outcome['message']}; {count} unreadable data file"
        f"{'' if count == 1 else 's'} moved to _quarantine/",
        "advice": "restore them from a backup into articles/ or delete them; the next "
        "run stores their articles again",
    }


def prepare_batch(argv: list[str], lock_token: str = ""):
    """The batch pipeline built from ``argv``: (pipeline, options, marsad, feeds, run_id).

    Building touches no storage (listing happens inside the pipeline), so a Dataflow
    job is described offline; the pre-run checks write only a probe into a local
    output folder, and none for a dry run. ``lock_token``: see ``build_batch``.
    """
    options = pipeline_options(argv)
    marsad = options.view_as(MarsadOptions)
    feeds = preflight(marsad, check_output=not launch.is_dry_run(options))
    run_id = marsad.run_id or new_run_id()
    marsad.run_id = run_id
    pipeline = new_pipeline(options)
    try:
        build_batch(pipeline, feeds, marsad, run_id, lock_token)
    except BaseException:
        launch.discard_scratch(pipeline)
        raise
    return pipeline, options, marsad, feeds, run_id


def check_output(output: str, run_id: str) -> None:
    """Before any fetch: the output can be written, and its state files can be read."""
    probe_folder = tmp_dir(output, run_id)
    probe = FileSystems.join(probe_folder, ".write-probe")
    if not FileSystems.exists(probe_folder):
        FileSystems.mkdirs(probe_folder)
    with FileSystems.create(probe) as handle:
        handle.write(b"marsad")
    FileSystems.delete([probe])
    read_feed_state(feed_state_path(output))  # StorageError names the file and the way on
    read_ledger(ledger_path(output))


@contextlib.contextmanager
def _quiet_beam_errors():
    """Beam logs a step's exception with its traceback before re-raising it; the CLI
    reports the same error as one line (storage) or its own traceback (a bug), so the
    log is a duplicate unless the user asked for logs (-v)."""
    logger = logging.getLogger("apache_beam.runners.common")
    previous = logger.level
    if logging.getLogger().level > logging.INFO:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _abandon(output: str, run_id: str) -> None:
    """After a failed run: finish its commit if it had begun, else remove its staged files."""
    folder = tmp_dir(output, run_id)
    try:
        if FileSystems.exists(journal_path(folder)):
            recover_commits(output)
        else:
            delete_tree(folder)
    except Exception:  # the next start cleans up or rolls forward
        pass


def _run_locked(
    pipeline,
    options,
    marsad: MarsadOptions,
    feeds,
    run_id: str,
    display: AbstractContextManager,
) -> dict:
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    # Only one run holds the output, so whatever is in _tmp/ is an interrupted run's:
    # a commit that had begun is finished, anything else was never visible and goes.
    recovered = recover_commits(marsad.output)
    # Then whatever an interrupted compaction left (its journal is outside _tmp/; its
    # staging inside, so before _tmp/ goes).
    journal.recover(marsad.output)
    delete_tree(FileSystems.join(marsad.output, "_tmp"))
    check_output(marsad.output, run_id)
    workers.limit_heap_arenas()  # before the fetch threads: memory (marsad/workers.py)
    start_workers(options)

    try:
        # the live display ends before the summary; free heap pages go back while it runs
        with display, _quiet_beam_errors(), workers.trimming_heap():
            result = pipeline.run()
            state = result.wait_until_finish()
    except BaseException:
        _abandon(marsad.output, run_id)
        raise

    counts = collect_counts(result)
    manifest = {
        "run_id": run_id,
        "status": str(state),
        "mode": "batch",
        "output": marsad.output,
        "sources": marsad.sources,
        "feeds": len(feeds),
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "timings": {
            "wall_s": round(time.perf_counter() - started, 2),
            "stages": collect_timings(result),
        },
        "counts": counts,
        "accounting": accounting(counts),
        "recovered_commits": recovered,
        "quarantined": _quarantined(marsad.output, run_id),
        "options": _public_options(options),
        "versions": versions(),
    }
    # The graph's commit removed this run's temp files; what remains is a failed run's.
    delete_tree(FileSystems.join(marsad.output, "_tmp"))
    manifest["outcome"] = _with_quarantine(
        judge_run(manifest, marsad.max_failed_feeds), manifest["quarantined"]
    )
    if marsad.compact:
        manifest["compaction"] = compact_after_run(marsad.output, run_id)
    write_manifest(marsad.output, manifest)
    return manifest


def compact_after_run(output: str, run_id: str) -> dict:
    """``--compact``: merge the small files of the partitions this run wrote (lock held)."""
    from pipeline.compact import compact_output, partitions_written_by

    report = compact_output(output, partitions_written_by(output, run_id))
    changed = [p for p in report.partitions if p.files_before != p.files_after]
    return {
        "partitions": len(changed),
        "files_before": sum(p.files_before for p in changed),
        "files_after": sum(p.files_after for p in changed),
        "seconds": round(report.seconds, 2),
    }


def _quarantined(output: str, run_id: str) -> list[str]:
    """Files this run moved to _quarantine/ (each also has a failure row)."""
    pattern = FileSystems.join(output, "_quarantine", run_id, "**")
    try:
        found = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except Exception:
        return []
    for path in found:
        print(
            f"marsad: warning [corrupt_file]: an unreadable data file was moved to {path}; "
            "its rows took no part in this run. Restore it from a backup into articles/ "
            "or delete it.",
            file=sys.stderr,
        )
    return found


def start_workers(options: PipelineOptions) -> None:
    """Fork the worker processes (``marsad.workers``) now, while this process has one
    thread, after loading the language model and the topic so that they share them."""
    marsad = options.view_as(MarsadOptions)
    workers.prestart(
        worker_count(options),
        warm=(language.warm, partial(tagger_for, marsad.topic, marsad.topic_threshold)),
    )


def write_manifest(output: str, manifest: dict) -> str:
    return write_json(manifest_path(output, manifest["run_id"]), manifest)
