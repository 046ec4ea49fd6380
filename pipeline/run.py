"""Run the batch pipeline once: validate sources, build, run, write the manifest."""

from __future__ import annotations

import json
import platform
import secrets
import time
from datetime import UTC, datetime
from importlib import metadata

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from marsad.errors import SourcesError
from marsad.sources import load_sources
from pipeline.graph import build_batch, staged_state_path
from pipeline.options import MarsadOptions
from pipeline.report import accounting, collect_counts, collect_timings
from transforms.feed_state import feed_state_path
from transforms.write import tmp_dir

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


def run_batch(argv: list[str]) -> dict:
    """Run once and return the manifest (also written to ``runs/<run_id>.json``)."""
    options = pipeline_options(argv)
    marsad = options.view_as(MarsadOptions)
    if not marsad.sources or not marsad.output:
        raise SourcesError("both --sources and --output are required")
    feeds = load_sources(marsad.sources)
    run_id = marsad.run_id or new_run_id()
    marsad.run_id = run_id
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    _remove_stale_tmp(marsad.output)

    pipeline = beam.Pipeline(options=options)
    build_batch(pipeline, feeds, marsad, run_id)
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
    if manifest["status"].endswith("DONE"):
        _promote(staged_state_path(marsad.output, run_id), feed_state_path(marsad.output))
    _remove_tmp(marsad.output, run_id)
    write_manifest(marsad.output, manifest)
    return manifest


def _promote(staged: str, final: str) -> None:
    """Replace ``final`` with ``staged`` (state is committed only after a good run)."""
    if not FileSystems.exists(staged):
        return
    folder = final.rsplit("/", 1)[0]
    if not FileSystems.exists(folder):
        FileSystems.mkdirs(folder)
    if FileSystems.exists(final):
        FileSystems.delete([final])
    FileSystems.rename([staged], [final])


def _remove_stale_tmp(output: str) -> None:
    """Drop what an aborted earlier run left in ``_tmp/`` (only one run holds the output)."""
    folder = FileSystems.join(output, "_tmp")
    if FileSystems.exists(folder):
        FileSystems.delete([folder])


def _remove_tmp(output: str, run_id: str) -> None:
    folder = tmp_dir(output, run_id)
    if FileSystems.exists(folder):
        FileSystems.delete([folder])
    parent = FileSystems.join(output, "_tmp")
    if (
        FileSystems.exists(parent)
        and not FileSystems.match([FileSystems.join(parent, "*")])[0].metadata_list
    ):
        FileSystems.delete([parent])


def write_manifest(output: str, manifest: dict) -> str:
    folder = FileSystems.join(output, "runs")
    if not FileSystems.exists(folder):
        FileSystems.mkdirs(folder)
    path = FileSystems.join(folder, f"{manifest['run_id']}.json")
    with FileSystems.create(path) as handle:
        handle.write(
            json.dumps(manifest, indent=2, ensure_ascii=False, default=str).encode("utf-8")
        )
    return path
