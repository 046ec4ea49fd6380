"""DedupUrls: one FeedEntry per canonical URL, minus what earlier runs stored.

Several feeds (or one feed twice) may list the same article: the entry kept is
chosen deterministically (earliest published, then feed URL, then link) and the
others' feeds are recorded in ``also_listed_in``. Entries whose id is already in
the output are skipped, which is what makes a rerun add nothing; so are entries
the failure ledger says not to fetch now (failed for good, or waiting for their
retry back-off): counted as ``dedup_urls.known_failure``, with no new row.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import apache_beam as beam
from apache_beam.typehints import Any, Tuple

from marsad.fetch.ledger import due
from schemas.records import FeedEntry
from transforms.common import counter

STAGE = "dedup_urls"
_LATEST = datetime.max.replace(tzinfo=UTC)


def entry_order(entry: FeedEntry) -> tuple:
    return (entry.published_at or _LATEST, entry.feed_url, entry.link)


def pick_entry(entries: list[FeedEntry]) -> FeedEntry:
    """The entry that represents a canonical URL, plus the other feeds that listed it."""
    ordered = sorted(entries, key=entry_order)
    kept = ordered[0]
    others = sorted({e.feed_url for e in ordered[1:]} - {kept.feed_url})
    return dataclasses.replace(kept, also_listed_in=others)


class _DecideFn(beam.DoFn):
    def __init__(self, now: str) -> None:
        self.now = now

    def process(self, element, ledger=None):
        article_id, grouped = element
        entries = list(grouped["entries"])
        if not entries:
            return
        for _ in entries:
            counter(STAGE, "in")
        if list(grouped["stored"]):
            for _ in entries:
                counter(STAGE, "already_stored")
            return
        known = (ledger or {}).get(article_id)
        if known is not None and not due(known, datetime.fromisoformat(self.now)):
            for _ in entries:
                counter(STAGE, "known_failure")
            return
        for _ in entries[1:]:
            counter(STAGE, "duplicate_url")
        counter(STAGE, "out")
        yield pick_entry(entries)


class DedupUrls(beam.PTransform):
    """(entries, stored article ids) → entries new to this output, one per URL.

    ``ledger``: the failure ledger as a side input (``AsSingleton``), or None.
    """

    def __init__(self, ledger=None, now: datetime | None = None) -> None:
        super().__init__()
        self.ledger = ledger
        self.now = (now or datetime.now(UTC)).isoformat()

    def expand(self, inputs):
        entries, stored = inputs
        keyed_entries = entries | "KeyEntries" >> beam.Map(
            lambda e: (e.article_id, e)
        ).with_output_types(Tuple[str, Any])
        keyed_stored = stored | "KeyStored" >> beam.Map(
            lambda s: (s.article_id, True)
        ).with_output_types(Tuple[str, bool])
        return (
            {"entries": keyed_entries, "stored": keyed_stored}
            | "GroupById" >> beam.CoGroupByKey()
            | "Decide"
            >> beam.ParDo(_DecideFn(self.now), *([self.ledger] if self.ledger is not None else []))
        )
