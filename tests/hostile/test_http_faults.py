"""The HTTP client against the hostile site: each fault ends with the stated reason
within a stated time (issue #10.4, #10.5). Fast: part of ``make test``."""

from __future__ import annotations

import time

import pytest

from marsad.errors import FetchError
from marsad.fetch.crawl import PoliteFetcher, PolitenessConfig
from marsad.fetch.http import FetchConfig, HttpClient
from tests.hostile import site as hs

DEADLINE = 2.0
CONFIG = FetchConfig(
    connect_timeout=2,
    read_timeout=1.5,
    total_timeout=DEADLINE,
    max_bytes=2 * 1024 * 1024,
    max_attempts=3,
    backoff_base=0.05,
    backoff_max=1.5,
    allow_networks=(hs.NETWORK,),
)


@pytest.fixture(scope="module")
def site():
    with hs.HostileSite() as running:
        yield running


@pytest.fixture
def client():
    http = HttpClient(CONFIG)
    yield http
    http.close()


def _fails(client, url, reason, within):
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        client.fetch(url)
    elapsed = time.monotonic() - started
    assert caught.value.reason == reason, str(caught.value)
    assert elapsed < within, f"gave up after {elapsed:.1f}s"
    return caught.value, elapsed


def test_a_one_byte_per_second_body_is_cut_at_the_total_deadline(site, client):
    url = site.add("main", "/drip-body", hs.drip_body)
    error, elapsed = _fails(client, url, "timeout", DEADLINE + 1.0)
    assert elapsed >= DEADLINE * 0.9
    assert "--total_timeout" in str(error)
    assert site.paths().count("/drip-body") == 1, "a spent deadline is not retried in-run"


def test_a_dripped_header_block_is_cut_at_the_deadline_not_accepted(site, client):
    url = site.add("main", "/drip-headers", hs.drip_headers)
    _fails(client, url, "timeout", DEADLINE + 1.0)


def test_a_stalled_server_times_out_and_is_retried_within_bounds(site, client):
    url = site.add("main", "/stall", hs.stall)
    # read_timeout 1.5 s < deadline: the stall is a read timeout, retried (3 attempts).
    _fails(client, url, "timeout", 3 * DEADLINE + 3 * CONFIG.backoff_max + 1)


def test_a_truncated_header_block_is_an_error_not_a_200(site, client):
    url = site.add("main", "/truncated-headers", hs.truncated_headers)
    _fails(client, url, "truncated_response", 2.0)


@pytest.mark.parametrize(
    ("path", "scenario"),
    [("/reset", hs.reset_mid_body), ("/short-length", hs.short_content_length)],
)
def test_a_body_cut_short_is_an_error(site, client, path, scenario):
    _fails(client, site.add("main", path, scenario), "truncated_response", 2.0)


def test_gzip_bomb_and_huge_body_stop_at_the_cap(site, client):
    _fails(client, site.add("main", "/bomb", hs.gzip_bomb), "too_large", 5.0)
    _fails(client, site.add("main", "/huge", hs.huge_page), "too_large", 5.0)


def test_redirect_loops_chains_schemes_and_metadata(site, client):
    loop = site.add("main", "/loop", hs.redirect(lambda s, r: "/loop"))
    _fails(client, loop, "too_many_redirects", 3.0)
    for n in range(10):
        site.add(
            "main", f"/chain/{n}", hs.redirect(lambda s, r, n=n: f"/chain/{n + 1}", "301 Moved")
        )
    _fails(client, site.url("main", "/chain/0"), "too_many_redirects", 3.0)
    ftp = site.add("main", "/to-ftp", hs.redirect(lambda s, r: "ftp://127.90.0.1/file"))
    _fails(client, ftp, "scheme_not_allowed", 2.0)
    js = site.add("main", "/to-js", hs.redirect(lambda s, r: "javascript:alert(1)"))
    _fails(client, js, "scheme_not_allowed", 2.0)
    meta = site.add(
        "main", "/to-metadata", hs.redirect(lambda s, r: "http://169.254.169.254/latest/meta-data/")
    )
    _fails(client, meta, "blocked_address", 2.0)


def test_transient_statuses_then_success(site, client):
    url = site.add("main", "/500-then-ok", hs.fail_then_page("500 Internal Server Error", 1, "x"))
    assert client.fetch(url).status == 200
    url = site.add(
        "main", "/429-then-ok", hs.fail_then_page("429 Too Many Requests", 1, "y", Retry_After="1")
    )
    started = time.monotonic()
    response = client.fetch(url)
    assert response.status == 200 and response.attempts == 2
    assert time.monotonic() - started >= 0.9, "Retry-After is honoured"
    forever = site.add("main", "/503", hs.send("503 Service Unavailable", body="busy"))
    error, _ = _fails(client, forever, "http_503", 5.0)
    assert error.attempts == 3


def test_a_blocked_robots_fetch_is_reported_as_blocked_address(site):
    # The page's host is not allowed, so neither is its robots.txt: the refusal must
    # say so, not pretend robots.txt was unavailable.
    narrow = HttpClient(FetchConfig(total_timeout=2, max_attempts=1, allow_hosts=("127.90.0.2:1",)))
    fetcher = PoliteFetcher(narrow, PolitenessConfig(min_interval=0))
    try:
        with pytest.raises(FetchError) as caught:
            fetcher.fetch_one(site.url("main", "/page/a"), "*/*")
        assert caught.value.reason == "blocked_address"
    finally:
        fetcher.close()


@pytest.mark.parametrize(
    ("host", "reason", "within"),
    [
        ("robots500", "robots_unavailable", 3.0),
        ("robotshang", "robots_unavailable", 3 * DEADLINE + 4),
        ("robotshuge", "robots_unavailable", 5.0),
        ("robotsdeny", "robots_disallowed", 3.0),
    ],
)
def test_hostile_robots_txt(site, client, host, reason, within):
    fetcher = PoliteFetcher(client, PolitenessConfig(min_interval=0, max_crawl_delay=5))
    started = time.monotonic()
    try:
        with pytest.raises(FetchError) as caught:
            fetcher.fetch_one(site.url(host, "/page/a"), "*/*")
    finally:
        fetcher.close()
    assert caught.value.reason == reason
    assert time.monotonic() - started < within
    assert "/page/a" not in site.paths(host)
