"""The hostile site's scenarios, each with the outcome the pipeline must reach.

``expected`` is ``"article"`` (a stored row), or the failure ``reason`` of the
entry (or of the feed, for feed scenarios). The suite checks each one, plus the
accounting identity, bounded time and memory, and loopback-only traffic.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.hostile import site as hs


@dataclass(frozen=True)
class Page:
    name: str
    expected: str  # "article" or a failure reason
    host: str = "main"
    note: str = ""


PAGES = [
    Page("ok", "article"),
    Page("drip-body", "timeout", note="1 byte/s body: cut at --total_timeout"),
    Page("drip-headers", "timeout", note="header block 1 byte/s: cut at --total_timeout"),
    Page("stall", "timeout", note="no answer: --read_timeout, retried, bounded"),
    Page("reset", "truncated_response", note="RST mid-body"),
    Page("short-length", "truncated_response", note="body shorter than Content-Length"),
    Page("truncated-headers", "truncated_response", note="connection closed inside headers"),
    Page("gzip-bomb", "too_large", note="~60 KB on the wire, 60 MB inflated"),
    Page("huge", "too_large", note="50 MB without Content-Length"),
    Page("one-line-5mb", "article", note="5 MB single line: text capped, row flagged"),
    Page("page-9mib", "article", note="9 MiB of paragraphs under the 10 MiB cap"),
    Page("500-then-ok", "article", note="retried within the run"),
    Page("429-then-ok", "article", note="Retry-After honoured"),
    Page("503-forever", "http_503"),
    Page("redirect-loop", "too_many_redirects"),
    Page("redirect-chain", "too_many_redirects", note="10 hops > --max_redirects 5"),
    Page("redirect-ftp", "scheme_not_allowed"),
    Page("redirect-metadata", "blocked_address", note="302 to 169.254.169.254"),
    Page("invalid-utf8", "article", note="declared UTF-8 with broken bytes"),
    Page("windows-1256", "article", note="undeclared windows-1256 Arabic"),
    Page("empty-200", "extraction_empty", note="empty page, entry without summary"),
    Page("pdf-as-html", "unsupported_content_type"),
    Page("png-as-html", "unsupported_content_type"),
    Page(
        "nested-divs",
        "extraction_empty",
        note="100,000 nested <div>s: the parser stops at depth 256",
    ),
    Page("gone", "http_404"),
    Page("robots-500", "robots_unavailable", host="robots500"),
    Page("robots-hang", "robots_unavailable", host="robotshang"),
    Page("robots-huge", "robots_unavailable", host="robotshuge", note="12 MB robots.txt"),
    Page("robots-deny", "robots_disallowed", host="robotsdeny", note="Crawl-delay: 86400"),
]

# Feed entries that are not pages of the site (reason at parse or canonicalize).
ODD_ENTRIES = {
    "javascript-link": "url_invalid",
    "no-link": "entry_no_link",
    "metadata-link": "blocked_address",
}


def install(site: hs.HostileSite, big: bool = True) -> None:
    """Register every page scenario on ``site``."""
    add = site.add
    add("main", "/p/ok", hs.send(body=hs.article_html("ok")))
    add("main", "/p/drip-body", hs.drip_body)
    add("main", "/p/drip-headers", hs.drip_headers)
    add("main", "/p/stall", hs.stall)
    add("main", "/p/reset", hs.reset_mid_body)
    add("main", "/p/short-length", hs.short_content_length)
    add("main", "/p/truncated-headers", hs.truncated_headers)
    add("main", "/p/gzip-bomb", hs.gzip_bomb)
    add("main", "/p/huge", hs.huge_page)
    add("main", "/p/one-line-5mb", hs.big_page(5 * 1000 * 1000, one_line=True))
    add("main", "/p/page-9mib", hs.big_page(9 * 1024 * 1024, one_line=False))
    add("main", "/p/500-then-ok", hs.fail_then_page("500 Internal Server Error", 1, "500"))
    add(
        "main",
        "/p/429-then-ok",
        hs.fail_then_page("429 Too Many Requests", 1, "429", Retry_After="1"),
    )
    add("main", "/p/503-forever", hs.send("503 Service Unavailable", body="busy"))
    add("main", "/p/redirect-loop", hs.redirect(lambda s, r: "/p/redirect-loop"))
    for n in range(10):
        add("main", f"/chain/{n}", hs.redirect(lambda s, r, n=n: f"/chain/{n + 1}"))
    add("main", "/p/redirect-chain", hs.redirect(lambda s, r: "/chain/0"))
    add("main", "/p/redirect-ftp", hs.redirect(lambda s, r: "ftp://127.90.0.1/file.txt"))
    add(
        "main",
        "/p/redirect-metadata",
        hs.redirect(lambda s, r: "http://169.254.169.254/latest/meta-data/"),
    )
    broken = hs.article_html("utf8").encode("utf-8").replace(b"(utf8)", b"(\xff\xfe\xc3)")
    add("main", "/p/invalid-utf8", hs.send(body=broken, content_type="text/html; charset=utf-8"))
    add(
        "main",
        "/p/windows-1256",
        hs.send(
            body=hs.article_html("1256", charset=None).encode("cp1256"), content_type="text/html"
        ),
    )
    add("main", "/p/empty-200", hs.send(body=b""))
    add("main", "/p/pdf-as-html", hs.send(body=hs.pdf_bytes()))
    add(
        "main",
        "/p/png-as-html",
        hs.send(body=b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 2000),
    )
    add("main", "/p/nested-divs", hs.nested_divs)
    # /p/gone: unrouted → 404. robots hosts: their /p/... pages are plain articles if asked.
    for page in PAGES:
        if page.host != "main":
            add(page.host, f"/p/{page.name}", hs.send(body=hs.article_html(page.name)))


def page_url(site: hs.HostileSite, page: Page) -> str:
    return site.url(page.host, f"/p/{page.name}")


def main_feed(site: hs.HostileSite) -> str:
    items = []
    for page in PAGES:
        item = {"title": f"خبر {page.name}", "link": page_url(site, page), "guid": page.name}
        if page.name not in ("empty-200",):
            item["pubDate"] = hs._date(-1)
        items.append(item)
    items += [
        {"title": "relative", "link": "/p/relative-link", "guid": "relative"},
        {
            "title": "year one",
            "link": site.url("main", "/p/year-one"),
            "guid": "year-one",
            "pubDate": "Mon, 01 Jan 0001 00:00:00 +0000",
        },
        {
            "title": "year 2099",
            "link": site.url("main", "/p/year-2099"),
            "guid": "year-2099",
            "pubDate": "Thu, 31 Dec 2099 00:00:00 +0000",
        },
        {"title": "dup guid a", "link": site.url("main", "/p/dup-a"), "guid": "same-guid"},
        {"title": "dup guid b", "link": site.url("main", "/p/dup-b"), "guid": "same-guid"},
        {"title": "js", "link": "javascript:alert(1)", "guid": "javascript-link"},
        {"title": "no link here", "guid": "no-link", "description": "لا رابط"},
        {
            "title": "metadata",
            "link": "http://169.254.169.254/latest/meta-data/",
            "guid": "metadata-link",
        },
    ]
    for name in ("relative-link", "year-one", "year-2099", "dup-a", "dup-b"):
        site.add("main", f"/p/{name}", hs.send(body=hs.article_html(name)))
    return site.add(
        "main", "/feeds/main.xml", hs.send(body=hs.rss(items), content_type="application/rss+xml")
    )


EXTRA_ARTICLES = {"relative-link", "year-one", "year-2099", "dup-a", "dup-b"}


@dataclass(frozen=True)
class Feed:
    name: str
    expected: str  # a feed-level failure reason, or "entries" when its entries come out
    note: str = ""


FEEDS = [
    Feed("billion-laughs", "entries", note="entities not expanded; bounded"),
    Feed("xxe", "entries", note="no local file content anywhere"),
    Feed("20k", "entries", note="20,000 entries on 5 URLs"),
    Feed("html-instead", "unsupported_content_type"),
    Feed("empty", "not_a_feed"),
    Feed("truncated", "entries", note="cut mid-item: complete items kept"),
    Feed("json-ill-typed", "entries", note="bad items fail alone"),
    Feed("drip-feed", "timeout"),
]


def install_feeds(site: hs.HostileSite) -> dict[str, str]:
    base = site.hosts["main"].base
    urls = {}
    add = site.add
    rss_type = "application/rss+xml"
    urls["billion-laughs"] = add(
        "main", "/feeds/billion-laughs.xml", hs.send(body=hs.BILLION_LAUGHS, content_type=rss_type)
    )
    site.add("main", "/page/xxe", hs.send(body=hs.article_html("xxe")))
    urls["xxe"] = add(
        "main", "/feeds/xxe.xml", hs.send(body=hs.XXE.format(base=base), content_type=rss_type)
    )
    many = [
        {"title": f"entry {i}", "link": f"{base}/page/many-{i % 5}", "guid": f"many-{i}"}
        for i in range(20_000)
    ]
    urls["20k"] = add("main", "/feeds/20k.xml", hs.send(body=hs.rss(many), content_type=rss_type))
    urls["html-instead"] = add(
        "main", "/feeds/html-instead.xml", hs.send(body=hs.article_html("not a feed"))
    )
    urls["empty"] = add("main", "/feeds/empty.xml", hs.send(body=b"", content_type=rss_type))
    whole = hs.rss(
        [
            {"title": f"t{i}", "link": f"{base}/page/trunc-{i}", "guid": f"trunc-{i}"}
            for i in range(4)
        ]
    )
    urls["truncated"] = add(
        "main",
        "/feeds/truncated.xml",
        hs.send(body=whole[: whole.index("trunc-3") - 40], content_type=rss_type),
    )
    bad_json = hs.json_feed(
        [
            {"id": "j1", "url": f"{base}/page/json-good", "title": "جيد"},
            {"id": "j2", "url": f"{base}/page/json-n", "title": 12345},
            {"id": "j3", "url": 42, "title": "رقم"},
        ]
    )
    urls["json-ill-typed"] = add(
        "main", "/feeds/json.json", hs.send(body=bad_json, content_type="application/feed+json")
    )
    urls["drip-feed"] = add("main", "/feeds/drip.xml", hs.drip_body)
    return urls
