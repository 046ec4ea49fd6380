"""Discovery from a homepage: <link rel="alternate">, robots.txt Sitemap lines, common
paths probed politely, the cache in the feed state, and ``marsad sources --discover``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import yaml

from marsad.feeds.discovery import (
    Discovery,
    cached_discovery,
    discover,
    feeds_in_html,
    prefer_news,
)
from marsad.fetch.crawl import PoliteFetcher, PolitenessConfig
from marsad.fetch.feedstate import dumps_state, loads_state
from marsad.fetch.http import FetchConfig, HttpClient
from schemas.records import SourceFeed
from tests.routesite import Reply, RouteSite

HOME = """<!DOCTYPE html><html lang="ar"><head><meta charset="utf-8"><title>الرئيسية</title>
<link rel="alternate" type="application/rss+xml; charset=UTF-8" title="أخبار" href="/feed/">
<link rel="alternate" type="application/atom+xml" href="https://news.example.iq/atom.xml">
<link rel="alternate" type="application/rss+xml" title="التعليقات" href="/comments/feed/">
<link rel="alternate" hreflang="en" href="/en/">
<link rel="stylesheet" href="/style.css"></head><body><a href="/news/1">خبر</a></body></html>"""

RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
SITEMAP = (
    b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"></urlset>'
)


def test_feed_links_on_a_homepage():
    found = feeds_in_html(HOME, "https://news.example.iq/")
    assert found[:2] == ["https://news.example.iq/feed/", "https://news.example.iq/atom.xml"]
    assert "https://news.example.iq/comments/feed/" not in found
    assert "https://news.example.iq/en/" not in found


def test_news_sitemaps_preferred():
    listed = ["https://x/sitemap.xml", "https://x/news-sitemap.xml", "https://x/sitemap_news_2.xml"]
    assert prefer_news(listed) == ["https://x/news-sitemap.xml", "https://x/sitemap_news_2.xml"]
    assert prefer_news(["https://x/sitemap.xml"]) == ["https://x/sitemap.xml"]


def test_links_and_robots_first_and_no_probing_when_found():
    probes = []
    found = discover(
        "https://news.example.iq/",
        HOME.encode(),
        "text/html",
        ["https://news.example.iq/sitemap_news.xml"],
        fetch=lambda url: probes.append(url),
    )
    assert found.feeds[0] == "https://news.example.iq/feed/"
    assert found.sitemaps == ["https://news.example.iq/sitemap_news.xml"]
    assert probes == []


def _fetcher():
    client = HttpClient(FetchConfig(allow_networks=("127.84.0.0/24",), max_attempts=1))
    return PoliteFetcher(client, PolitenessConfig(min_interval=0.0))


def test_common_paths_are_probed_politely_and_checked():
    bare = b"<html><body><h1>\xd8\xa3\xd8\xae\xd8\xa8\xd8\xa7\xd8\xb1</h1></body></html>"
    with RouteSite("127.84.0.1") as site:
        site.routes["/"] = Reply(200, bare, {"Content-Type": "text/html"})
        # /feed/ answers 200 with HTML (a soft 404): not a feed, so not kept.
        site.routes["/feed/"] = Reply(200, bare, {"Content-Type": "text/html"})
        site.routes["/rss.xml"] = Reply(200, RSS, {"Content-Type": "application/rss+xml"})
        site.routes["/sitemap_news.xml"] = Reply(200, SITEMAP, {"Content-Type": "text/xml"})
        fetcher = _fetcher()
        try:
            found = discover(
                site.base + "/",
                bare,
                "text/html",
                [],
                fetch=lambda url: fetcher.fetch_one(url, "*/*"),
            )
        finally:
            fetcher.close()
        paths = site.paths()
    assert found.feeds == [site.base + "/rss.xml"]
    assert found.sitemaps == [site.base + "/sitemap_news.xml"]
    assert "/atom.xml" not in paths, "probing stops at the first feed found"
    assert paths[0] == "/robots.txt", "probes obey robots.txt like every request"


def test_cache_round_trip_and_expiry():
    found = Discovery(
        site="https://x/",
        feeds=["https://x/feed/"],
        sitemaps=["https://x/news.xml"],
        checked_at=datetime.now(UTC).isoformat(),
    )
    state = loads_state(dumps_state({"https://x/": found.to_state()}))["https://x/"]
    cached = cached_discovery(state)
    assert cached is not None and cached.feeds == found.feeds and cached.sitemaps == found.sitemaps
    later = datetime.now(UTC) + timedelta(days=8)
    assert cached_discovery(state, now=later) is None
    site = SourceFeed(source="X", feed_url="https://x/", language="ckb", kind="site")
    kinds = [(s.kind, s.feed_url, s.language, s.discovered_from) for s in cached.sources(site)]
    assert kinds == [
        ("feed", "https://x/feed/", "ckb", "https://x/"),
        ("sitemap", "https://x/news.xml", "ckb", "https://x/"),
    ]


def test_sources_discover_command_lists_what_to_pin(tmp_path, capsys):
    from pipeline.cli import main

    with RouteSite("127.84.0.2") as site:
        site.routes["/"] = Reply(200, HOME.encode(), {"Content-Type": "text/html"})
        site.routes["/robots.txt"] = Reply(
            200, f"User-agent: *\nAllow: /\nSitemap: {site.base}/news-sitemap.xml\n".encode()
        )
        sources = tmp_path / "sources.yaml"
        sources.write_text(
            "sources:\n"
            f"  - name: Example\n    language: ar\n    site: {site.base}/\n"
            f"  - name: Listed\n    feeds: [{site.base}/listed.xml]\n",
            encoding="utf-8",
        )
        code = main(["sources", "--discover", str(sources), "--allow_network", "127.84.0.0/24"])
    assert code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    (example,) = [s for s in printed["sources"] if s["name"] == "Example"]
    assert example["feeds"][0] == f"{site.base}/feed/"
    assert example["sitemaps"] == [f"{site.base}/news-sitemap.xml"]
    assert "site" not in example
