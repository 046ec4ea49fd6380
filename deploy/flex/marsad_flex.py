"""What the Flex Template entry points share: argv from the launcher, submit-only runs.

The Dataflow template launcher runs ``main_batch.py`` / ``main_stream.py`` with
the template parameters as ``--name=value`` plus Dataflow's own options,
including ``--template_location=gs://.../job_object``: the program is expected to
*build and describe* the job, not to run it. Beam then writes the job file and
returns a result with no job (its state reads DONE immediately, its metrics
cannot be queried), and the launcher submits the job after the program exits.
So on Dataflow these entry points build the graph and return; they do not wait,
query metrics, promote the staged feed state or write a manifest as ``marsad
run`` does locally (see deploy/README.md, "What differs on Dataflow"). With a
local runner they simply run ``marsad run`` / ``marsad stream``.

Booleans: the launcher passes every parameter with a value (``--warc=true``),
which an argparse ``store_true`` flag rejects; ``template_argv`` turns those
into bare flags (or drops them when false).
"""

from __future__ import annotations

import argparse
import logging
from importlib import resources

TRUE = {"true", "yes", "on", "1"}
FALSE = {"false", "no", "off", "0", ""}

_log = logging.getLogger("marsad.flex")


def _parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    from pipeline.options import add_marsad_arguments
    from pipeline.stream import add_stream_arguments

    batch = argparse.ArgumentParser(add_help=False)
    add_marsad_arguments(batch)
    stream = argparse.ArgumentParser(add_help=False)
    add_marsad_arguments(stream)
    add_stream_arguments(stream)
    return batch, stream


def pipeline_parameters(mode: str) -> list[argparse.Action]:
    """marsad's own options for ``mode`` ("batch" or "stream"), as argparse actions."""
    batch, stream = _parsers()
    parser = batch if mode == "batch" else stream
    return [a for a in parser._actions if a.option_strings and a.dest != "help"]


def boolean_flags() -> set[str]:
    """Option strings of every on/off flag (``store_true``), batch and stream."""
    _, stream = _parsers()
    return {
        option
        for action in stream._actions
        if isinstance(action, argparse._StoreTrueAction)
        for option in action.option_strings
    }


def template_argv(argv: list[str], flags: set[str] | None = None) -> list[str]:
    """The launcher's argv made acceptable to argparse.

    ``--flag=true`` becomes ``--flag``, ``--flag=false`` is dropped, and an
    optional parameter passed empty (``--topic=``) is dropped so its default holds.
    """
    flags = boolean_flags() if flags is None else flags
    result = []
    for arg in argv:
        name, has_value, value = arg.partition("=")
        if has_value and name in flags:
            lowered = value.strip().lower()
            if lowered in TRUE:
                result.append(name)
            elif lowered not in FALSE:
                raise SystemExit(f"{name} takes true or false, got {value!r}")
            continue
        if has_value and name.startswith("--") and value == "":
            continue
        result.append(arg)
    return result


def default_sources() -> str:
    """The outlet list bundled with the installed package."""
    return str(resources.files("marsad") / "sources" / "default.yaml")


def _with_default_sources(argv: list[str]) -> list[str]:
    if any(a == "--sources" or a.startswith("--sources=") for a in argv):
        return argv
    return [*argv, f"--sources={default_sources()}"]


def is_dataflow(options) -> bool:
    from apache_beam.options.pipeline_options import StandardOptions

    return "Dataflow" in str(options.view_as(StandardOptions).runner or "")


def _report(result, run_id: str) -> None:
    job = getattr(result, "_job", None)
    if job is not None and getattr(job, "id", None):
        _log.info("marsad run %s submitted as Dataflow job %s", run_id, job.id)
    else:
        _log.info("marsad run %s: job described (template launch or dry run)", run_id)


def submit_batch(argv: list[str]):
    """Build the batch graph and hand it to the runner without waiting (Dataflow).

    A real launch takes the output lock for the job (``pipeline/launch.py``): the
    launcher records the job's name, and the job's commit step releases the lock and
    writes ``runs/<run_id>.json`` (``transforms/commit.py``). A dry run builds the job
    request offline and returns Beam's result (its ``job`` is the request).
    """
    from pipeline import launch
    from pipeline.run import pipeline_options, prepare_batch, run_batch

    # run_id from the clock: a fixed launch body (Cloud Scheduler) is fine.
    if launch.is_dry_run(pipeline_options(argv)):
        pipeline, options, _marsad, _feeds, run_id = prepare_batch(argv)
        with launch.own_temp_folder(options):
            result = pipeline.run()
        _report(result, run_id)
        return result
    record = run_batch(argv)
    _log.info(launch.format_launch(record))
    return record


def submit_stream(argv: list[str]):
    """Build the streaming graph (unbounded PeriodicImpulse) and submit it (Dataflow)."""
    from apache_beam.options.pipeline_options import StandardOptions

    from pipeline import launch
    from pipeline.run import pipeline_options
    from pipeline.stream import prepare_stream, run_stream

    argv = [*argv, "--streaming"]
    if launch.is_dry_run(pipeline_options(argv)):
        pipeline, _marsad, _stream, run_id, _start = prepare_stream(argv)
        pipeline.options.view_as(StandardOptions).streaming = True
        with launch.own_temp_folder(pipeline.options):
            result = pipeline.run()
        _report(result, run_id)
        return result
    record = run_stream(argv)
    _log.info(launch.format_launch(record))
    return record


def main_batch(argv: list[str]) -> int:
    from pipeline.run import pipeline_options

    argv = _with_default_sources(template_argv(argv))
    if is_dataflow(pipeline_options(argv)):
        submit_batch(argv)
        return 0
    from pipeline.cli import main

    return main(["run", *argv])


def main_stream(argv: list[str]) -> int:
    from pipeline.run import pipeline_options

    argv = _with_default_sources(template_argv(argv))
    if is_dataflow(pipeline_options(argv)):
        submit_stream(argv)
        return 0
    from pipeline.cli import main

    return main(["stream", *argv])
