"""The ``marsad`` command line.

    marsad run --sources SOURCES.yaml --output DIR [beam options]
    marsad demo [--output DIR]
    marsad serve-sample [--port N]
    marsad schema [articles|failures]
    marsad sources FILE [--discover]
    marsad dedup --input FILE --output FILE
    marsad eval dedup
    marsad tag --input FILE --output FILE [--topic TOPIC.yaml]
    marsad train topic [--labels FILE] [--topic TOPIC.yaml]
    marsad eval topic [--labels FILE]
    marsad report OUTPUT [--since DATE] [--out FILE]
    marsad compact OUTPUT [--partition DATASET/COLUMN=VALUE ...]
    marsad prune OUTPUT [--failures-older-than 90d] [--runs-older-than 1y]
    marsad export OUTPUT FILE [--format csv|jsonl|parquet] [--where SQL]

Parsing is strict (``pipeline/argparsing.py``): marsad's options take dashes or
underscores; an option neither marsad nor one of Beam's option classes declares is
an error with a suggestion. A subcommand is a parser added to ``commands`` with a
``handler(args, beam_args) -> int`` default; ``accept_beam_options(parser)`` lets its
leftover options through to Beam once Beam's classes vouch for them. Exit codes are
in ``pipeline/exits.py``. Without ``--runner`` the local FnApiRunner runs.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
import os
import platform
import sys
import tempfile
import traceback
from importlib import metadata

from marsad.errors import MarsadError, UsageError
from pipeline.argparsing import (
    StrictParser,
    accept_beam_options,
    check_leftovers,
    command_parser,
)
from pipeline.exits import EXIT_CODES_HELP, ExitCode, exit_code_for, print_error
from pipeline.lean_imports import skip_cloud_clients

_OWN_LOGGERS = ("marsad", "pipeline", "transforms", "schemas")


def version_text() -> str:
    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "unknown"

    return (
        f"marsad {version('marsad')} (apache-beam {version('apache-beam')}, "
        f"Python {platform.python_version()})"
    )


def _interval(text: str) -> float:
    from pipeline.watch import parse_interval

    try:
        return parse_interval(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> StrictParser:
    # Subcommand modules import Beam: imported here, after main() has quieted logging.
    from pipeline.dedup_cmd import (
        add_dedup_parser,
        add_eval_dedup_parser,
        run_dedup,
        run_eval_dedup,
    )
    from pipeline.maintain_cmd import add_compact_parser, add_prune_parser, run_compact, run_prune
    from pipeline.options import DEFAULT_MAX_FAILED_FEEDS, add_marsad_arguments
    from pipeline.report_cmd import add_report_parser, run_report
    from pipeline.sources_cmd import add_sources_parser, run_sources
    from pipeline.topic_cmd import (
        add_eval_topic_parser,
        add_tag_parser,
        add_train_topic_parser,
        run_eval_topic,
        run_tag,
        run_train_topic,
    )

    parser = StrictParser(
        prog="marsad",
        description="marsad (مرصد) watches news feeds and builds a deduplicated, topic-tagged "
        "Parquet corpus on US and coalition troops in Iraq.",
        epilog=EXIT_CODES_HELP,
    )
    parser.set_defaults(verbose=0, quiet=False)
    parser.add_argument("--version", action="version", version=version_text())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="Run the batch pipeline once on a sources file.",
        description="Fetch every feed, fetch and extract new articles, deduplicate, tag, and "
        "append to the Parquet dataset in --output. Beam's own options are accepted too "
        "(e.g. --runner=DataflowRunner --project=P --region=R --temp_location=gs://B/tmp); "
        "any other option is an error. Options take dashes or underscores.",
        epilog=EXIT_CODES_HELP,
    )
    add_marsad_arguments(run)
    run.add_argument(
        "--watch",
        action="store_true",
        help="Repeat the run every --interval until SIGINT/SIGTERM (the current run completes).",
    )
    run.add_argument(
        "--wait",
        action="store_true",
        help="On a remote runner (Dataflow): wait for the submitted job to end and print "
        "its summary from the job's metrics (default: print the job id and return).",
    )
    run.add_argument(
        "--interval",
        default=_interval("15m"),
        type=_interval,
        help="Time between run starts with --watch: 90s, 15m, 1h (default 15m).",
    )
    accept_beam_options(run).set_defaults(handler=_run_command)

    stream = commands.add_parser(
        "stream",
        help="Run the streaming pipeline (Dataflow; locally bounded by --max_polls).",
        description="Poll feeds continuously with a PeriodicImpulse; per-feed and dedup state "
        "live in keyed Beam state; output is written per fixed window. On Dataflow pass "
        "--runner=DataflowRunner (streaming is switched on). Locally the FnApiRunner needs "
        "--max_polls and writes windows when the polls end; prefer `marsad run --watch`.",
    )
    add_marsad_arguments(stream)
    from pipeline.stream import add_stream_arguments

    add_stream_arguments(stream)
    accept_beam_options(stream).set_defaults(handler=_stream)

    demo = commands.add_parser(
        "demo",
        help="Serve the bundled offline sample site on loopback and run the pipeline on it.",
        description="Starts the sample news site (11 outlets on 127.77.0.x), runs the batch "
        "pipeline against it, prints the run summary and stops the site. Running it twice on "
        "the same --output adds no new article rows.",
        epilog=EXIT_CODES_HELP,
    )
    demo.add_argument("--output", default="out", help="Output folder (default ./out).")
    demo.add_argument(
        "--port",
        type=int,
        default=None,
        help="Port of the sample outlets. Default: the port earlier demo runs on --output "
        "used (remembered in OUTPUT/state/sample_site.json, since article ids derive from "
        "URLs), else 8765 if free, else any free port.",
    )
    demo.add_argument(
        "--max_failed_feeds",
        type=float,
        default=DEFAULT_MAX_FAILED_FEEDS,
        help=f"As for `marsad run` (default {DEFAULT_MAX_FAILED_FEEDS}).",
    )
    accept_beam_options(demo).set_defaults(handler=_demo)

    serve = commands.add_parser("serve-sample", help="Serve the sample site until interrupted.")
    serve.add_argument(
        "--port", type=int, default=None, help="Port (default 8765 if free, else any free one)."
    )
    serve.add_argument("--sources-out", help="Also write a sources YAML for it to this path.")
    serve.set_defaults(handler=lambda args, _beam: _serve(args))

    accept_beam_options(add_dedup_parser(commands)).set_defaults(handler=_table_command(run_dedup))
    add_tag_parser(commands).set_defaults(handler=_table_command(lambda args, _beam: run_tag(args)))
    add_report_parser(commands)
    commands.choices["report"].set_defaults(handler=lambda args, _beam: run_report(args))
    add_compact_parser(commands).set_defaults(handler=lambda args, _beam: run_compact(args))
    add_prune_parser(commands).set_defaults(handler=lambda args, _beam: run_prune(args))
    evaluate = commands.add_parser(
        "eval",
        help="Score marsad's clustering or tagging on labelled data.",
        description="Evaluations that print precision, recall and F1.",
    )
    evaluations = evaluate.add_subparsers(dest="evaluation", required=True, metavar="WHAT")
    add_eval_dedup_parser(evaluations).set_defaults(handler=lambda args, _: run_eval_dedup(args))
    add_eval_topic_parser(evaluations).set_defaults(handler=lambda args, _: run_eval_topic(args))
    train = commands.add_parser(
        "train", help="Fit a model from labelled data.", description="Fit a model."
    )
    add_train_topic_parser(
        train.add_subparsers(dest="training", required=True, metavar="WHAT")
    ).set_defaults(handler=lambda args, _: run_train_topic(args))

    from pipeline.export_cmd import add_export_parser, run_export

    add_export_parser(commands).set_defaults(handler=lambda args, _beam: run_export(args))

    add_sources_parser(commands)
    commands.choices["sources"].set_defaults(handler=lambda args, _beam: run_sources(args))
    schema = commands.add_parser("schema", help="Print the output schemas with field descriptions.")
    schema.add_argument("dataset", nargs="?", choices=["articles", "failures"], default="articles")
    schema.set_defaults(handler=lambda args, _beam: _schema(args.dataset))
    return parser


def _table_command(handler):
    """A table-in, table-out command: both paths checked before the (slow) work."""
    from pipeline.tables import input_format, output_format

    def checked(args: argparse.Namespace, beam_args: list[str]) -> int:
        input_format(args.input)
        output_format(args.output)
        if hasattr(args, "topic"):
            from pipeline.preflight import check_topic

            check_topic(args.topic, getattr(args, "weights", None))
        return handler(args, beam_args)

    return checked


def pipeline_flags(args: argparse.Namespace, declare) -> list[str]:
    """The pipeline options of ``args`` (as declared by ``declare(parser)``) as Beam flags.

    Only values that differ from their default are written, spelt as declared, so
    ``PipelineOptions`` parses exactly what the strict parser accepted.
    """
    reference = argparse.ArgumentParser(add_help=False)
    declare(reference)
    flags: list[str] = []
    for action in reference._actions:
        if not action.option_strings or not hasattr(args, action.dest):
            continue
        value = getattr(args, action.dest)
        if value == action.default:
            continue
        option = next((o for o in action.option_strings if o.startswith("--")), None)
        if option is None:
            continue
        if action.nargs == 0:  # store_true / store_false: the flag alone says it
            flags.append(option)
        elif isinstance(value, list):
            flags += [f"{option}={item}" for item in value]
        else:
            flags.append(f"{option}={value}")
    return flags


def _run(pipeline_argv: list[str], quiet: bool = False, wait: bool = False) -> int:
    """One batch run; the summary ends with the outcome, whose exit code is returned.

    A remote launch (Dataflow) returns once submitted, unless ``wait``: exit 0 means
    the job was accepted; with ``--wait`` the job's outcome decides as for a local run.
    """
    from pipeline.launch import format_launch
    from pipeline.outcome import sentence
    from pipeline.progress import live_progress
    from pipeline.report import format_summary
    from pipeline.run import run_batch

    manifest = run_batch(
        pipeline_argv,
        wait=wait,
        progress=lambda options, feeds: live_progress(options, feeds, quiet),
    )
    if manifest["status"] in ("DRY_RUN", "SUBMITTED"):
        if not quiet:
            print(format_launch(manifest))
        return ExitCode.OK
    outcome = manifest["outcome"]
    if not quiet:
        print(format_summary(manifest), flush=True)
    elif outcome["exit_code"] != ExitCode.OK:
        print(f"marsad: {sentence(outcome)}", file=sys.stderr)
    return ExitCode(outcome["exit_code"])


def _run_command(args: argparse.Namespace, beam_args: list[str]) -> int:
    if not args.sources or not args.output:
        missing = [name for name in ("--sources", "--output") if not getattr(args, name[2:])]
        raise UsageError(
            f"`marsad run` needs {' and '.join(missing)}",
            reason="option_missing",
            hint="e.g. marsad run --sources marsad/sources/default.yaml --output data/",
        )
    from pipeline.options import add_marsad_arguments

    pipeline_argv = pipeline_flags(args, add_marsad_arguments) + beam_args
    if not args.watch:
        return _run(pipeline_argv, args.quiet, args.wait)
    from pipeline.watch import StopSignal, watch

    with StopSignal() as stop:
        return watch(lambda: _run(pipeline_argv, args.quiet, args.wait), args.interval, stop)


def _stream(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.options import add_marsad_arguments
    from pipeline.stream import add_stream_arguments, run_stream

    def declare(parser):
        add_marsad_arguments(parser)
        add_stream_arguments(parser)

    manifest = run_stream(pipeline_flags(args, declare) + beam_args)
    if manifest["status"] in ("DRY_RUN", "SUBMITTED"):
        from pipeline.launch import format_launch

        print(format_launch(manifest))
        return ExitCode.OK
    counts = manifest["counts"]
    print(
        f"marsad stream {manifest['run_id']}  status={manifest['status']}  "
        f"polls={manifest['polls']}  articles={counts.get('write_articles.rows', 0)}  "
        f"failures={counts.get('write_failures.rows', 0)}"
    )
    return ExitCode.OK if manifest["status"].endswith("DONE") else ExitCode.FAILED


def _demo(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.demo import remember_port, start_sample_site
    from pipeline.options import DEFAULT_MAX_FAILED_FEEDS
    from pipeline.preflight import check_output_folder

    check_output_folder(args.output)
    site = start_sample_site(args.port, args.output)
    try:
        remember_port(args.output, site.port)
        with tempfile.TemporaryDirectory() as scratch:
            sources = site.write_sources(os.path.join(scratch, "sample-sources.yaml"))
            if not args.quiet:
                print(
                    f"sample site: {len(site.outlets)} outlets on {site.host_prefix}.x:{site.port}"
                )
            # The sample outlets live on loopback, which the SSRF guard blocks unless named.
            allow = ["--allow_network", f"{site.host_prefix}.0/24"]
            demo_argv = ["--sources", sources, "--output", args.output, *allow]
            if args.max_failed_feeds != DEFAULT_MAX_FAILED_FEEDS:
                demo_argv.append(f"--max_failed_feeds={args.max_failed_feeds}")
            code = _run([*demo_argv, *beam_args], args.quiet)
            if not args.quiet:
                from marsad.samplesite.showcase import showcase

                print(showcase(args.output, site.outlets))
            return code
    finally:
        site.stop()


def _serve(args: argparse.Namespace) -> int:
    import time

    from pipeline.demo import start_sample_site

    site = start_sample_site(args.port)
    try:
        for key, base in site.base_urls.items():
            print(f"{key:10s} {base}", flush=True)
        if args.sources_out:
            site.write_sources(args.sources_out)
            print(f"sources written to {args.sources_out}", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return ExitCode.OK
    finally:
        site.stop()


def _schema(dataset: str) -> int:
    from schemas.tables import ARTICLES_SCHEMA, FAILURES_SCHEMA, describe

    schema = ARTICLES_SCHEMA if dataset == "articles" else FAILURES_SCHEMA
    for name, dtype, doc in describe(schema):
        print(f"{name:22s} {dtype:40s} {doc}")
    return 0


def configure_logging(verbose: int, quiet: bool) -> None:
    """marsad's warnings; -v: its INFO lines (and others' warnings); -vv: Beam's INFO too.

    -q: errors only. Beam and libraries (trafilatura) are quiet by default: their
    warnings are about pages, which the failures dataset already records.
    """
    own = logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING
    if quiet:
        others = logging.CRITICAL
    else:
        others = {0: logging.ERROR, 1: logging.WARNING}.get(verbose, logging.INFO)
    logging.basicConfig(level=others, format="%(levelname)s %(name)s: %(message)s", force=True)
    for name in _OWN_LOGGERS:
        logging.getLogger(name).setLevel(own)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:  # answered before the parser imports Beam (3 s of CPU)
        print(version_text())
        return 0
    # Importing Beam without its gcp extra (the demo's install) logs a warning through
    # the root logger, which would configure itself to print it: give it a handler
    # that drops it until configure_logging() sets up the real one.
    if not logging.getLogger().handlers:
        logging.getLogger().addHandler(logging.NullHandler())
    parser = build_parser()
    verbose = 0
    try:
        args, leftovers = parser.parse_known_args(argv)
        verbose, quiet = args.verbose, args.quiet
        configure_logging(verbose, quiet)
        beam_args = check_leftovers(leftovers, args, command_parser(args, parser))
        return int(args.handler(args, beam_args))
    except SystemExit as exit_:  # --help and --version
        return exit_.code if isinstance(exit_.code, int) else 0
    except MarsadError as error:
        print_error(error)
        return exit_code_for(error)
    except KeyboardInterrupt:
        print("marsad: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as error:  # a bug: say so in one line; the traceback with -v
        if verbose:
            traceback.print_exc()
        print(
            f"marsad: error [internal_error]: unexpected {type(error).__name__}: {error}",
            file=sys.stderr,
        )
        print(
            "  hint: this is a bug in marsad; rerun with -v for the traceback and report it",
            file=sys.stderr,
        )
        return ExitCode.FAILED


def console() -> None:
    """The ``marsad`` command: :func:`main`, then exit without tearing the interpreter down.

    A run leaves a large heap behind (Beam's graph, runner and modules); Python's own
    exit would free it object by object: about a second of CPU and of wall time after a
    500-page run's work is done and its output written. The exit handlers
    still run (logging, the worker pool, temporary files); only that teardown is
    skipped, as large CLIs do (docs/performance.md, tenth round). A command that cannot
    use Google Cloud starts without its client libraries (``pipeline/lean_imports.py``)."""
    skip_cloud_clients(sys.argv[1:])
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BrokenPipeError, ValueError):  # reader gone, or closed
            stream.flush()
    atexit._run_exitfuncs()
    os._exit(int(code))


if __name__ == "__main__":
    console()
