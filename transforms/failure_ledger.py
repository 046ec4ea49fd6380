"""The failure ledger in the graph: read it, decide which failure rows to write, stage it.

``RememberFailures`` sees every failure of the run with the ledger of earlier runs
(``marsad/fetch/ledger.py``): a failure already on record is counted but its row is
not written again (``failure_ledger.repeat``); a transient one that failed in
``--entry_max_attempts`` runs is written once more as ``retries_exhausted``.
``StageLedger`` writes the new ledger to the run's temp folder for the commit.
"""

from __future__ import annotations

from datetime import UTC, datetime

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.io.filesystems import FileSystems

from marsad.fetch.ledger import (
    FEED_PREFIX,
    GAVE_UP,
    LedgerConfig,
    LedgerEntry,
    dumps_ledger,
    feed_key,
    key_of_failure,
    loads_ledger,
    merge,
    pending_feeds,
    record,
    row_for,
)
from transforms.common import counter, ensure_folder, read_state_file

STAGE = "failure_ledger"
UPDATES = "ledger"


def ledger_path(output: str) -> str:
    return FileSystems.join(output, "state", "entries.json")


def read_ledger(path: str) -> dict[str, LedgerEntry]:
    return read_state_file(
        path, loads_ledger, "failure ledger", "entries that failed before are then tried once more"
    )


class ReadLedger(beam.PTransform):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def expand(self, pbegin):
        return pbegin | "LedgerPath" >> beam.Create([self.path]) | "Read" >> beam.Map(read_ledger)


class _RememberFn(beam.DoFn):
    def __init__(self, config: LedgerConfig, now: str) -> None:
        self.config = config
        self.now = now

    def process(self, failure, ledger):
        if failure.stage == "read_stored":  # a storage problem, not an entry or a feed
            yield failure
            return
        now = datetime.fromisoformat(self.now)
        key = key_of_failure(failure)
        entry, write, reason = record((ledger or {}).get(key), failure, now, self.config)
        yield pvalue.TaggedOutput(UPDATES, entry)
        if reason == GAVE_UP:
            counter(STAGE, "gave_up")
        if write:
            counter(STAGE, "recorded")
            yield row_for(failure, entry, reason)
        else:
            counter(STAGE, "feed_repeat" if key.startswith(FEED_PREFIX) else "repeat")


class RememberFailures(beam.PTransform):
    """failures → (rows to write, ledger updates), given the ledger as a side input."""

    def __init__(self, ledger, config: LedgerConfig, now: datetime | None = None) -> None:
        super().__init__()
        self.ledger = ledger
        self.config = config
        self.now = (now or datetime.now(UTC)).isoformat()

    def expand(self, failures):
        result = failures | "Decide" >> beam.ParDo(
            _RememberFn(self.config, self.now), self.ledger
        ).with_outputs(UPDATES, main="rows")
        return result.rows, result[UPDATES]


def _write_staged(updates, previous, succeeded, fetched_feeds, path):
    done = set(succeeded) | {feed_key(url) for url in fetched_feeds}
    ledger = merge(previous or {}, list(updates), done)
    ensure_folder(path.rsplit("/", 1)[0])
    with FileSystems.create(path) as handle:
        handle.write(dumps_ledger(ledger))
    return sorted(pending_feeds(ledger))


class StageLedger(beam.PTransform):
    """(ledger updates, article ids that succeeded, feed URLs fetched) → staged ledger file.

    Returns one element: the feeds with entries awaiting a retry (to hold their state back).
    """

    def __init__(self, staged_path: str, previous) -> None:
        super().__init__()
        self.staged_path = staged_path
        self.previous = previous

    def expand(self, inputs):
        updates, succeeded, fetched_feeds = inputs
        return (
            updates
            | "Collect" >> beam.combiners.ToList()
            | "Write"
            >> beam.Map(
                _write_staged,
                previous=self.previous,
                succeeded=beam.pvalue.AsList(succeeded),
                fetched_feeds=beam.pvalue.AsList(fetched_feeds),
                path=self.staged_path,
            )
        )
