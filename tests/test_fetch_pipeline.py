"""Fetch faults through the whole batch pipeline: every entry ends as the right
article row or failure row; conditional GET skips unchanged feeds next run."""

from __future__ import annotations

import os

import pyarrow.dataset as ds
import pytest

from marsad.feeds.urls import article_id, canonicalize_url
from pipeline.run import run_batch
from tests.faultsite import FaultSite

pytestmark = pytest.mark.slow

CASES = {
    "/page/ok": ("article", None),
    "/429/x": ("article", None),
    "/flaky/y": ("article", None),
    "/ar-1256": ("article", None),
    "/ar-8859-6": ("article", None),
    "/page/private-report": ("failure", "robots_disallowed"),
    "/always503": ("failure", "http_503"),
    "/loop/0": ("failure", "too_many_redirects"),
    "/bomb": ("failure", "too_large"),
    "/pdf": ("failure", "unsupported_content_type"),
    "/gone": ("failure", "http_404"),
}


def _feed(base: str) -> str:
    items = "".join(
        f"<item><title>t{i}</title><link>{base}{path}</link></item>" for i, path in enumerate(CASES)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>f</title>{items}</channel></rss>'
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    robots = "User-agent: *\nDisallow: /page/private\n"
    with FaultSite("127.83.0.1", robots=robots) as site:
        feed_path = root / "feed.xml"
        feed_path.write_text(_feed(site.base), encoding="utf-8")
        # /feed.xml lists every case and carries an honest ETag.
        site.static = {"/feed.xml": (feed_path.read_bytes(), "application/rss+xml")}
        sources = root / "sources.yaml"
        sources.write_text(f"sources:\n  - name: Faults\n    feeds: [{site.base}/feed.xml]\n")
        common = [
            "--sources", str(sources), "--output", str(root / "out"), "--allow_host", "127.83.0.1",
            "--min_interval", "0", "--max_bytes", "1000000", "--read_timeout", "3",
            "--total_timeout", "5", "--entry_retry_backoff", "0",
        ]  # fmt: skip
        first = run_batch([*common, "--run_id", "first"])
        hits_after_first = len(site.hits)
        second = run_batch([*common, "--run_id", "second"])
        return {
            "site": site,
            "first": first,
            "second": second,
            "hits_between": site.hits[hits_after_first:],
            "articles": ds.dataset(os.path.join(root, "out", "articles"), partitioning="hive")
            .to_table()
            .to_pylist(),
            "failures": ds.dataset(os.path.join(root, "out", "failures"), partitioning="hive")
            .to_table()
            .to_pylist(),
        }


def test_every_case_ends_where_it_should(run):
    base = run["site"].base
    articles = {row["article_id"]: row for row in run["articles"]}
    failures = {row["url"]: row for row in run["failures"] if row["run_id"] == "first"}
    for path, (outcome, reason) in CASES.items():
        url = base + path
        if outcome == "article":
            assert article_id(canonicalize_url(url)) in articles, path
        else:
            assert failures[url]["reason"] == reason, path
            assert failures[url]["stage"] == "fetch_articles"
    assert failures[base + "/always503"]["attempts"] == 3
    assert run["first"]["accounting"]["balanced"]


def test_undeclared_arabic_pages_are_decoded(run):
    base = run["site"].base
    rows = {row["url"]: row for row in run["articles"]}
    assert rows[base + "/ar-1256"]["encoding"] == "cp1256"
    assert rows[base + "/ar-8859-6"]["encoding"] == "iso8859-6"
    for url in (base + "/ar-1256", base + "/ar-8859-6"):
        assert "اللجنة العسكرية العليا" in rows[url]["text"]


def test_transient_failures_are_retried_next_run(run):
    # The 503 is transient, so the feed's conditional-GET state was held back: the
    # second run fetches the feed in full, skips stored articles by id, and retries
    # only what failed.
    feed_hits = [h for h in run["hits_between"] if h.path == "/feed.xml"]
    assert len(feed_hits) == 1 and "If-None-Match" not in feed_hits[0].headers
    retried = {h.path for h in run["hits_between"]} - {"/feed.xml", "/robots.txt"}
    assert "/always503" in retried
    assert not retried & {"/page/ok", "/ar-1256", "/429/x"}, "stored articles are not refetched"
    counts = run["second"]["counts"]
    assert counts.get("write_articles.rows", 0) == 0
    assert counts["dedup_urls.already_stored"] == 5


def test_permanent_failures_are_not_refetched_and_no_row_repeats(run):
    # Issue #10.3: a no-change rerun re-downloaded the 50 MB page and wrote its row again.
    retried = {h.path for h in run["hits_between"]}
    assert not retried & {"/bomb", "/pdf", "/loop/0"}, retried
    second = run["second"]
    assert second["accounting"]["balanced"]
    assert second["accounting"]["known_failures"] >= 3
    runs = {f["run_id"] for f in run["failures"] if f["url"].endswith(("/bomb", "/pdf", "/loop/0"))}
    assert runs == {"first"}, "permanent failures are written once"
    again = [f for f in run["failures"] if f["url"].endswith("/always503")]
    assert [f["run_id"] for f in again] == ["first"], "a retried failure does not repeat its row"
