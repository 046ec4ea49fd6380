"""The whole pipeline against the hostile site, as a user runs it (``marsad run``).

One run over every scenario, then a rerun with nothing changed. Each page and feed
scenario must reach its stated outcome (``scenarios.py``); every run must balance
``entries = articles + duplicates + already_stored + failures + known_failures``,
stay within its time and memory bounds and dial nothing but loopback; the rerun
adds no rows at all.
"""

from __future__ import annotations

import collections

import pytest

from tests.hostile import scenarios as sc
from tests.hostile import site as hs
from tests.hostile.harness import (
    Dataset,
    assert_balanced,
    assert_loopback_only,
    run_marsad,
    write_sources,
)

pytestmark = pytest.mark.hostile_slow

TOTAL_TIMEOUT = 4.0
OPTIONS = [
    "--allow_network",
    hs.NETWORK,
    "--total_timeout",
    str(TOTAL_TIMEOUT),
    "--read_timeout",
    "2",
    "--connect_timeout",
    "2",
    "--min_interval",
    "0.02",
    "--per_host",
    "4",
    "--max_crawl_delay",
    "2",
    "--entry_retry_backoff",
    "0",
    # Several feeds fail on purpose; the run still completes (exit 0).
    "--max_failed_feeds",
    "1",
]
RUN_BOUND_S = 240  # the slowest scenario (a hanging robots.txt, 3 attempts) and 20k entries
MEMORY_BOUND_MB = 1500


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    with hs.HostileSite() as site:
        sc.install(site)
        feed_urls = sc.install_feeds(site)
        sources = write_sources(
            root / "sources.yaml",
            {
                "hostile": [sc.main_feed(site)],
                **{f"feed-{name}": [url] for name, url in feed_urls.items()},
            },
        )
        output = root / "out"
        first = run_marsad(output, sources, *OPTIONS, timeout=RUN_BOUND_S * 2)
        first_rows = Dataset(output)
        snapshot = (
            len(first_rows.articles),
            len([f for f in first_rows.failures if not f["entry_key"].startswith("feed:")]),
        )
        second = run_marsad(output, sources, *OPTIONS, timeout=RUN_BOUND_S * 2)
        yield {
            "site": site,
            "output": output,
            "first": first,
            "second": second,
            "after_first": snapshot,
            "feeds": feed_urls,
        }


def _by_url(rows, key="url"):
    found = collections.defaultdict(list)
    for row in rows:
        found[row[key]].append(row)
    return found


def test_first_run_finishes_balanced_bounded_and_loopback_only(hostile_run):
    first, output = hostile_run["first"], hostile_run["output"]
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Traceback" not in first.stderr
    manifest = first.manifest(output)
    assert_balanced(manifest)
    assert first.wall_s < RUN_BOUND_S, f"run took {first.wall_s:.0f}s"
    assert first.max_rss_mb < MEMORY_BOUND_MB, f"peak RSS {first.max_rss_mb:.0f} MB"
    assert_loopback_only(first)
    assert not any("169.254" in c["address"] for c in first.connects)
    print(f"\nhostile run: {first.wall_s:.1f}s, peak RSS {first.max_rss_mb:.0f} MB")


@pytest.mark.parametrize("page", sc.PAGES, ids=lambda p: p.name)
def test_each_page_scenario_reaches_its_outcome(hostile_run, page):
    site, data = hostile_run["site"], Dataset(hostile_run["output"])
    url = sc.page_url(site, page)
    articles = [a for a in data.articles if a["url"] == url]
    failures = [f for f in data.failures if f["url"] == url]
    if page.expected == "article":
        assert len(articles) == 1 and not failures, (articles, failures)
        assert articles[0]["text"]
    else:
        assert not articles, f"{page.name} must not be stored"
        assert [f["reason"] for f in failures] == [page.expected], failures


