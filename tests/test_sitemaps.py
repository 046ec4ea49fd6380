"""Sitemaps as sources: parsing (news, plain, index, gzip, broken), the recency window,
bounds, and the fetch stage's index expansion against a real loopback server.

Fixtures are the project's own, modelled on the cases of public test suites:
ultimate-sitemap-parser (GateNLP/ultimate-sitemap-parser ``tests/tree/test_basic.py``:
robots.txt → index → news sitemaps, HTML entities and CDATA in ``news:title``, empty
``<lastmod />``, ``xhtml:link`` alternates, whitespace around ``<loc>``, a missing child;
``tests/tree/test_edges.py``: UTF-8 BOM, truncated sitemaps, self-pointing and cyclic
indexes) and trafilatura (``tests/resources/sitemap.xml``: a plain urlset of ``loc`` +
``lastmod``).
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import pytest

from marsad.errors import FeedError
from marsad.feeds.sitemaps import (
    SitemapConfig,
    gunzip_bounded,
    looks_like_sitemap,
    parse_datetime,
    parse_sitemap,
    sitemap_entries,
)
from schemas.records import FeedFetch, SourceFeed

NOW = datetime(2024, 2, 10, 12, 0, tzinfo=UTC)
BASE = "https://news.example.iq"


def news_sitemap(items: list[tuple[str, str, str]], extra: str = "") -> str:
    urls = "".join(
        f"""
    <url>
        <loc>  {loc}  </loc>
        <lastmod />
        <xhtml:link rel="alternate" media="only screen and (max-width: 640px)"
                    href="{loc}?mobile=1" />
        <news:news>
            <news:publication>
                <news:name>Example News</news:name>
                <news:language>ar</news:language>
            </news:publication>
            <news:publication_date>{date}</news:publication_date>
            <tag_without_inner_character_data name="value" />
            <news:title>{title}</news:title>
        </news:news>
    </url>"""
        for loc, date, title in items
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"
        xmlns:xhtml="http://www.w3.org/1999/xhtml">{urls}{extra}
</urlset>"""


RECENT = [
    (f"{BASE}/news/1.html", "2024-02-10T09:00:00+03:00", "بغداد &amp; واشنطن: جولة &lt;جديدة&gt;"),
    (f"{BASE}/news/2.html", "2024-02-09", "<![CDATA[Bąž — عنوان]]>"),
    (f"{BASE}/news/3.html", "2024-02-09T23:10:00Z", "ثالث"),
]
OLD = [(f"{BASE}/news/old.html", "2023-12-01T10:00:00Z", "قديم")]


def test_news_sitemap_titles_dates_language_and_markup():
    sitemap = parse_sitemap(news_sitemap(RECENT + OLD).encode(), BASE, now=NOW)
    assert sitemap.kind == "urlset" and sitemap.is_news
    assert [u.loc for u in sitemap.urls] == [loc for loc, _, _ in RECENT]
    assert sitemap.urls[0].title == "بغداد & واشنطن: جولة <جديدة>"
    assert sitemap.urls[1].title == "Bąž — عنوان"
    assert sitemap.urls[0].published_at == datetime(2024, 2, 10, 6, 0, tzinfo=UTC)
    assert sitemap.urls[0].language == "ar" and sitemap.urls[0].publication == "Example News"
    assert sitemap.skipped_old == 1


def test_plain_sitemap_uses_lastmod_and_skips_undated():
    body = f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>{BASE}/</loc><lastmod>2016-11-21</lastmod></url>
  <url><loc>{BASE}/today.html</loc><lastmod>2024-02-10</lastmod><changefreq>hourly</changefreq></url>
  <url><loc>{BASE}/undated.html</loc></url>
