"""Streaming mode: the same stages as the batch run, driven by a periodic impulse,
with per-feed and dedup state in keyed Beam state instead of files.

Where it runs: on Dataflow (``--runner=DataflowRunner --streaming``) ``marsad
stream`` is a true unbounded job. Locally the FnApiRunner executes the same graph
only with a bounded impulse (``--max_polls``): it polls in real time, but windows
are written when the impulse finishes (BEAM_NOTES), so it behaves like a batch
over the whole duration. For continuous local use prefer ``marsad run --watch``.

Windowing: stateful steps (per-feed polling, first-seen ids, content clusters)
run in the global window, so their state spans the job; steps that group (by
host for polite fetching, by partition for writing) run in fixed windows of
poll time.
"""

from __future__ import annotations

import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.transforms import window
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.typehints import Any, Tuple
from apache_beam.utils.timestamp import MAX_TIMESTAMP

from marsad.errors import UsageError
from marsad.workers import trimming_heap
from pipeline.options import (
    MarsadOptions,
    dedup_config,
    fetch_config,
    max_text_chars,
    politeness_config,
    sitemap_config,
    worker_count,
)
from schemas.records import SourceFeed
from schemas.tables import ARTICLES_PARTITION, ARTICLES_SCHEMA, FAILURES_PARTITION, FAILURES_SCHEMA
from transforms.canonicalize import Canonicalize
from transforms.common import FAILURES
from transforms.extract import ExtractArticles
from transforms.fetch_articles import FetchArticles
from transforms.stored_texts import ReadStoredTexts
from transforms.stream_neardup import StreamClusterDuplicates
from transforms.stream_state import SEED, FirstSeenFn, PollFeedFn
from transforms.tag import TagTopic
from transforms.write_windowed import WriteWindowed

STREAM_LOCK_TTL_S = 365 * 24 * 3600.0
"""A streaming job holds its output while it runs, which has no set end."""


def add_stream_arguments(parser) -> None:
    add = parser.add_argument
    add("--poll_interval", type=float, default=900.0, help="Seconds between polls (default 900).")
    add(
        "--window_size",
        type=float,
        default=300.0,
        help="Seconds of poll time per output window / set of files (default 300).",
    )
    add(
        "--state_ttl_days",
        type=float,
        default=14.0,
        help="Days an article id or content hash is remembered for dedup (default 14).",
    )
    add(
        "--dedup_settle_minutes",
        type=float,
        default=60.0,
        help="Minutes of event time an article waits before its duplicate decision, so copies "
        "arriving close together are decided together as in batch (default 60; 0 decides "
        "on arrival; see docs/streaming.md).",
    )
    add(
        "--seed_from_output",
        action="store_true",
        default=False,
        help="Start with the ids and hashes already in --output (switching from batch).",
    )
    add(
        "--max_polls",
        type=int,
        default=0,
        help="Stop after this many polls (0 = run until cancelled; local runs need a bound).",
    )


class StreamOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        add_stream_arguments(parser)


def _with_feed_key(feeds: list[SourceFeed]):
    def emit(_tick):
        for feed in feeds:
            yield feed.feed_url, feed

    return emit


def build_stream(
    ticks: beam.PCollection,
    feeds: list[SourceFeed],
    options: MarsadOptions,
    stream: StreamOptions,
    run_id: str,
) -> None:
    """Build the streaming graph downstream of ``ticks`` (PeriodicImpulse or TestStream)."""
    pipeline = ticks.pipeline
    output = options.output
    config = fetch_config(options)
    politeness = politeness_config(options)
    ttl = stream.state_ttl_days * 24 * 3600
    fixed = window.FixedWindows(stream.window_size)

    polls = (
        ticks
        | "GlobalForState" >> beam.WindowInto(window.GlobalWindows())
        | "EmitFeeds" >> beam.FlatMap(_with_feed_key(feeds)).with_output_types(Tuple[str, Any])
    )
    poll = PollFeedFn(run_id, config, politeness, sitemap_config(options))
    polled = polls | "PollFeeds" >> beam.ParDo(poll).with_outputs(FAILURES, main="main")
    canonical, url_failures = polled.main | "Canonicalize" >> Canonicalize(run_id)
    keyed = canonical | "KeyById" >> beam.Map(lambda e: (e.article_id, e)).with_output_types(
        Tuple[str, Any]
    )
    stored = None
    if stream.seed_from_output:
        stored = pipeline | "SeedFromOutput" >> ReadStoredTexts(
            FileSystems.join(output, "articles"), lookback_days=stream.state_ttl_days
        )
        id_seeds = stored | "IdSeeds" >> beam.Map(lambda s: (s.article_id, SEED)).with_output_types(
            Tuple[str, Any]
        )
        keyed = (keyed, id_seeds) | "WithIdSeeds" >> beam.Flatten()
    new_entries = keyed | "FirstSeen" >> beam.ParDo(FirstSeenFn(ttl))

    pages, fetch_failures = (
        new_entries | "WindowForFetch" >> beam.WindowInto(fixed)
    ) | "FetchArticles" >> FetchArticles(run_id, config, politeness)
    workers = worker_count(options)
    extracted, extract_failures = pages | "Extract" >> ExtractArticles(
        run_id, options.min_chars, max_text_chars(options), workers
    )
    clustered = (
        extracted | "GlobalForClusters" >> beam.WindowInto(window.GlobalWindows())
    ) | "ClusterDuplicates" >> StreamClusterDuplicates(
        dedup_config(options), ttl, stored, settle_seconds=stream.dedup_settle_minutes * 60
    )
    tagged, tag_failures = clustered | "Tag" >> TagTopic(
        run_id, options.topic_threshold, options.topic, workers
    )

    _ = tagged | "WriteArticles" >> WriteWindowed(
        "articles", output, run_id, ARTICLES_SCHEMA, ARTICLES_PARTITION, stream.window_size
    )
    failures = (
        polled[FAILURES] | "PollFailuresWindow" >> beam.WindowInto(window.GlobalWindows()),
        url_failures | "UrlFailuresWindow" >> beam.WindowInto(window.GlobalWindows()),
        fetch_failures | "FetchFailuresWindow" >> beam.WindowInto(window.GlobalWindows()),
        extract_failures | "ExtractFailuresWindow" >> beam.WindowInto(window.GlobalWindows()),
        tag_failures,
    ) | "AllFailures" >> beam.Flatten()
    _ = failures | "WriteFailures" >> WriteWindowed(
        "failures", output, run_id, FAILURES_SCHEMA, FAILURES_PARTITION, stream.window_size
    )


