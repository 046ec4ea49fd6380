"""Run the batch pipeline once: validate sources, build, run, write the manifest."""

from __future__ import annotations

import platform
import secrets
import time
from contextlib import AbstractContextManager, ExitStack, nullcontext
from datetime import UTC, datetime
from importlib import metadata

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from marsad.errors import OutputError
from pipeline import launch
from pipeline.graph import build_batch
from pipeline.launch import new_pipeline
from pipeline.lock import acquire_run_lock, take_lock
from pipeline.options import MarsadOptions
from pipeline.outcome import judge_run
from pipeline.preflight import preflight
from pipeline.report import accounting, collect_counts, collect_timings
from transforms.commit import delete_tree, manifest_path, write_json

LOCAL_RUNNER = "FnApiRunner"
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


def pipeline_options(argv: list[str]) -> PipelineOptions:
    """Beam options from argv; local runs name the runner (no Prism download attempt)."""
    options = PipelineOptions(argv)
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = LOCAL_RUNNER
    return options


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
        return launch.dry_run(pipeline, options, "batch", run_id)
    if launch.is_remote(options):
        return _launch_remote(argv, wait)
    pipeline, options, marsad, feeds, run_id = prepare_batch(argv)
    with ExitStack() as stack:
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


def _launch_remote(argv: list[str], wait: bool) -> dict:
    token = secrets.token_hex(8)
    pipeline, options, marsad, feeds, run_id = prepare_batch(argv, lock_token=token)
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
    build_batch(pipeline, feeds, marsad, run_id, lock_token)
    return pipeline, options, marsad, feeds, run_id


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
    # Only one run holds the output, so whatever is in _tmp/ is an aborted run's.
    delete_tree(FileSystems.join(marsad.output, "_tmp"))

    with display:  # the live display ends before the summary is printed
        result = pipeline.run()
        state = result.wait_until_finish()

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
        "options": _public_options(options),
        "versions": versions(),
    }
    # The graph's commit removed this run's temp files; what remains is a failed run's.
    delete_tree(FileSystems.join(marsad.output, "_tmp"))
    manifest["outcome"] = judge_run(manifest, marsad.max_failed_feeds)
    write_manifest(marsad.output, manifest)
    return manifest


def write_manifest(output: str, manifest: dict) -> str:
    return write_json(manifest_path(output, manifest["run_id"]), manifest)
