"""Read the stored conditional-GET state, and stage this run's state for promotion.

The staged file goes to the run's temporary folder; ``pipeline.run`` promotes
it to ``state/feeds.json`` only when the whole run succeeded.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from marsad.fetch.feedstate import FeedState, dumps_state, is_retryable, loads_state
from transforms.common import ensure_folder


def feed_state_path(output: str) -> str:
    return FileSystems.join(output, "state", "feeds.json")


def read_feed_state(path: str) -> dict[str, FeedState]:
    if not FileSystems.exists(path):
        return {}
    with FileSystems.open(path) as handle:
        return loads_state(handle.read())


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
    """(state updates, failures) → staged state file at ``staged_path``.

    Feeds that failed to parse, or whose entries failed for a transient reason,
    keep their previous state, so the next run fetches and reports them again.
    """

    def __init__(self, staged_path: str, previous) -> None:
        super().__init__()
        self.staged_path = staged_path
        self.previous = previous

    def expand(self, inputs):
        updates, failures = inputs
        retry_feeds = (
            failures
            | "NeedsRetry"
            >> beam.Filter(lambda f: f.stage == "parse_feeds" or is_retryable(f.reason))
            | "FeedOfFailure" >> beam.Map(lambda f: f.feed_url)
        )
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
