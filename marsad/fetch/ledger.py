"""The failure ledger: what is remembered about entries that failed, across runs.

``state/entries.json`` (beside ``state/feeds.json``) maps an entry key — the
article id, or for entries that never got one a hash of feed and entry, or
``feed:<url>`` for a whole feed — to the last failure seen for it. The ledger
decides three things on every run:

- whether a listed entry is fetched at all (``due``): an entry that failed for
  a permanent reason (``http_404``, ``too_large``, ``robots_disallowed`` ...) is
  not fetched again; one that failed for a transient reason (``timeout``,
  ``http_5xx``, ``http_429`` ...) is tried again once its back-off has passed,
  the back-off doubling with each failed run, until ``max_attempts`` runs have
  failed — then it is recorded as given up (reason ``retries_exhausted``);
- whether a failure row is written (``record``): once per entry and outcome, so
  a rerun with nothing new adds no entry rows (a feed that fails is reported in
  every run it fails: that is news of the run);
- which feeds keep their old conditional-GET state so that entries waiting for
  a retry are listed again next run (``pending_feeds``).

Like the feed state it is staged during the run and promoted at commit, so a
run that dies changes nothing here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta

from marsad.fetch.feedstate import is_retryable

GAVE_UP = "retries_exhausted"
FEED_PREFIX = "feed:"


@dataclass(frozen=True)
class LedgerConfig:
    max_attempts: int = 5
    backoff_s: float = 3600.0


@dataclass(frozen=True)
class LedgerEntry:
    key: str
    reason: str
    stage: str
    url: str = ""
    feed_url: str = ""
    attempts: int = 1  # runs in which this entry failed
    first_failed_at: str = ""
    last_failed_at: str = ""
    retry_after: str = ""  # ISO time; empty when it is never retried
    final: bool = False  # permanent reason, or given up

    @property
    def is_feed(self) -> bool:
        return self.key.startswith(FEED_PREFIX)


def entry_key(feed_url: str, *parts: str) -> str:
    """Key of an entry that has no article id (no link, unusable link, malformed)."""
    digest = hashlib.sha256("\x1f".join((feed_url, *parts)).encode("utf-8", "replace"))
    return "e_" + digest.hexdigest()[:16]


def feed_key(feed_url: str) -> str:
    return FEED_PREFIX + feed_url


def key_of_failure(failure) -> str:
    """Ledger key of a failure row: its entry, else its feed (feed-level stages)."""
    if failure.entry_key:
        return failure.entry_key
    if failure.article_id:
        return failure.article_id
    if failure.stage in ("fetch_feeds", "parse_feeds"):
        return feed_key(failure.feed_url or failure.url)
    return entry_key(failure.feed_url, failure.url)


def due(entry: LedgerEntry | None, now: datetime) -> bool:
    """Should a listed entry be fetched this run?"""
    if entry is None or entry.is_feed:
        return True
    if entry.final:
        return False
    return not entry.retry_after or datetime.fromisoformat(entry.retry_after) <= now


def record(
    previous: LedgerEntry | None, failure, now: datetime, config: LedgerConfig
) -> tuple[LedgerEntry, bool, str]:
    """(new ledger entry, write a row?, reason for the row) for one failure this run."""
    key = key_of_failure(failure)
    stamp = now.isoformat()
    first = previous.first_failed_at if previous else stamp
    if key.startswith(FEED_PREFIX):
        # Feeds are fetched every run, and a feed failing is news of that run: the run's
        # outcome (exit code 4/5, pipeline/outcome.py) reads these rows. A row every time.
        entry = LedgerEntry(
            key,
            failure.reason,
            failure.stage,
            failure.url,
            failure.feed_url,
            (previous.attempts + 1) if previous else 1,
            first,
            stamp,
        )
        return entry, True, failure.reason
    if not is_retryable(failure.reason):
        entry = LedgerEntry(
            key,
            failure.reason,
            failure.stage,
            failure.url,
            failure.feed_url,
            (previous.attempts + 1) if previous else 1,
            first,
            stamp,
            "",
            True,
        )
        repeat = previous is not None and previous.final and previous.reason == failure.reason
        return entry, not repeat, failure.reason
    attempts = (previous.attempts + 1) if previous else 1
    if attempts >= config.max_attempts:
        entry = LedgerEntry(
            key,
            GAVE_UP,
            failure.stage,
            failure.url,
            failure.feed_url,
            attempts,
            first,
            stamp,
            "",
            True,
        )
        return entry, True, GAVE_UP
    wait = timedelta(seconds=config.backoff_s * 2 ** (attempts - 1))
    entry = LedgerEntry(
        key,
        failure.reason,
        failure.stage,
        failure.url,
        failure.feed_url,
        attempts,
        first,
        stamp,
        (now + wait).isoformat(),
        False,
    )
    return entry, previous is None, failure.reason


def row_for(failure, entry: LedgerEntry, reason: str):
    """The failure row to write; a given-up entry says what it kept failing with."""
    if reason != GAVE_UP:
        return replace(failure, entry_key=entry.key, attempts=max(failure.attempts, entry.attempts))
    return replace(
        failure,
        reason=GAVE_UP,
        entry_key=entry.key,
        attempts=entry.attempts,
        message=f"gave up after failing in {entry.attempts} runs "
        f"(--entry_max_attempts); last: {failure.reason}: {failure.message}",
    )


def merge(
    previous: dict[str, LedgerEntry],
    updates: list[LedgerEntry],
    succeeded: set[str],
) -> dict[str, LedgerEntry]:
    merged = {k: v for k, v in previous.items() if k not in succeeded}
    for entry in updates:
        merged[entry.key] = entry
    return merged


def pending_feeds(ledger: dict[str, LedgerEntry]) -> set[str]:
    """Feeds that must be listed again next run: an entry of theirs awaits a retry."""
    return {e.feed_url for e in ledger.values() if not e.final and not e.is_feed and e.feed_url}


def dumps_ledger(ledger: dict[str, LedgerEntry]) -> bytes:
    document = {"version": 1, "entries": [asdict(e) for _, e in sorted(ledger.items())]}
    return json.dumps(document, indent=0, ensure_ascii=False).encode("utf-8")


def loads_ledger(data: bytes) -> dict[str, LedgerEntry]:
    """Raises ValueError (or KeyError/TypeError) on a damaged file; callers name the file."""
    if not data.strip():
        return {}
    document = json.loads(data.decode("utf-8"))
    entries = [LedgerEntry(**fields) for fields in document["entries"]]
    return {e.key: e for e in entries}
