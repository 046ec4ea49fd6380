"""Launching on Dataflow: dry runs offline, submit-and-return, --wait, the job's lock.

Dry runs run as real processes in a network namespace where every connection fails
(``unshare --net``). Submissions go to a fake Dataflow service on loopback
(tests/fake_dataflow.py) through Beam's own Dataflow runner, staging to a local Cloud
Storage emulator; the output lock lives on that emulator too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("google.cloud.storage", reason="needs apache-beam[gcp]")
pytest.importorskip("google.cloud.dataflow_v1beta3", reason="needs apache-beam[gcp]")

from marsad.errors import MarsadError
from pipeline.cli import main
from pipeline.launch import LaunchError, is_dry_run
from pipeline.lock import LockInfo, read_lock, release_lock, take_lock
from pipeline.run import pipeline_options
from tests.fake_dataflow import FakeDataflow
from tests.gcs_emulators import (
    EMULATOR_ENV,
    anonymous_gcp_credentials,
    create_bucket,
    gcp_storage_emulator,
)

ROOT = Path(__file__).resolve().parents[1]
SOURCES = str(ROOT / "marsad" / "sources" / "default.yaml")
BUCKET = "marsad-launch"
IMAGE = "europe-west1-docker.pkg.dev/marsad-test/marsad/marsad:test"


def _dataflow_args(endpoint: str, output: str) -> list[str]:
    return [
        "--sources",
        SOURCES,
        "--output",
        output,
        "--runner=DataflowRunner",
        f"--dataflow_endpoint={endpoint}",
        "--project=marsad-test",
        "--region=europe-west1",
        f"--temp_location=gs://{BUCKET}/tmp",
        f"--staging_location=gs://{BUCKET}/staging",
        "--sdk_location=container",
        f"--sdk_container_image={IMAGE}",
        "--no_auth",
    ]


# -- dry runs: offline, touching no storage ------------------------------------------------
def _unshare_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.parametrize("command", ["run", "stream"])
def test_dry_run_builds_the_job_offline_and_touches_no_storage(command, tmp_path):
    if not _unshare_available():
        pytest.skip("needs `unshare --net` (root or user namespaces) to cut the network off")
    argv = [
        "unshare",
        "--net",
        sys.executable,
        "-m",
        "pipeline.cli",
        command,
        "--sources",
        SOURCES,
        "--output",
        "gs://marsad-nowhere/out",
        "--runner=DataflowRunner",
        "--project=marsad-test",
        "--region=europe-west1",
        "--temp_location=gs://marsad-nowhere/tmp",
        "--dry_run=True",
    ]
    started = time.monotonic()
    done = subprocess.run(
        argv, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    assert "dry run on DataflowRunner" in done.stdout
    expected_type = "JOB_TYPE_BATCH" if command == "run" else "JOB_TYPE_STREAMING"
    assert f"job request built: {expected_type}" in done.stdout
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == [], "a dry run writes nothing, not even locally"
    print(f"{command} dry run with the network cut off: {elapsed:.1f}s")


def test_dry_run_false_is_not_a_dry_run():
    assert is_dry_run(pipeline_options(["--dry_run=True"]))
    assert not is_dry_run(pipeline_options(["--dry_run=False"]))
    assert not is_dry_run(pipeline_options([]))


# -- submissions to a fake Dataflow service ------------------------------------------------
@pytest.fixture(scope="module")
def gcs():
    with gcp_storage_emulator() as endpoint, anonymous_gcp_credentials():
        create_bucket(endpoint, BUCKET)
        yield endpoint


@pytest.fixture
def service(gcs, monkeypatch):
    monkeypatch.setenv(EMULATOR_ENV, gcs)
    with FakeDataflow() as fake:
        yield fake


@pytest.fixture
def output(request):
    return f"gs://{BUCKET}/{request.node.name}"


def test_submit_prints_the_job_and_returns(service, output, capsys, launch_leftovers):
    started = time.monotonic()
    assert main(["run", *_dataflow_args(service.endpoint, output)]) == 0
    assert launch_leftovers() == [], "the job's resources and scratch go"
    assert time.monotonic() - started < 120, "the driver must not wait for the job"
    printed = capsys.readouterr().out
    [(job_id, job)] = service.jobs.items()
    assert job_id in printed
    assert (
        f"https://console.cloud.google.com/dataflow/jobs/europe-west1/{job_id}"
        "?project=marsad-test" in printed
    )
    assert job["type"] == "JOB_TYPE_BATCH"
    assert job["currentState"] == "JOB_STATE_PENDING", "nobody polled: the driver returned"
    lock = read_lock(output)
    assert lock is not None and lock.job_id == job_id, "the job holds the output"
    staged = _staged_objects()
    assert any(name.endswith("pipeline.pb") for name in staged), staged


def test_second_launch_is_refused_while_the_job_runs(service, output, capsys):
    argv = ["run", *_dataflow_args(service.endpoint, output)]
    assert main(argv) == 0
    [job_id] = service.jobs
    service.set_state(job_id, "JOB_STATE_RUNNING")
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "output_locked" in err and job_id in err
    assert len(service.jobs) == 1, "nothing was submitted"


def test_launch_after_the_holding_job_failed_takes_the_lock_over(service, output):
    argv = ["run", *_dataflow_args(service.endpoint, output)]
    assert main(argv) == 0
    [first] = service.jobs
    service.set_state(first, "JOB_STATE_FAILED")
    assert main(argv) == 0
    second = next(j for j in service.jobs if j != first)
    assert read_lock(output).job_id == second


def test_rejected_submission_releases_the_lock(service, output, capsys):
    service.reject = "The workflow could not be created: bad worker zone"
    assert main(["run", *_dataflow_args(service.endpoint, output)]) != 0
    err = capsys.readouterr().err
    assert "launch_failed" in err and "bad worker zone" in err
    assert "Traceback" not in err
    assert read_lock(output) is None


def test_wait_prints_the_summary_from_the_job_metrics(service, output, capsys):
    service.default_script = ["JOB_STATE_RUNNING", "JOB_STATE_DONE"]
    service.metrics = {
        "fetch_feeds.in": 32,
        "fetch_feeds.out": 30,
        "parse_feeds.entries": 412,
        "write_articles.rows": 400,
        "write_failures.rows": 12,
        "fetch_articles.failed.http_404": 12,
        "dedup_near.duplicate": 0,
    }
    assert main(["run", *_dataflow_args(service.endpoint, output), "--wait"]) == 0
    printed = capsys.readouterr().out
    [(job_id, job)] = service.jobs.items()
    assert job["currentState"] == "JOB_STATE_DONE"
    assert "412" in printed and "400" in printed, printed
    manifests = _objects(f"{output[len(f'gs://{BUCKET}/') :]}/runs/")
    assert len(manifests) == 1, manifests
    manifest = json.loads(next(iter(manifests.values())))
    assert manifest["job_id"] == job_id and manifest["status"].endswith("DONE")
    assert manifest["counts"]["parse_feeds.entries"] == 412


def test_stream_submits_and_never_waits(service, output, capsys, launch_leftovers):
    assert main(["stream", *_dataflow_args(service.endpoint, output)]) == 0
    assert launch_leftovers() == []
    [(job_id, job)] = service.jobs.items()
    assert job["type"] == "JOB_TYPE_STREAMING"
    assert job_id in capsys.readouterr().out
    assert read_lock(output).job_id == job_id


# -- the job releases the lock its launcher took -------------------------------------------
def test_commit_step_releases_only_its_own_lock(tmp_path):
    from transforms.commit import commit_run

    output = str(tmp_path / "out")
    held = take_lock(output, "remote-run", token="a1b2c3d4", settle_s=0)
    assert read_lock(output).token == "a1b2c3d4"
    args = (output, [], str(tmp_path / "tmp"), [], [], [], [], [])
    commit_run("remote-run", *args, lock_token="ffffffff")
    assert read_lock(output) is not None, "another token leaves the lock alone"
    commit_run("remote-run", *args, lock_token="a1b2c3d4")
    assert read_lock(output) is None
    assert not release_lock(output, "a1b2c3d4")
    del held


def test_remote_lock_of_an_ended_job_is_stale_only_when_the_job_has_ended():
    from datetime import UTC, datetime

    from pipeline.lock import stale_reason

    now = datetime.now(UTC).isoformat()
    info = LockInfo("r", "launcher", 1, "tok", now, now, 86400.0, job_id="j-1")
    running = stale_reason(info, datetime.now(UTC), "me", 2, lambda _info: "JOB_STATE_RUNNING")
    assert running is None
    unknown = stale_reason(info, datetime.now(UTC), "me", 2, lambda _info: None)
    assert unknown is None, "an unknown state is respected"
    ended = stale_reason(info, datetime.now(UTC), "me", 2, lambda _info: "JOB_STATE_CANCELLED")
    assert ended and "j-1" in ended


def _objects(prefix: str) -> dict[str, bytes]:
    from google.cloud import storage

    client = storage.Client(project="marsad-test")
    return {b.name: b.download_as_bytes() for b in client.list_blobs(BUCKET, prefix=prefix)}


def _staged_objects() -> list[str]:
    return sorted(_objects("staging/"))


def test_launch_error_is_a_marsad_error():
    assert issubclass(LaunchError, MarsadError) and LaunchError.reason == "launch_failed"


# -- Flex Template launches: the launcher describes the job, the service creates it ------------
def test_template_launch_takes_the_lock_by_job_name(service, output, monkeypatch):
    import sys as _sys

    _sys.path.insert(0, str(ROOT / "deploy" / "flex"))
    import marsad_flex

    template = [
        f"--template_location=gs://{BUCKET}/templates/{output.rsplit('/', 1)[1]}/job_object",
        "--job_name=marsad-batch-hourly-1",
    ]
    marsad_flex.submit_batch([*_dataflow_args(service.endpoint, output), *template])
    assert service.jobs == {}, "a template launch only describes the job"
    described = _objects(f"templates/{output.rsplit('/', 1)[1]}/")
    assert len(described) == 1 and b"JOB_TYPE_BATCH" in next(iter(described.values()))
    lock = read_lock(output)
    assert lock.job_name == "marsad-batch-hourly-1" and not lock.job_id

    # The service runs the job: the next hourly launch gives way.
    running = service.add_running_job("marsad-batch-hourly-1")
    next_hour = [*template[:1], "--job_name=marsad-batch-hourly-2"]
    with pytest.raises(MarsadError, match="marsad-batch-hourly-1"):
        marsad_flex.submit_batch([*_dataflow_args(service.endpoint, output), *next_hour])

    # It failed without committing: once it is no longer active, the lock is stale.
    service.set_state(running, "JOB_STATE_FAILED")
    monkeypatch.setattr("pipeline.launch.TEMPLATE_GRACE_S", 0.0)
    marsad_flex.submit_batch([*_dataflow_args(service.endpoint, output), *next_hour])
    assert read_lock(output).job_name == "marsad-batch-hourly-2"


def test_options_the_runner_refuses_are_one_error_line(capsys):
    argv = ["run", "--sources", SOURCES, "--output", "gs://marsad-nowhere/out"]
    argv += ["--runner=DataflowRunner", "--project=p", "--region=europe-west1"]
    argv += ["--temp_location=gs://marsad-nowhere/tmp", "--dry_run=True"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("marsad: error [input_invalid]:") and "Invalid Project ID" in err


@pytest.mark.parametrize("command", ["run", "stream"])
def test_a_local_dry_run_leaves_no_scratch_folder(command, tmp_path):
    """Beam makes a scratch folder for every pipeline built and removes it only when the
    pipeline runs; a dry run never runs it."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", command, "--sources", SOURCES,
         "--output", str(tmp_path / "out"), "--runner=DirectRunner", "--dry_run=True"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(scratch)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "steps: " in done.stdout
    assert list(scratch.iterdir()) == []
    assert not (tmp_path / "out").exists()
