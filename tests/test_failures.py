"""Failure rows are built whatever went wrong and whatever the stage knew (issue #10.1).

Every ``MarsadError`` subclass (and foreign exceptions) crossed with every stage's
``describe()`` output must give a ``Failure``: a crash here loses the element and,
in a batch run, the whole run.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import marsad.errors as errors
from marsad.fetch.crawl import PolitenessConfig
from marsad.fetch.http import FetchConfig
from marsad.fetch.netguard import BlockedAddressError
from pipeline.lock import OutputLockedError
from schemas.records import Article, Failure, FeedEntry, FeedFetch, SourceFeed
from transforms.canonicalize import CanonicalizeFn
from transforms.common import failure_from_error
from transforms.extract import ExtractFn
from transforms.fetch_articles import FetchArticleFn
from transforms.fetch_feeds import FetchFeedFn
from transforms.parse_feeds import ParseFeedFn
from transforms.tag import TagFn


def _all_subclasses(cls: type) -> list[type]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _all_subclasses(sub)
    return found


ERROR_TYPES = sorted(set(_all_subclasses(errors.MarsadError)), key=lambda c: c.__name__)
assert BlockedAddressError in ERROR_TYPES and OutputLockedError in ERROR_TYPES

FEED = SourceFeed(source="outlet", feed_url="http://127.0.0.1/feed.xml")
ENTRY = FeedEntry(
    source="outlet", feed_url=FEED.feed_url, link="http://127.0.0.1/a", article_id="a_1"
)
ARTICLE = Article(
    article_id="a_1",
    url="http://127.0.0.1/a",
    canonical_url="http://127.0.0.1/a",
    source="outlet",
    feed_url=FEED.feed_url,
    run_id="r",
    http_status=200,
)
FETCH = FeedFetch(FEED, FEED.feed_url, 200, {}, b"", datetime.now(UTC))


def _stage_contexts() -> list[tuple[str, str, dict]]:
    """(stage, url, context) exactly as each stage describes its element."""
    found = []
    for fn, element in (
        (ParseFeedFn("r"), FETCH),
        (CanonicalizeFn("r"), ENTRY),
        (ExtractFn("r", 250), ARTICLE),
        (TagFn("r", None, None), ARTICLE),
    ):
        url, context = fn.describe(element)
        found.append((fn.stage, url, context))
    for fn, element in (
        (FetchFeedFn("r", FetchConfig(), PolitenessConfig()), FEED),
        (FetchArticleFn("r", FetchConfig(), PolitenessConfig()), ENTRY),
    ):
        found.append((fn.stage, fn.url_of(element), fn.describe(element)))
    return found


STAGES = _stage_contexts()


def _make(error_type: type, message: str, status: int | None, attempts: int) -> BaseException:
    try:
        return error_type(message, http_status=status, attempts=attempts)
    except TypeError:  # subclasses with their own signature
        return error_type(message)


@settings(max_examples=300, deadline=None)
@given(
    error_type=st.sampled_from([*ERROR_TYPES, ValueError, TypeError, KeyError, RecursionError]),
    stage=st.sampled_from(STAGES),
    message=st.text(max_size=3000),
    status=st.one_of(st.none(), st.integers(100, 599)),
    attempts=st.integers(1, 10),
    extra=st.dictionaries(
        st.sampled_from(["http_status", "attempts", "reason", "stage", "bogus", "message"]),
        st.one_of(st.none(), st.integers(0, 600), st.text(max_size=5)),
        max_size=3,
    ),
)
def test_every_error_in_every_stage_becomes_a_failure(
    error_type, stage, message, status, attempts, extra
):
    stage_name, url, context = stage
    if issubclass(error_type, errors.MarsadError):
        error = _make(error_type, message, status, attempts)
    else:
        error = error_type(message)
    failure = failure_from_error(error, stage_name, url, "run-1", **{**context, **extra})
    assert isinstance(failure, Failure)
    assert failure.stage == stage_name and failure.run_id == "run-1"
    assert len(failure.message) <= errors.MAX_MESSAGE_CHARS + 50
    if isinstance(error, errors.MarsadError):
        assert failure.reason == error.reason
        if error.http_status is not None:  # the error's own status wins over the context's
            assert failure.http_status == error.http_status
    else:
        assert failure.reason == "internal_error"


def test_context_fills_the_status_the_error_left_open():
    failure = failure_from_error(
        errors.ExtractionError("empty", reason="extraction_empty"),
        "extract",
        "u",
        "r",
        http_status=200,
        article_id="a_1",
    )
    assert failure.http_status == 200 and failure.article_id == "a_1"


def test_a_text_less_page_without_summary_is_one_failure_row_not_a_crash():
    # The regression of issue #10.1: http_status came twice into Failure(...).
    fn = ExtractFn("r", 250)
    fn.setup()
    article = ARTICLE.replace(html="<html><body></body></html>", fetched_at=datetime.now(UTC))
    outputs = list(fn.process(article))
    assert len(outputs) == 1
    failure = outputs[0].value
    assert failure.reason == "extraction_empty" and failure.http_status == 200


def test_a_describe_that_breaks_still_gives_a_row():
    class Broken(ExtractFn):
        def describe(self, article):
            raise AttributeError("no such field")

    fn = Broken("r", 250)
    fn.setup()
    (output,) = list(fn.process("not an article at all"))
    assert output.value.reason == "internal_error" and output.value.stage == "extract"


@pytest.mark.parametrize("size", [10, 10_000_000])
def test_error_messages_are_bounded(size):
    error = errors.SourcesError("x" * size)
    assert len(str(error)) <= errors.MAX_MESSAGE_CHARS
