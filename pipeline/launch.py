"""Launching on a remote runner (Dataflow) and dry runs.

A local run executes in this process and ends with a summary. A remote run is
*submitted*: ``marsad run`` and ``marsad stream`` build the graph, take the output
lock for the job, submit it, print the job id and its console link, and hand the
terminal back. The job itself commits its output, writes ``runs/<run_id>.json`` and
releases the lock (``transforms/commit.py``). ``marsad run --wait`` stays until the
job ends and prints the summary from the job's metrics; ``marsad stream`` never
waits (the job is unbounded).

``--dry_run`` builds and validates the graph (for Dataflow: the whole job request,
offline) and touches no storage: no lock, no listing, no manifest.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apache_beam.options.pipeline_options import (
    GoogleCloudOptions,
    PipelineOptions,
    SetupOptions,
    StandardOptions,
    TestOptions,
)

from marsad.errors import MarsadError
from pipeline.lock import LockInfo

_log = logging.getLogger(__name__)

LOCAL_RUNNERS = frozenset(
    {
        "FnApiRunner",
        "DirectRunner",
        "BundleBasedDirectRunner",
        "SwitchingDirectRunner",
        "InteractiveRunner",
        "PrismRunner",
    }
)
REMOTE_LOCK_TTL_S = 24 * 3600.0
"""A remote job holds the output until it commits; its lock has no heartbeat, so it goes
stale only after this long (or sooner, when the job is seen to have ended)."""


class LaunchError(MarsadError):
    """The job could not be submitted to the remote runner."""

    reason = "launch_failed"


def new_pipeline(options: PipelineOptions):
    """``beam.Pipeline(options)``; the runner's option validation as a user error."""
    import apache_beam as beam

    from marsad.errors import InputError

    try:
        return beam.Pipeline(options=options)
    except ValueError as error:
        message = " ".join(str(error).split())
        raise InputError(
            f"the {runner_name(options)} runner refused the options: {message}"
        ) from error


def discard_scratch(pipeline) -> None:
    """Remove the pipeline's local scratch folder (a no-op once it has run).

    ``beam.Pipeline`` makes a ``beam-pipeline-temp*`` folder in the system's temp
    folder when it is built and removes it only at the end of ``run()``: a run refused
    after building (the output locked, an error while building the graph, a local dry
    run) left one behind per attempt, outside the output it was given."""
    folder = getattr(pipeline, "local_tempdir", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def scratch_removed(pipeline):
    """``discard_scratch`` when the block ends, whether the pipeline ran or not."""
    try:
        yield pipeline
    finally:
        discard_scratch(pipeline)


# Beam's default requirements cache in the system's temp folder (its stager's name).
REQUIREMENTS_CACHE = "beam-requirements-cache"


@contextlib.contextmanager
def own_temp_folder(options: PipelineOptions):
    """Run the block with a temp folder of its own, removed when it ends.

    Submitting to Dataflow, Beam's stager writes the job's resources (the pickled main
    session, the submitting environment's package list) into folders it makes in the
    system's temp folder and never removes: one per launch and per dry run. Its
    requirements cache, meant to last, keeps its usual place."""
    setup = options.view_as(SetupOptions)
    if setup.requirements_cache is None:
        setup.requirements_cache = os.path.join(tempfile.gettempdir(), REQUIREMENTS_CACHE)
    folder = tempfile.mkdtemp(prefix="marsad-launch-")
    previous, tempfile.tempdir = tempfile.tempdir, folder
    try:
        yield folder
    finally:
        tempfile.tempdir = previous
        shutil.rmtree(folder, ignore_errors=True)


def runner_name(options: PipelineOptions) -> str:
    runner = options.view_as(StandardOptions).runner or ""
    name = runner if isinstance(runner, str) else type(runner).__name__
    return name.rsplit(".", 1)[-1]


def is_remote(options: PipelineOptions) -> bool:
    return runner_name(options) not in LOCAL_RUNNERS


def is_dry_run(options: PipelineOptions) -> bool:
    """Beam's ``--dry_run`` takes a string: ``--dry_run=False`` must not mean yes."""
    value = options.view_as(TestOptions).dry_run
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)


def console_url(options: PipelineOptions, job_id: str) -> str:
    cloud = options.view_as(GoogleCloudOptions)
    return (
        f"https://console.cloud.google.com/dataflow/jobs/{cloud.region}/{job_id}"
        f"?project={cloud.project}"
    )


def graph_steps(pipeline) -> list[str]:
    """Top-level step names of the graph, as the runner's monitoring UI shows them."""
    proto = pipeline.to_runner_api()
    root = proto.components.transforms[proto.root_transform_ids[0]]
    return [proto.components.transforms[t].unique_name for t in root.subtransforms]


