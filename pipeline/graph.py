"""The batch graph, read top to bottom: one named step per stage (see ARCHITECTURE.md)."""

from __future__ import annotations

from functools import partial

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline.options import (
    MarsadOptions,
    dedup_config,
    fetch_config,
    ledger_config,
    max_text_chars,
    politeness_config,
    sitemap_config,
    worker_count,
)
from schemas.records import SourceFeed
from schemas.tables import ARTICLES_PARTITION, ARTICLES_SCHEMA, FAILURES_PARTITION, FAILURES_SCHEMA
from transforms.canonicalize import Canonicalize
from transforms.commit import CommitRun
from transforms.dedup_near import ClusterNearDuplicates
from transforms.dedup_urls import DedupUrls
from transforms.discover import DiscoverSources
from transforms.extract import ExtractArticles
from transforms.failure_ledger import ReadLedger, RememberFailures, StageLedger, ledger_path
from transforms.feed_state import ReadFeedState, StageFeedState, feed_state_path
from transforms.fetch_articles import FetchArticles
from transforms.fetch_feeds import FetchFeeds
from transforms.parse_feeds import ParseFeeds
from transforms.stored_check import CheckStoredFiles
from transforms.stored_texts import ReadStoredTexts
from transforms.tag import TagTopic, tag_ahead
from transforms.write import WriteDataset, tmp_dir


def staged_state_path(output: str, run_id: str) -> str:
    return FileSystems.join(tmp_dir(output, run_id), "feeds.json")


def staged_ledger_path(output: str, run_id: str) -> str:
    return FileSystems.join(tmp_dir(output, run_id), "entries.json")


def warc_dir(output: str, run_id: str) -> str:
    return FileSystems.join(output, "warc", run_id)


def build_batch(
    pipeline: beam.Pipeline,
    feeds: list[SourceFeed],
    options: MarsadOptions,
    run_id: str,
    lock_token: str = "",
) -> None:
    """The batch graph. ``lock_token``: the output lock a remote launch took for this job,
    released by the commit step (a local run's driver holds and releases its own)."""
    output = options.output
    config = fetch_config(options)
    politeness = politeness_config(options)
    archive = warc_dir(output, run_id) if options.warc else None

    dedup = dedup_config(options)
    retry = ledger_config(options)
    # Unreadable files of earlier runs: reported and quarantined, not a crash.
    corrupt_files, quarantine = pipeline | "CheckStoredFiles" >> CheckStoredFiles(output, run_id)
    # Every stored id (so reruns add nothing); texts of the look-back window (so a copy
    # published today joins last week's cluster); older rows by content hash only.
    stored = pipeline | "ReadStoredTexts" >> ReadStoredTexts(
        FileSystems.join(output, "articles"), dedup.lookback_days
    )
    feed_state = beam.pvalue.AsSingleton(
        pipeline | "ReadFeedState" >> ReadFeedState(feed_state_path(output))
    )
    ledger = beam.pvalue.AsSingleton(pipeline | "ReadLedger" >> ReadLedger(ledger_path(output)))
    sitemaps = sitemap_config(options)
    sources = pipeline | "Sources" >> beam.Create(feeds)
    # site: outlets become the feeds and sitemaps found on their homepages.
    polled, discover_failures, discovered = sources | "DiscoverSources" >> DiscoverSources(
        run_id, config, politeness, feed_state
    )
    fetched, fetch_failures_feeds, fetch_states = polled | "FetchFeeds" >> FetchFeeds(
        run_id, config, politeness, feed_state, archive, sitemaps
    )
    feed_failures = (discover_failures, fetch_failures_feeds) | "FeedFailures" >> beam.Flatten()
    state_updates = (discovered, fetch_states) | "StateUpdates" >> beam.Flatten()
    entries, parse_failures = fetched | "ParseFeeds" >> ParseFeeds(run_id, sitemaps)
    canonical, url_failures = entries | "Canonicalize" >> Canonicalize(run_id)
    new_entries = (canonical, stored) | "DedupUrls" >> DedupUrls(ledger)
    pages, fetch_failures = new_entries | "FetchArticles" >> FetchArticles(
        run_id, config, politeness, archive
    )
    workers = worker_count(options)
    extracted, extract_failures = pages | "Extract" >> ExtractArticles(
        run_id, options.min_chars, max_text_chars(options), workers
    )
    # Tagging reads only the cleaned text: it runs in the cleaning's worker call, and
    # the Tag step makes the rows (or failure rows) from what it carries.
    tag_in_cleaning = partial(
        tag_ahead, topic_path=options.topic, threshold=options.topic_threshold
    )
    clustered = (extracted, stored) | "ClusterDuplicates" >> ClusterNearDuplicates(
        dedup, workers, after=tag_in_cleaning
    )
    tagged, tag_failures = clustered | "Tag" >> TagTopic(
        run_id, options.topic_threshold, options.topic, workers
    )

    articles_written = tagged | "WriteArticles" >> WriteDataset(
        "articles", output, run_id, ARTICLES_SCHEMA, ARTICLES_PARTITION
    )
    entry_failures = (
        url_failures,
        fetch_failures,
        extract_failures,
        tag_failures,
    ) | "EntryFailures" >> beam.Flatten()
    failures = (
        feed_failures,
        parse_failures,
        entry_failures,
        corrupt_files,
    ) | "AllFailures" >> beam.Flatten()
    # Rows only for what the ledger does not know yet; a no-change rerun adds none.
    failure_rows, ledger_updates = failures | "RememberFailures" >> RememberFailures(ledger, retry)
    failures_written = failure_rows | "WriteFailures" >> WriteDataset(
        "failures", output, run_id, FAILURES_SCHEMA, FAILURES_PARTITION
    )
    succeeded = tagged | "SucceededIds" >> beam.Map(lambda article: article.article_id)
    fetched_feeds = state_updates | "FetchedFeeds" >> beam.Map(lambda state: state.feed_url)
    pending = (ledger_updates, succeeded, fetched_feeds) | "StageLedger" >> StageLedger(
        staged_ledger_path(output, run_id), ledger
    )
    staged = (state_updates, failures, pending) | "StageFeedState" >> StageFeedState(
        staged_state_path(output, run_id), feed_state
    )
    _ = (articles_written, failures_written, quarantine, staged) | "CommitRun" >> CommitRun(
        run_id,
        output,
        [
            (staged_state_path(output, run_id), feed_state_path(output)),
            (staged_ledger_path(output, run_id), ledger_path(output)),
        ],
        tmp_dir(output, run_id),
        reset_states=[feed_state_path(output)],
        lock_token=lock_token,
    )
