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

Options after the marsad ones go to Beam unchanged (``--runner``, ``--project``,
``--direct_running_mode`` ...). Without ``--runner`` the local FnApiRunner runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile

from marsad.errors import MarsadError
from pipeline.dedup_cmd import add_dedup_parser, add_eval_dedup_parser, run_dedup, run_eval_dedup
from pipeline.options import add_marsad_arguments
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marsad",
        description="marsad (مرصد) watches news feeds and builds a deduplicated, topic-tagged "
        "Parquet corpus on US and coalition troops in Iraq.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="Log at INFO level.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="Run the batch pipeline once on a sources file.",
        description="Fetch every feed, fetch and extract new articles, deduplicate, tag, and "
        "append to the Parquet dataset in --output. Unknown options are passed to Beam "
        "(e.g. --runner=DataflowRunner --project=P --region=R --temp_location=gs://B/tmp).",
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
        default="15m",
        help="Time between run starts with --watch: 90s, 15m, 1h (default 15m).",
    )

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

    demo = commands.add_parser(
        "demo",
        help="Serve the bundled offline sample site on loopback and run the pipeline on it.",
        description="Starts the sample news site (11 outlets on 127.77.0.x), runs the batch "
        "pipeline against it, prints the run summary and stops the site. Running it twice on "
        "the same --output adds no new article rows.",
    )
    demo.add_argument("--output", default="out", help="Output folder (default ./out).")
    demo.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("MARSAD_SAMPLE_PORT", "8765")),
        help="Port of the sample outlets (default 8765 or $MARSAD_SAMPLE_PORT). Keep it fixed "
        "between runs: article ids derive from URLs.",
    )

    serve = commands.add_parser("serve-sample", help="Serve the sample site until interrupted.")
    serve.add_argument("--port", type=int, default=8765, help="Port (default 8765).")
    serve.add_argument("--sources-out", help="Also write a sources YAML for it to this path.")

    add_dedup_parser(commands)
    add_tag_parser(commands)
    add_report_parser(commands)
    evaluate = commands.add_parser(
        "eval",
        help="Score marsad's clustering or tagging on labelled data.",
        description="Evaluations that print precision, recall and F1.",
    )
    evaluations = evaluate.add_subparsers(dest="evaluation", required=True, metavar="WHAT")
    add_eval_dedup_parser(evaluations)
    add_eval_topic_parser(evaluations)
    train = commands.add_parser(
        "train", help="Fit a model from labelled data.", description="Fit a model."
    )
    add_train_topic_parser(train.add_subparsers(dest="training", required=True, metavar="WHAT"))

    add_sources_parser(commands)
    schema = commands.add_parser("schema", help="Print the output schemas with field descriptions.")
    schema.add_argument("dataset", nargs="?", choices=["articles", "failures"], default="articles")
    return parser


def _run(argv: list[str], wait: bool = False) -> int:
    from pipeline.launch import format_launch
    from pipeline.report import format_summary
    from pipeline.run import run_batch

    manifest = run_batch(argv, wait=wait)
    if manifest["status"] in ("DRY_RUN", "SUBMITTED"):
        print(format_launch(manifest))
        return 0
    print(format_summary(manifest))
    return 0 if manifest["status"].endswith("DONE") and manifest["accounting"]["balanced"] else 1


_CLI_ONLY = ("--watch", "--interval", "--wait", "-v", "--verbose")


def _pipeline_argv(argv: list[str], command: str) -> list[str]:
    """argv minus the subcommand and the options only the CLI understands."""
    result, skip = [], False
    for position, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if position == argv.index(command):
            continue
        name = arg.split("=", 1)[0]
        if name in _CLI_ONLY:
            skip = name == "--interval" and "=" not in arg
            continue
        result.append(arg)
    return result


def _run_command(args: argparse.Namespace, argv: list[str]) -> int:
    pipeline_argv = _pipeline_argv(argv, "run")
    if not args.watch:
        return _run(pipeline_argv, wait=args.wait)
    from pipeline.watch import StopSignal, parse_interval, watch

    interval = parse_interval(args.interval)
    with StopSignal() as stop:
        return watch(lambda: _run(pipeline_argv), interval, stop)


def _stream(argv: list[str]) -> int:
    from pipeline.stream import run_stream

    manifest = run_stream(_pipeline_argv(argv, "stream"))
    if manifest["status"] in ("DRY_RUN", "SUBMITTED"):
        from pipeline.launch import format_launch

        print(format_launch(manifest))
        return 0
    counts = manifest["counts"]
    print(
        f"marsad stream {manifest['run_id']}  status={manifest['status']}  "
        f"polls={manifest['polls']}  articles={counts.get('write_articles.rows', 0)}  "
        f"failures={counts.get('write_failures.rows', 0)}"
    )
    return 0 if manifest["status"].endswith("DONE") else 1


def _demo(args: argparse.Namespace, beam_args: list[str]) -> int:
    from marsad.samplesite import SampleSite

    with SampleSite(port=args.port) as site, tempfile.TemporaryDirectory() as scratch:
        sources = site.write_sources(os.path.join(scratch, "sample-sources.yaml"))
        print(f"sample site: {len(site.outlets)} outlets on {site.host_prefix}.x:{args.port}")
        # The sample outlets live on loopback, which the SSRF guard blocks unless named.
        allow = ["--allow_network", f"{site.host_prefix}.0/24"]
        code = _run(["--sources", sources, "--output", args.output, *allow, *beam_args])
        from marsad.samplesite.showcase import showcase

        print(showcase(args.output, site.outlets))
        return code


def _serve(args: argparse.Namespace) -> int:
    import time

    from marsad.samplesite import SampleSite

    with SampleSite(port=args.port) as site:
        for key, base in site.base_urls.items():
            print(f"{key:10s} {base}")
        if args.sources_out:
            site.write_sources(args.sources_out)
            print(f"sources written to {args.sources_out}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


def _schema(dataset: str) -> int:
    from schemas.tables import ARTICLES_SCHEMA, FAILURES_SCHEMA, describe

    schema = ARTICLES_SCHEMA if dataset == "articles" else FAILURES_SCHEMA
    for name, dtype, doc in describe(schema):
        print(f"{name:22s} {dtype:40s} {doc}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, extra = _parser().parse_known_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "run":
            if not args.sources or not args.output:
                _parser().error("run needs --sources and --output")
            return _run_command(args, argv)
        if args.command == "stream":
            return _stream(argv)
        if args.command == "demo":
            return _demo(args, extra)
        if args.command == "serve-sample":
            return _serve(args)
        if args.command == "dedup":
            return run_dedup(args, extra)
        if args.command == "eval" and args.evaluation == "dedup":
            return run_eval_dedup(args)
        if args.command == "tag":
            return run_tag(args)
        if args.command == "eval" and args.evaluation == "topic":
            return run_eval_topic(args)
        if args.command == "train" and args.training == "topic":
            return run_train_topic(args)
        if args.command == "schema":
            return _schema(args.dataset)
        if args.command == "sources":
            return run_sources(args)
        if args.command == "report":
            return run_report(args)
    except MarsadError as error:
        print(f"marsad: error [{error.reason}]: {error}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