def dry_run(pipeline, options: PipelineOptions, mode: str, run_id: str) -> dict[str, Any]:
    """Build and validate the whole job without submitting it or touching storage."""
    steps = graph_steps(pipeline)  # serialising the graph checks every transform
    job = None
    if runner_name(options) == "DataflowRunner":
        # Beam's Dataflow dry run builds the complete job request, offline.
        with own_temp_folder(options):
            job = getattr(pipeline.run(), "job", None)
    return {
        "run_id": run_id,
        "status": "DRY_RUN",
        "mode": mode,
        "runner": runner_name(options),
        "steps": steps,
        "job_type": job.proto.type.name if job is not None else None,
        "job_name": options.view_as(GoogleCloudOptions).job_name,
    }


TEMPLATE_GRACE_S = 15 * 60.0
"""How long after a template launch its job may not exist yet (the service creates it)."""


def dataflow_job_state(options: PipelineOptions) -> Callable[[LockInfo], str | None]:
    """A lookup of the state of the job holding a lock, through the API the launch uses.

    By id when the lock has one; for a template launch, by name among the active jobs
    (absent after the grace period = ended).
    """

    def lookup(info: LockInfo) -> str | None:
        try:
            from apache_beam.runners.dataflow.internal import apiclient

            client = apiclient.DataflowApplicationClient(options)
            if info.job_id:
                state = client.get_job(info.job_id).current_state
                return getattr(state, "name", None) or (str(state) if state else None)
            if _active_job_named(client, options, info.job_name):
                return "JOB_STATE_RUNNING"
            started = datetime.fromisoformat(info.started_at)
            if (datetime.now(UTC) - started).total_seconds() > TEMPLATE_GRACE_S:
                return "JOB_STATE_DONE"  # not active any more: ended one way or another
            return None
        except Exception as error:  # unknown: the lock is respected, and the user told why
            _log.warning("could not look up the Dataflow job of run %s: %s", info.run_id, error)
            return None

    return lookup


def _active_job_named(client, options: PipelineOptions, name: str) -> bool:
    from google.cloud import dataflow

    cloud = options.view_as(GoogleCloudOptions)
    request = dataflow.ListJobsRequest(
        project_id=cloud.project,
        location=cloud.region,
        filter=dataflow.ListJobsRequest.Filter.ACTIVE,
    )
    return any(job.name == name for job in client._jobs_client.list_jobs(request))


def submit(
    pipeline,
    options: PipelineOptions,
    mode: str,
    run_id: str,
    lock=None,
    wait: bool = False,
    collect_counts: Callable[[Any], dict] | None = None,
) -> dict[str, Any]:
    """Submit the job; return the launch record (with counts when ``wait``).

    ``lock`` (already taken for the job) is released here if submission fails, and
    otherwise records the job id; the job releases it when it commits.
    """
    started = time.perf_counter()
    try:
        with own_temp_folder(options):
            result = pipeline.run()
    except Exception as error:
        if lock is not None:
            lock.release()
        raise LaunchError(
            f"the {runner_name(options)} runner did not accept the job: "
            f"{type(error).__name__}: {str(error)[:500]}"
        ) from error
    # A template launch (Flex Template launcher) only describes the job: no id yet.
    has_job = getattr(result, "has_job", False)
    job_id = str(result.job_id()) if has_job else ""
    url = console_url(options, job_id) if job_id else ""
    job_name = options.view_as(GoogleCloudOptions).job_name or ""
    if lock is not None:
        lock.attach_job(job_id, url, job_name)
    record: dict[str, Any] = {
        "run_id": run_id,
        "status": "SUBMITTED",
        "mode": mode,
        "runner": runner_name(options),
        "job_id": job_id,
        "job_url": url,
        "job_name": job_name,
        "submitted_at": datetime.now(UTC).isoformat(),
    }
    if wait:
        try:
            state = result.wait_until_finish()
        except Exception as error:  # the job failed: the runner raises with its last error
            state = "FAILED"
            record["error"] = f"{type(error).__name__}: {str(error)[:500]}"
        record["status"] = str(state)
        record["timings"] = {"wall_s": round(time.perf_counter() - started, 2), "stages": {}}
        if collect_counts is not None:
            record["counts"] = collect_counts(result)
    return record


def format_launch(record: dict[str, Any]) -> str:
    """What the terminal shows after a submission or a dry run."""
    if record["status"] == "DRY_RUN":
        lines = [
            f"marsad {record['mode']} {record['run_id']}: dry run on {record['runner']} — the "
            f"graph of {len(record['steps'])} steps is valid; nothing was submitted and no "
            "storage was touched.",
            "steps: " + ", ".join(record["steps"]),
        ]
        if record.get("job_type"):
            lines.append(f"job request built: {record['job_type']}")
        return "\n".join(lines)
    lines = [
        f"marsad {record['mode']} {record['run_id']}: submitted to {record['runner']} as job "
        f"{record['job_id'] or '(described for the template launcher: ' + record['job_name'] + ')'}",
    ]
    if record.get("job_url"):
        lines.append(f"console: {record['job_url']}")
    if record["mode"] == "batch":
        lines.append(
            "The job writes runs/"
            + record["run_id"]
            + ".json and releases the output lock when it commits; "
            "`marsad run ... --wait` waits for it and prints the summary."
        )
    else:
        lines.append("The streaming job runs until you drain or cancel it in the console.")
    return "\n".join(lines)
