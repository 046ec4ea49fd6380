from marsad.fetch.feedstate import (
    FeedState,
    conditional_headers,
    dumps_state,
    is_retryable,
    loads_state,
)
from marsad.fetch.robots import parse_robots
from transforms.feed_state import merge_states


def test_crawl_delay_per_group_including_decimals():
    rules = parse_robots(
        "User-agent: Googlebot\nCrawl-delay: 9\n\n"
        "User-agent: marsad\nUser-agent: other\nDisallow: /private\nCrawl-delay: 2.5\n\n"
        "User-agent: *\nCrawl-delay: 1\nDisallow: /\n"
    )
    assert rules.crawl_delay("marsad") == 2.5
    assert rules.crawl_delay("somebot") == 1.0
    assert rules.allows("https://x.example/news/1", "marsad")
    assert not rules.allows("https://x.example/private/1", "marsad")
    assert not rules.allows("https://x.example/news/1", "somebot")


def test_no_crawl_delay():
    assert parse_robots("User-agent: *\nDisallow:\n").crawl_delay() is None


def test_state_round_trip_and_conditional_headers():
    state = FeedState(
        "https://f.example/rss",
        etag='"abc"',
        last_modified="Mon, 01 Jan 2024 00:00:00 GMT",
        body_sha256="00",
    )
    loaded = loads_state(dumps_state({state.feed_url: state}))
    assert loaded == {state.feed_url: state}
    assert conditional_headers(state) == {
        "If-None-Match": '"abc"',
        "If-Modified-Since": "Mon, 01 Jan 2024 00:00:00 GMT",
    }
    assert conditional_headers(None) == {}
    assert loads_state(b"") == {}


def test_merge_holds_back_feeds_to_retry():
    old = {"a": FeedState("a", body_sha256="1"), "b": FeedState("b", body_sha256="1")}
    updates = [
        FeedState("a", body_sha256="2"),
        FeedState("b", body_sha256="2"),
        FeedState("c", body_sha256="2"),
    ]
    merged = merge_states(old, updates, hold_back={"b"})
    assert merged["a"].body_sha256 == "2"
    assert merged["b"].body_sha256 == "1"
    assert merged["c"].body_sha256 == "2"


def test_retryable_reasons():
    assert all(is_retryable(r) for r in ("timeout", "http_503", "http_429", "robots_unavailable"))
    assert not any(is_retryable(r) for r in ("http_404", "robots_disallowed", "too_large"))