</urlset>""".encode()
    sitemap = parse_sitemap(body, BASE, now=NOW)
    assert [u.loc for u in sitemap.urls] == [f"{BASE}/today.html"]
    assert not sitemap.is_news
    assert (sitemap.skipped_old, sitemap.skipped_undated) == (1, 1)


def test_window_is_an_option():
    sitemap = parse_sitemap(
        news_sitemap(RECENT + OLD).encode(), BASE, SitemapConfig(window_days=90), NOW
    )
    assert len(sitemap.urls) == 4


def test_index_children_recent_or_undated_and_bounded():
    body = f"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>{BASE}/sitemap_news_1.xml</loc><lastmod>2024-02-10T08:00:00Z</lastmod></sitemap>
  <sitemap><loc>  {BASE}/sitemap_news_2.xml  </loc></sitemap>
  <sitemap><loc>{BASE}/sitemap-2019.xml</loc><lastmod>2019-01-01</lastmod></sitemap>
</sitemapindex>""".encode()
    index = parse_sitemap(body, BASE, now=NOW)
    assert index.kind == "index"
    assert [c.loc for c in index.children] == [
        f"{BASE}/sitemap_news_1.xml",
        f"{BASE}/sitemap_news_2.xml",
    ]
    assert index.skipped_old == 1
    capped = parse_sitemap(body, BASE, SitemapConfig(max_children=1), NOW)
    assert len(capped.children) == 1 and capped.over_limit == 1


def test_gzip_bom_and_relative_locations():
    xml = news_sitemap([("/news/rel.html", "2024-02-10", "نسبي")]).encode("utf-8-sig")
    sitemap = parse_sitemap(gzip.compress(xml), BASE + "/sitemaps/news.xml.gz", now=NOW)
    assert [u.loc for u in sitemap.urls] == [f"{BASE}/news/rel.html"]
    assert looks_like_sitemap(gzip.compress(xml)) and looks_like_sitemap(xml)


def test_gzip_bomb_stops_at_the_cap():
    bomb = gzip.compress(b"<urlset>" + b" " * 30_000_000)
    assert len(bomb) < 100_000
    with pytest.raises(FeedError) as caught:
        gunzip_bounded(bomb, 1_000_000)
    assert caught.value.reason == "too_large"
    with pytest.raises(FeedError) as caught:
        parse_sitemap(bomb, BASE, SitemapConfig(max_bytes=1_000_000), NOW)
    assert caught.value.reason == "too_large"


def test_url_cap_per_sitemap():
    items = [(f"{BASE}/n/{i}", "2024-02-10", f"t{i}") for i in range(30)]
    sitemap = parse_sitemap(news_sitemap(items).encode(), BASE, SitemapConfig(max_urls=10), NOW)
    assert len(sitemap.urls) == 10 and sitemap.over_limit == 20


def test_truncated_sitemaps_keep_complete_urls_only():
    head = news_sitemap(RECENT).rsplit("</urlset>", 1)[0]
    missing_close = parse_sitemap(head.encode(), BASE, now=NOW)
    assert len(missing_close.urls) == 3
    cut_mid_url = head + f"\n    <url>\n        <loc>{BASE}/news/4.ht"
    truncated = parse_sitemap(cut_mid_url.encode(), BASE, now=NOW)
    assert [u.loc for u in truncated.urls] == [loc for loc, _, _ in RECENT]
    assert truncated.truncated


def test_entities_are_not_expanded_and_nothing_is_fetched():
    body = f"""<?xml version="1.0"?>
<!DOCTYPE urlset [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY ext SYSTEM "http://127.0.0.1:9/secret">]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>{BASE}/x&b;&ext;</loc><lastmod>2024-02-10</lastmod></url></urlset>""".encode()
    sitemap = parse_sitemap(body, BASE, now=NOW)
    assert all("aaaaaaaaaa" not in u.loc for u in sitemap.urls)


def test_not_a_sitemap():
    with pytest.raises(FeedError) as caught:
        parse_sitemap(b"<html><body>hello</body></html>", BASE, now=NOW)
    assert caught.value.reason == "not_a_feed"


def test_dates():
    assert parse_datetime("2024-02-10") == datetime(2024, 2, 10, tzinfo=UTC)
    assert parse_datetime("2024-02-10T10:00+03:00") == datetime(2024, 2, 10, 7, tzinfo=UTC)
    assert parse_datetime("yesterday") is None


