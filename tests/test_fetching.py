"""Fetch behaviour against the fault-injecting loopback server: each fault ends
with the right response or reason code, and politeness is observed server-side."""

from __future__ import annotations

import itertools
import time

import pytest

from marsad.errors import FetchError
from marsad.fetch.crawl import PoliteFetcher, PolitenessConfig
from marsad.fetch.encoding import decode_body
from marsad.fetch.http import FetchConfig, HttpClient
from tests.faultsite import ARABIC_PARAGRAPHS, FaultSite

FAST = FetchConfig(
    allow_networks=("127.81.0.0/24",),
    connect_timeout=2,
    read_timeout=2,
    total_timeout=5,
    max_bytes=2 * 1024 * 1024,
    max_attempts=3,
    backoff_base=0.05,
    backoff_max=2,
)


@pytest.fixture(scope="module")
def site():
    with FaultSite("127.81.0.1") as running:
        yield running


@pytest.fixture
def client():
    http = HttpClient(FAST)
    yield http
    http.close()


def reason_of(client: HttpClient, url: str) -> FetchError:
    with pytest.raises(FetchError) as caught:
        client.fetch(url)
    return caught.value


def test_user_agent_names_the_project(site, client):
    client.fetch(f"{site.base}/page/ua")
    assert site.hits[-1].user_agent.startswith("marsad/")


def test_429_with_retry_after_is_retried_after_the_wait(site, client):
    started = time.monotonic()
    response = client.fetch(f"{site.base}/429/a")
    assert response.status == 200 and response.attempts == 2
    assert time.monotonic() - started >= 0.95, "Retry-After: 1 honoured"


def test_5xx_then_success(site, client):
    response = client.fetch(f"{site.base}/flaky/b")
    assert response.status == 200 and response.attempts == 3


def test_persistent_5xx_gives_up_with_attempt_count(site, client):
    error = reason_of(client, f"{site.base}/always503")
    assert (error.reason, error.http_status, error.attempts) == ("http_503", 503, 3)


def test_404_is_not_retried(site, client):
    before = len(site.hits)
    error = reason_of(client, f"{site.base}/nothing-here")
    assert (error.reason, error.attempts) == ("http_404", 1)
    assert len(site.hits) == before + 1


def test_dropped_connection(site, client):
    error = reason_of(client, f"{site.base}/drop")
    assert error.reason == "connection_error" and error.attempts == 3


def test_slow_response_times_out(site):
    client = HttpClient(
        FetchConfig(allow_networks=("127.81.0.0/24",), read_timeout=0.3, max_attempts=1)
    )
    error = reason_of(client, f"{site.base}/slow/1500/x")
    assert error.reason == "timeout"


def test_endless_redirects_stop(site, client):
    error = reason_of(client, f"{site.base}/loop/0")
    assert error.reason == "too_many_redirects"
    assert f"/loop/{FAST.max_redirects}" in site.paths()
    assert f"/loop/{FAST.max_redirects + 2}" not in site.paths()


@pytest.mark.parametrize("path", ["/huge", "/huge-declared", "/bomb"])
def test_size_cap_holds_for_large_and_decompressed_bodies(site, client, path):
    error = reason_of(client, f"{site.base}{path}")
    assert error.reason == "too_large"


def test_scheme_allow_list(client):
    for url in ("ftp://127.0.0.1/x", "file:///etc/passwd"):
        assert reason_of(client, url).reason in ("scheme_not_allowed", "invalid_url")


@pytest.mark.parametrize(
    ("path", "encoding"), [("/ar-1256", "cp1256"), ("/ar-8859-6", "iso8859-6")]
)
def test_undeclared_arabic_encodings_are_detected(site, client, path, encoding):
    response = client.fetch(f"{site.base}{path}")
    text, used = decode_body(response.body, response.content_type)
    assert used == encoding
    assert ARABIC_PARAGRAPHS[0] in text


def test_per_host_interval_and_concurrency_seen_by_the_server():
    config = PolitenessConfig(max_concurrency=16, per_host=2, min_interval=0.2)
    with FaultSite("127.81.0.2", latency=0.15) as host:
        fetcher = PoliteFetcher(HttpClient(FAST), config)
        urls = [(f"{host.base}/page/{i}", i, None) for i in range(8)]
        results = list(fetcher.fetch_all(urls, "text/html"))
        fetcher.close()
    assert sorted(payload for payload, _ in results) == list(range(8))
    starts = host.starts("/page/")
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # The client spaces starts by 0.2 s; the server sees them later by however long each
    # request took to arrive, which a loaded machine stretches unevenly. Unspaced lanes
    # would arrive together (gaps near 0), so half the interval still tells them apart.
    assert min(gaps) >= 0.1, gaps
    assert host.max_in_flight <= 2