def prepare_stream(argv: list[str]):
    """The streaming pipeline built from ``argv``: (pipeline, marsad, stream, run_id, start)."""
    from pipeline import launch
    from pipeline.launch import new_pipeline
    from pipeline.preflight import preflight
    from pipeline.run import new_run_id, pipeline_options

    options = pipeline_options(argv)
    marsad = options.view_as(MarsadOptions)
    stream = options.view_as(StreamOptions)
    feeds = preflight(marsad, check_output=not launch.is_dry_run(options))
    run_id = marsad.run_id or new_run_id()
    marsad.run_id = run_id

    if launch.is_remote(options):
        options.view_as(StandardOptions).streaming = True
    elif stream.max_polls <= 0 and not launch.is_dry_run(options):
        raise UsageError(
            "local runners need --max_polls: the local runner writes windows only when the "
            "impulse ends",
            reason="option_missing",
            hint="pass --max_polls N, or use `marsad run --watch` for continuous local polling",
        )
    start = time.time()
    stop = start + stream.poll_interval * (stream.max_polls - 0.5) if stream.max_polls > 0 else None
    pipeline = new_pipeline(options)
    try:
        ticks = pipeline | "Poll" >> PeriodicImpulse(
            start_timestamp=start,
            stop_timestamp=stop if stop is not None else MAX_TIMESTAMP,
            fire_interval=stream.poll_interval,
        )
        build_stream(ticks, feeds, marsad, stream, run_id)
    except BaseException:
        launch.discard_scratch(pipeline)
        raise
    return pipeline, marsad, stream, run_id, start


def run_stream(argv: list[str]) -> dict:
    """Build and run the streaming pipeline; returns the run manifest.

    On a remote runner the unbounded job is submitted under the output lock and a
    launch record returned at once; ``--dry_run`` validates the graph offline.
    """
    from pipeline import launch
    from pipeline.lock import take_lock
    from pipeline.report import collect_counts
    from pipeline.run import pipeline_options, start_workers, versions, write_manifest

    options = pipeline_options(argv)
    if launch.is_dry_run(options) or launch.is_remote(options):
        pipeline, marsad, stream, run_id, start = prepare_stream(argv)
        with launch.scratch_removed(pipeline):
            if launch.is_dry_run(options):
                return launch.dry_run(pipeline, pipeline.options, "stream", run_id)
            # The job never commits: its lock goes stale when the job is seen to have ended.
            lock = take_lock(
                marsad.output,
                run_id,
                ttl_s=STREAM_LOCK_TTL_S,
                job_state=launch.dataflow_job_state(pipeline.options),
            )
            return launch.submit(pipeline, pipeline.options, "stream", run_id, lock)

    pipeline, marsad, stream, run_id, start = prepare_stream(argv)
    start_workers(pipeline.options)
    with launch.scratch_removed(pipeline), trimming_heap():  # heap: a long-running process
        result = pipeline.run()
        state = result.wait_until_finish()
    counts = collect_counts(result)
    manifest = {
        "run_id": run_id,
        "status": str(state),
        "mode": "stream",
        "output": marsad.output,
        "polls": stream.max_polls,
        "counts": counts,
        "timings": {"wall_s": round(time.time() - start, 2), "stages": {}},
        "versions": versions(),
    }
    write_manifest(marsad.output, manifest)
    return manifest
