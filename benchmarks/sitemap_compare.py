"""marsad's sitemap reader against trafilatura's ``sitemaps`` module, side by side.

Cases: the bundled sample site's sitemaps (a news sitemap index, its gzipped news child
and an archive child), and documents rebuilt from public test data — trafilatura's
``tests/resources/sitemap.xml`` (84 sitemaps.org pages with ``lastmod``), the news
sitemaps of ultimate-sitemap-parser's ``test_basic.py`` (entities, CDATA, ``xhtml:link``
alternates, empty ``lastmod``) and its truncated sitemaps (``test_edges.py``).

For each: URLs found, news titles and dates recovered, what "recent" could be decided
on, and time. trafilatura gets the same bytes (its ``SitemapObject`` with ``content``
set; it has no gzip step, so gzip is inflated for it first).

    python benchmarks/sitemap_compare.py
"""

from __future__ import annotations

import gzip
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from marsad.feeds.sitemaps import SitemapConfig, parse_sitemap  # noqa: E402

LANGS = ["", "da/", "de/", "en_GB/", "es/", "fi/", "fr/", "it/", "ja/", "ko/", "nl/", "no/",
         "pl/", "pt_BR/", "ro/", "ru/", "sv/", "tr/", "zh_CN/", "zh_HK/", "zh_TW/"]  # fmt: skip


def plain_sitemap() -> tuple[str, bytes]:
    urls = [
        f"https://www.sitemaps.org/{lang}{page}"
        for lang in LANGS
        for page in ("", "protocol.html", "faq.html", "terms.html")
    ]
    body = "".join(f"<url><loc>{u}</loc><lastmod>2016-11-21</lastmod></url>" for u in urls)
    xml = f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</urlset>'
    return "https://www.sitemaps.org/sitemap.xml", xml.encode()


def news_sitemap(base: str, truncated: bool = False, padded: bool = True) -> tuple[str, bytes]:
    items = [("foo", "Foo &lt;foo&gt;"), ("bar", "Bar &amp; bar"), ("baz", "<![CDATA[Bąž]]>")]
    pad = "  " if padded else ""  # USP's "extra whitespace around URL" case
    urls = "".join(
        f"""<url><loc>{pad}{base}/news/{slug}.html{pad}</loc><lastmod />
<xhtml:link rel="alternate" media="only screen and (max-width: 640px)" href="{base}/news/{slug}.html?mobile=1" />
<news:news><news:publication><news:name>Test</news:name><news:language>en</news:language>
</news:publication><news:publication_date>2024-02-10T10:00:00Z</news:publication_date>
<news:title>{title}</news:title></news:news></url>"""
        for slug, title in items
    )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9" xmlns:xhtml="http://www.w3.org/1999/xhtml">'
        + urls
    )
    xml += f"<url><loc>{base}/news/cut" if truncated else "</urlset>"
    return f"{base}/sitemap_news_1.xml", xml.encode()


USP = "https://test-ultimate-sitemap-parser.example.com"


def sample_site_cases() -> list[tuple[str, str, bytes]]:
    import urllib.request

    from marsad.samplesite import SampleSite
    from marsad.samplesite.server import ARCHIVE_SITEMAP, NEWS_SITEMAP, SITEMAP_INDEX

    cases = []
    host = "https://khabar.example.iq"  # trafilatura drops links on IP-address hosts
    with SampleSite(port=0) as site:
        base = site.base_urls["khabar"]
        for path in (SITEMAP_INDEX, NEWS_SITEMAP, ARCHIVE_SITEMAP):
            with urllib.request.urlopen(base + path, timeout=10) as response:
                body = response.read()
            zipped = body[:2] == b"\x1f\x8b"
            body = (gzip.decompress(body) if zipped else body).replace(base.encode(), host.encode())
            body = gzip.compress(body) if zipped else body
            cases.append((f"sample {path}", host + path, body))
    return cases


def trafilatura_links(url: str, body: bytes) -> tuple[int, float]:
    from courlan import extract_domain
    from trafilatura.sitemaps import SitemapObject

    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    parts = urlsplit(url)
    started = time.perf_counter()
    # As trafilatura's own sitemap_search sets it up.
    domain = extract_domain(url, fast=True) or parts.netloc
    sitemap = SitemapObject(f"{parts.scheme}://{parts.netloc}", domain, [])
    sitemap.current_url = url
    sitemap.content = body.decode("utf-8", errors="replace")
    sitemap.process()
    elapsed = time.perf_counter() - started
    return len(sitemap.urls) + len(sitemap.sitemap_urls), elapsed


def marsad_links(url: str, body: bytes) -> tuple[int, int, int, float]:
    started = time.perf_counter()
    # An unbounded window: this compares reading, not the recency rule.
    sitemap = parse_sitemap(body, url, SitemapConfig(window_days=36500), datetime.now(UTC))
    elapsed = time.perf_counter() - started
    found = sitemap.urls + sitemap.children
    titled = sum(1 for u in found if u.title)
    dated = sum(1 for u in found if u.date)
    return len(found), titled, dated, elapsed


def main() -> int:
    cases = [
        ("trafilatura sitemap.xml (rebuilt)", *plain_sitemap()),
        ("usp news sitemap (padded <loc>)", *news_sitemap(USP)),
        ("usp news sitemap (unpadded)", *news_sitemap(USP, padded=False)),
        ("usp truncated mid-url", *news_sitemap(USP, truncated=True, padded=False)),
        *sample_site_cases(),
    ]
    print(
        f"{'case':40s} {'traf. urls':>10s} {'marsad urls':>11s} {'titled':>7s} {'dated':>6s} {'traf. ms':>9s} {'marsad ms':>10s}"
    )
    for name, url, body in cases:
        t_count, t_time = trafilatura_links(url, body)
        m_count, titled, dated, m_time = marsad_links(url, body)
        print(
            f"{name:40s} {t_count:10d} {m_count:11d} {titled:7d} {dated:6d} "
            f"{t_time * 1000:9.2f} {m_time * 1000:10.2f}"
        )
    print("trafilatura keeps URLs only: no news:title, no dates (so no recency rule), no language.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