def test_hosts_proceed_in_parallel():
    config = PolitenessConfig(max_concurrency=16, per_host=1, min_interval=0.0)
    with (
        FaultSite("127.81.0.3", latency=0.3) as a,
        FaultSite("127.81.0.4", latency=0.3) as b,
        FaultSite("127.81.0.5", latency=0.3) as c,
    ):
        fetcher = PoliteFetcher(HttpClient(FAST), config)
        urls = [(f"{s.base}/page/{i}", (s.host, i), None) for s in (a, b, c) for i in range(3)]
        results = list(fetcher.fetch_all(urls, "text/html"))
        fetcher.close()
    assert len(results) == 9
    # Seen by the servers, whatever the machine's load: requests to different hosts were
    # in flight at the same moment, while each host had one at a time (per_host=1).
    pages = {site.host: [h for h in site.hits if h.path.startswith("/page/")] for site in (a, b, c)}
    overlapping = {
        (x, y)
        for x in pages
        for y in pages
        if x < y
        and any(p.started < q.ended and q.started < p.ended for p in pages[x] for q in pages[y])
    }
    assert len(overlapping) >= 2, overlapping
    assert max(site.max_in_flight for site in (a, b, c)) == 1


def test_robots_disallow_and_crawl_delay():
    robots = "User-agent: *\nDisallow: /page/private\nCrawl-delay: 0.5\n"
    with FaultSite("127.81.0.6", robots=robots) as host:
        fetcher = PoliteFetcher(HttpClient(FAST), PolitenessConfig(per_host=2, min_interval=0.0))
        urls = [(f"{host.base}/page/{name}", name, None) for name in ("a", "private-1", "b", "c")]
        results = dict(fetcher.fetch_all(urls, "text/html"))
        fetcher.close()
    assert isinstance(results["private-1"], FetchError)
    assert results["private-1"].reason == "robots_disallowed"
    assert "/page/private-1" not in host.paths()
    assert host.paths().count("/robots.txt") == 1, "robots.txt cached per run"
    starts = host.starts("/page/")
    assert len(starts) == 3
    assert min(b - a for a, b in itertools.pairwise(starts)) >= 0.45


def test_robots_rules_for_our_agent_win():
    robots = "User-agent: marsad\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
    with FaultSite("127.81.0.7", robots=robots) as host:
        fetcher = PoliteFetcher(HttpClient(FAST), PolitenessConfig(min_interval=0.0))
        ((_, result),) = list(fetcher.fetch_all([(f"{host.base}/page/x", "x", None)], "text/html"))
        fetcher.close()
    assert isinstance(result, FetchError) and result.reason == "robots_disallowed"


@pytest.mark.parametrize(("robots", "expected"), [(404, "allowed"), (503, "robots_unavailable")])
def test_robots_fetch_failure_convention(robots, expected):
    with FaultSite("127.81.0.8", robots=robots) as host:
        fetcher = PoliteFetcher(HttpClient(FAST), PolitenessConfig(min_interval=0.0))
        urls = [(f"{host.base}/page/{i}", i, None) for i in range(3)]
        results = [result for _, result in fetcher.fetch_all(urls, "text/html")]
        fetcher.close()
    if expected == "allowed":
        assert all(r.status == 200 for r in results)
    else:
        assert all(isinstance(r, FetchError) and r.reason == expected for r in results)
        assert not [p for p in host.paths() if p.startswith("/page/")], "do not hammer"
        assert host.paths().count("/robots.txt") == FAST.max_attempts


def test_unreachable_robots_by_timeout():
    with FaultSite("127.81.0.9", robots="hang") as host:
        client = HttpClient(
            FetchConfig(allow_networks=("127.81.0.0/24",), read_timeout=0.3, max_attempts=1)
        )
        fetcher = PoliteFetcher(client, PolitenessConfig(min_interval=0.0))
        ((_, result),) = list(fetcher.fetch_all([(f"{host.base}/page/x", "x", None)], "text/html"))
        fetcher.close()
    assert isinstance(result, FetchError) and result.reason == "robots_unavailable"


def test_a_slow_consumer_pauses_the_lanes_instead_of_buffering_every_page():
    # Pages served fast and extracted slowly: without back-pressure the fetcher would
    # read the whole batch into memory before the first page is extracted.
    config = PolitenessConfig(max_concurrency=4, per_host=2, min_interval=0.0)
    with FaultSite("127.81.0.6") as host:
        fetcher = PoliteFetcher(HttpClient(FAST), config)
        urls = [(f"{host.base}/page/{i}", i, None) for i in range(40)]
        results = fetcher.fetch_all(urls, "text/html")
        next(results)
        time.sleep(1.0)  # the consumer is busy; lanes must be waiting, not fetching
        fetched_while_busy = len([h for h in host.hits if h.path.startswith("/page/")])
        rest = list(results)
        fetcher.close()
    # One handed over, four waiting, one more per lane read and waiting to be queued.
    assert fetched_while_busy <= 1 + 4 + 2, fetched_while_busy
    assert len(rest) == 39


def test_a_consumer_that_stops_early_leaves_no_lane_blocked():
    config = PolitenessConfig(max_concurrency=2, per_host=2, min_interval=0.0)
    with FaultSite("127.81.0.7") as host:
        fetcher = PoliteFetcher(HttpClient(FAST), config)
        results = fetcher.fetch_all([(f"{host.base}/page/{i}", i, None) for i in range(20)], "")
        next(results)
        results.close()  # e.g. an exception downstream ended the bundle
        started = time.monotonic()
        fetcher.close()  # waits for the lanes: they must notice and end
    assert time.monotonic() - started < 5