def test_pages_are_what_they_should_be(hostile_run):
    site, data = hostile_run["site"], Dataset(hostile_run["output"])
    by_url = {a["url"]: a for a in data.articles}
    one_line = by_url[site.url("main", "/p/one-line-5mb")]
    assert one_line["text_truncated"] and one_line["text_chars"] <= 200_000
    assert "الحكومة العراقية" in by_url[site.url("main", "/p/windows-1256")]["text"]
    year_one = by_url[site.url("main", "/p/year-one")]
    year_2099 = by_url[site.url("main", "/p/year-2099")]
    for row in (year_one, year_2099):
        assert row["published_from"] == "fetched"
        assert row["published_at"].year >= 2026
    assert by_url[site.url("main", "/p/relative-link")]["text"]
    assert {site.url("main", "/p/dup-a"), site.url("main", "/p/dup-b")} <= set(by_url)


def test_odd_entries_fail_with_their_reason(hostile_run):
    data = Dataset(hostile_run["output"])
    reasons = collections.Counter(f["reason"] for f in data.failures)
    assert reasons["url_invalid"] >= 1 and reasons["entry_no_link"] >= 1
    metadata = [f for f in data.failures if "169.254.169.254" in f["url"]]
    assert metadata and all(f["reason"] == "blocked_address" for f in metadata)


def test_feed_scenarios(hostile_run):
    data = Dataset(hostile_run["output"])
    first_id = hostile_run["first"].manifest(hostile_run["output"])["run_id"]
    data_failures = [f for f in data.failures if f["run_id"] == first_id]
    feeds = hostile_run["feeds"]
    feed_failures = _by_url(
        [
            f
            for f in data_failures
            if f["stage"] in ("fetch_feeds", "parse_feeds") and not f["entry_key"].startswith("e_")
        ]
    )
    for feed in sc.FEEDS:
        url = feeds[feed.name]
        if feed.expected == "entries":
            assert url not in feed_failures, (feed.name, feed_failures.get(url))
        else:
            assert [f["reason"] for f in feed_failures[url]] == [feed.expected], feed.name
    texts = " ".join((a["text"] or "") + (a["title"] or "") for a in data.articles)
    assert "root:x:0:0" not in texts, "XXE must not read local files"
    assert "lollollol" not in texts, "billion laughs must not expand"
    many = [a for a in data.articles if "/page/many-" in a["url"]]
    assert len(many) == 5, "20,000 entries on 5 URLs: 5 articles, the rest URL duplicates"
    json_rows = [f for f in data.failures if f["feed_url"] == feeds["json-ill-typed"]]
    assert sorted(f["reason"] for f in json_rows) == ["entry_malformed", "entry_malformed"]
    assert any(a["url"].endswith("/page/json-good") for a in data.articles)
    truncated = [a for a in data.articles if "/page/trunc-" in a["url"]]
    assert len(truncated) >= 2


def test_the_20k_feed_is_fully_accounted(hostile_run):
    manifest = hostile_run["first"].manifest(hostile_run["output"])
    accounting = assert_balanced(manifest)
    assert accounting["entries"] >= 20_000
    assert manifest["counts"]["dedup_urls.duplicate_url"] >= 19_995


def test_a_rerun_with_nothing_changed_adds_nothing(hostile_run):
    second, output = hostile_run["second"], hostile_run["output"]
    assert second.returncode == 0, second.stderr[-3000:]
    manifest = second.manifest(output)
    assert_balanced(manifest)
    data = Dataset(output)
    articles, entry_failures = hostile_run["after_first"]
    assert len(data.articles) == articles
    # Entry failures are written once; feeds that still fail are reported again.
    assert (
        len([f for f in data.failures if not f["entry_key"].startswith("feed:")]) == entry_failures
    )
    first_id = hostile_run["first"].manifest(output)["run_id"]
    second_run = [f for f in data.failures if f["run_id"] != first_id]
    assert all(f["stage"] in ("fetch_feeds", "parse_feeds") for f in second_run), second_run
    site = hostile_run["site"]
    # Permanent failures are not fetched again: the 50 MB page and the bomb once each.
    for path in ("/p/huge", "/p/gzip-bomb", "/p/pdf-as-html"):
        assert site.paths("main").count(path) == 1, path
    assert_loopback_only(second)
