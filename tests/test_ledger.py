"""The failure ledger: what is retried, when, and which rows are written (issue #10.3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from marsad.fetch.ledger import (
    GAVE_UP,
    LedgerConfig,
    due,
    dumps_ledger,
    feed_key,
    key_of_failure,
    loads_ledger,
    merge,
    pending_feeds,
    record,
    row_for,
)
from schemas.records import Failure

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
CONFIG = LedgerConfig(max_attempts=3, backoff_s=3600)


def failure(reason: str, stage: str = "fetch_articles", **fields) -> Failure:
    return Failure(
        stage=stage,
        reason=reason,
        message=f"{reason} happened",
        url="http://127.0.0.1/a",
        run_id="r",
        feed_url=fields.pop("feed_url", "http://127.0.0.1/feed.xml"),
        article_id=fields.pop("article_id", "a_1"),
        **fields,
    )


@pytest.mark.parametrize(
    "reason",
    [
        "http_404",
        "http_410",
        "too_large",
        "robots_disallowed",
        "url_invalid",
        "blocked_address",
        "unsupported_content_type",
        "extraction_empty",
        "scheme_not_allowed",
        "too_many_redirects",
    ],
)
def test_permanent_failures_are_written_once_and_never_fetched_again(reason):
    entry, write, _ = record(None, failure(reason), NOW, CONFIG)
    assert write and entry.final and not due(entry, NOW + timedelta(days=365))
    again, write_again, _ = record(entry, failure(reason), NOW + timedelta(days=1), CONFIG)
    assert not write_again and again.final


@pytest.mark.parametrize(
    "reason",
    [
        "timeout",
        "connection_error",
        "dns_error",
        "http_503",
        "http_429",
        "robots_unavailable",
        "truncated_response",
    ],
)
def test_transient_failures_back_off_double_and_give_up(reason):
    first, write, _ = record(None, failure(reason), NOW, CONFIG)
    assert write and not first.final
    assert not due(first, NOW + timedelta(minutes=59))
    assert due(first, NOW + timedelta(hours=1))
    later = NOW + timedelta(hours=1)
    second, write, _ = record(first, failure(reason), later, CONFIG)
    assert not write, "a retried failure does not repeat its row"
    assert not due(second, later + timedelta(hours=1, minutes=59))
    assert due(second, later + timedelta(hours=2))
    last, write, row_reason = record(second, failure(reason), later + timedelta(hours=2), CONFIG)
    assert write and row_reason == GAVE_UP and last.final and last.attempts == 3
    row = row_for(failure(reason), last, row_reason)
    assert row.reason == GAVE_UP and reason in row.message and row.attempts == 3


def test_feed_failures_are_written_every_run_they_fail():
    # A feed that is down is news of each run (the run's exit code reads these rows).
    feed_failure = failure("feed_malformed", stage="parse_feeds", article_id="")
    assert key_of_failure(feed_failure) == feed_key("http://127.0.0.1/feed.xml")
    entry, write, _ = record(None, feed_failure, NOW, CONFIG)
    assert write and due(entry, NOW)
    entry, write, _ = record(entry, feed_failure, NOW, CONFIG)
    assert write and entry.attempts == 2 and not entry.final


def test_success_clears_and_pending_feeds_hold_back_only_transients():
    permanent, _, _ = record(None, failure("http_404", article_id="a_1"), NOW, CONFIG)
    transient, _, _ = record(
        None,
        failure("timeout", article_id="a_2", feed_url="http://127.0.0.1/other.xml"),
        NOW,
        CONFIG,
    )
    ledger = merge({}, [permanent, transient], set())
    assert pending_feeds(ledger) == {"http://127.0.0.1/other.xml"}
    assert set(merge(ledger, [], {"a_2"})) == {"a_1"}
    assert loads_ledger(dumps_ledger(ledger)) == ledger


def test_entries_without_article_ids_get_stable_keys():
    no_link = failure("entry_no_link", stage="parse_feeds", article_id="", entry_key="e_abc")
    assert key_of_failure(no_link) == "e_abc"
    invalid = failure("url_invalid", stage="canonicalize", article_id="")
    assert key_of_failure(invalid) == key_of_failure(
        failure("url_invalid", stage="canonicalize", article_id="")
    )
    assert key_of_failure(invalid).startswith("e_")
