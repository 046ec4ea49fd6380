"""Read the stored conditional-GET state, and stage this run's state for promotion.

The staged file goes to the run's temporary folder; the run's commit
(``transforms/commit.py``) promotes it to ``state/feeds.json`` only when the whole
run succeeded.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from marsad.fetch.feedstate import FeedState, dumps_state, loads_state
from transforms.common import ensure_folder, read_state_file


def feed_state_path(output: str) -> str:
    return FileSystems.join(output, "state", "feeds.json")


def read_feed_state(path: str) -> dict[str, FeedState]:
    return read_state_file(
        path, loads_state, "feed state", "every feed is then fetched in full once"
    )


def merge_states(
    previous: dict[str, FeedState], updates: list[FeedState], hold_back: set[str]
) -> dict[str, FeedState]:
    """New state: updates win, except for feeds with entries to retry (keep the old state)."""
    merged = dict(previous)
    for update in updates:
        if update.feed_url in hold_back:
            continue
        merged[update.feed_url] = update
    return merged


class ReadFeedState(beam.PTransform):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def expand(self, pbegin):
        return (
            pbegin | "StatePath" >> beam.Create([self.path]) | "Read" >> beam.Map(read_feed_state)
        )


def _write_staged(updates, previous, retry_feeds, path):
    merged = merge_states(previous, list(updates), set(retry_feeds))
    folder = path.rsplit("/", 1)[0]
    ensure_folder(folder)
    with FileSystems.create(path) as handle:
        handle.write(dumps_state(merged))
    return path


class StageFeedState(beam.PTransform):
    """(state updates, failures, pending feeds) → staged state file at ``staged_path``.

    Feeds that failed to parse, or that have entries awaiting a retry in the failure
    ledger (``pending``: one element, a list of feed URLs), keep their previous
    state, so the next run lists those entries again. Feeds whose only bad entries
    failed for good are not held back: the ledger remembers those entries.
    """

    def __init__(self, staged_path: str, previous) -> None:
        super().__init__()
        self.staged_path = staged_path
        self.previous = previous

    def expand(self, inputs):
        updates, failures, pending = inputs
        unparsed = (
            failures
            | "FeedLevelParseFailures"
            >> beam.Filter(lambda f: f.stage == "parse_feeds" and not f.entry_key)
            | "FeedOfFailure" >> beam.Map(lambda f: f.feed_url)
        )
        pending_urls = pending | "PendingFeeds" >> beam.FlatMap(lambda urls: urls)
        retry_feeds = (unparsed, pending_urls) | "HoldBack" >> beam.Flatten()
        return (
            updates
            | "Collect" >> beam.combiners.ToList()
            | "Write"
            >> beam.Map(
                _write_staged,
                previous=self.previous,
                retry_feeds=beam.pvalue.AsList(retry_feeds),
                path=self.staged_path,
            )
        )