def test_entries_carry_title_date_and_language():
    feed = SourceFeed(source="Example", feed_url=f"{BASE}/news.xml", country="IQ", kind="sitemap")
    fetch = FeedFetch(
        feed=feed,
        final_url=feed.feed_url,
        status=200,
        headers={"content-type": "application/xml"},
        body=news_sitemap(RECENT).encode(),
        fetched_at=NOW,
    )
    parsed, _ = sitemap_entries(fetch, now=NOW)
    first = parsed.entries[0]
    assert (first.link, first.guid) == (RECENT[0][0], RECENT[0][0])
    assert first.title.startswith("بغداد & واشنطن")
    assert first.published_at == datetime(2024, 2, 10, 6, 0, tzinfo=UTC)
    assert first.language == "ar" and first.country == "IQ" and first.source == "Example"
    assert parsed.version == "sitemap-news"


# -- the fetch stage: index → children, politely and conditionally -------------------

NOW_REAL = datetime.now(UTC)


def _recent(hours: int) -> str:
    return (NOW_REAL - timedelta(hours=hours)).isoformat()


@pytest.mark.slow
def test_fetch_stage_expands_indexes_once_and_skips_cycles(tmp_path):
    from tests.routesite import Reply, RouteSite

    with RouteSite("127.83.0.1") as site:
        base = site.base
        index = f"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>{base}/news.xml.gz</loc></sitemap>
<sitemap><loc>{base}/index.xml</loc></sitemap>
<sitemap><loc>{base}/nested.xml</loc></sitemap>
<sitemap><loc>{base}/missing.xml</loc></sitemap>
</sitemapindex>""".encode()
        nested = index.replace(b"/news.xml.gz", b"/more.xml")
        news = news_sitemap(
            [(f"{base}/a/1", _recent(1), "واحد"), (f"{base}/a/2", _recent(2), "اثنان")]
        )
        more = news_sitemap([(f"{base}/a/3", _recent(3), "ثلاثة")])
        site.routes.update(
            {
                "/index.xml": Reply(
                    200, index, {"Content-Type": "application/xml", "ETag": '"i1"'}
                ),
                "/nested.xml": Reply(200, nested, {"Content-Type": "text/xml"}),
                "/news.xml.gz": Reply(
                    200, gzip.compress(news.encode()), {"Content-Type": "application/x-gzip"}
                ),
                "/more.xml": Reply(200, more.encode(), {"Content-Type": "application/xml"}),
            }
        )
        entries, failures, states = _run_fetch_and_parse(f"{base}/index.xml", tmp_path)
        paths = site.paths()
    assert sorted(e.link for e in entries) == [f"{base}/a/1", f"{base}/a/2", f"{base}/a/3"]
    assert [(f.reason, f.url) for f in failures] == [("http_404", f"{base}/missing.xml")]
    assert paths.count("/index.xml") == 1, "a self-listing index is not fetched again"
    assert paths.count("/missing.xml") == 1
    by_url = {s.feed_url: s for s in states}
    assert by_url[f"{base}/index.xml"].kind == "sitemap_index"
    assert f"{base}/news.xml.gz" in by_url[f"{base}/index.xml"].links


def _run_fetch_and_parse(url: str, tmp_path):
    """The fetch stage's DoFn and the parse stage's function, on real HTTP (no runner:
    Beam would only add pickling between them)."""
    from apache_beam import pvalue

    from marsad.fetch.crawl import PolitenessConfig
    from marsad.fetch.http import FetchConfig
    from schemas.records import Failure
    from transforms.fetch_feeds import FetchFeedFn
    from transforms.parse_feeds import parse_any

    fn = FetchFeedFn(
        "run",
        FetchConfig(allow_networks=("127.83.0.0/24",), max_attempts=1),
        PolitenessConfig(min_interval=0.0),
    )
    fn.setup()
    feed = SourceFeed(source="Example", feed_url=url, kind="sitemap")
    entries, failures, states = [], [], []
    try:
        for output in fn.process([("host", [feed])], {}):
            value = output.value if isinstance(output, pvalue.TaggedOutput) else output
            if isinstance(value, Failure):
                failures.append(value)
            elif getattr(output, "tag", "") == "state":
                states.append(value)
            else:
                entries.extend(parse_any(value).entries)
    finally:
        fn.teardown()
    return entries, failures, states
