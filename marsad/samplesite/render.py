"""Render the sample outlets' pages and feeds: realistic chrome around the article body.

Each outlet's chrome differs (layout, navigation, share prompts, related links,
comments, footer), as syndicated copies of one story do on the real web.
"""

from __future__ import annotations

from email.utils import format_datetime
from html import escape
from xml.sax.saxutils import escape as xml_escape

from marsad.samplesite.content import Outlet, Placement, SampleArticle

_NAV_AR = [
    "الرئيسية",
    "العراق",
    "سياسة",
    "اقتصاد",
    "رياضة",
    "تقارير",
    "مقالات",
    "فيديو",
    "اتصل بنا",
]
_NAV_EN = ["Home", "World", "Middle East", "Business", "Sport", "Opinion", "Video", "Contact"]
_RELATED_AR = [
    "ارتفاع أسعار الذهب في الأسواق المحلية",
    "الأرصاد الجوية: أمطار متفرقة على المحافظات الشمالية",
    "افتتاح معرض بغداد الدولي للكتاب بمشاركة واسعة",
    "وزارة التربية تعلن جدول الامتحانات الوزارية",
]
_RELATED_EN = [
    "Gold prices climb in regional markets",
    "Weather: scattered rain expected across the north",
    "Baghdad book fair opens with record attendance",
    "Ministry announces national exam timetable",
]


def _nav(outlet: Outlet) -> str:
    items = _NAV_EN if outlet.language == "en" else _NAV_AR
    links = "".join(f'<li><a href="/section/{i}">{escape(t)}</a></li>' for i, t in enumerate(items))
    return f'<nav class="main-menu"><ul>{links}</ul></nav>'


def _related(outlet: Outlet) -> str:
    items = _RELATED_EN if outlet.language == "en" else _RELATED_AR
    heading = "Related" if outlet.language == "en" else "اقرأ أيضاً"
    links = "".join(f'<li><a href="/related/{i}">{escape(t)}</a></li>' for i, t in enumerate(items))
    return f'<aside class="related"><h3>{heading}</h3><ul>{links}</ul></aside>'


def _share(outlet: Outlet) -> str:
    label = escape(outlet.chrome.get("share", "Share"))
    return (
        f'<div class="share-buttons"><span>{label}</span>'
        '<a href="#" class="fb">Facebook</a><a href="#" class="tw">X</a>'
        '<a href="#" class="wa">WhatsApp</a><a href="#" class="tg">Telegram</a></div>'
    )


def _comments(outlet: Outlet) -> str:
    if not outlet.chrome.get("comments"):
        return ""
    if outlet.language == "en":
        notes = ["Great reporting, thanks.", "Who decides the timetable, though?"]
        heading = "Comments"
    else:
        notes = ["تقرير مهم، شكراً لكم.", "متى سيتم تنفيذ هذا فعلاً؟ سمعنا هذا الكلام مراراً."]
        heading = "التعليقات"
    items = "".join(
        f'<li class="comment"><span class="who">user{i}</span><p>{escape(n)}</p></li>'
        for i, n in enumerate(notes)
    )
    return f'<section id="comments"><h3>{heading}</h3><ol>{items}</ol></section>'


def _footer(outlet: Outlet) -> str:
    brand = escape(outlet.chrome.get("brand", outlet.name))
    if outlet.language == "en":
        text = f"© 2024 {brand}. All rights reserved. Follow us on social media."
    else:
        text = f"جميع الحقوق محفوظة © 2024 {brand} — تابعنا على مواقع التواصل"
    extra = ""
    if outlet.chrome.get("footer_ckb"):
        extra = "<p>مافی بهرههمهكان پارێزراوه بۆ درهو</p><p>Developed by Smarthand</p>"
    return f'<footer class="site-footer"><p>{text}</p>{extra}</footer>'


def render_page(outlet: Outlet, placement: Placement) -> str:
    article = placement.article
    lang = article.language
    direction = "ltr" if lang == "en" else "rtl"
    brand = escape(outlet.chrome.get("brand", outlet.name))
    title = escape(article.title)
    published_iso = article.published.isoformat()
    # The meta tag says what the outlet claims (a mislabelled outlet claims UTF-8).
    meta_charset = "" if outlet.label.lower() != "utf-8" else '<meta charset="utf-8">'
    head = (
        f"<head>{meta_charset}<title>{title} | {brand}</title>"
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta property="og:title" content="{title}">'
        f'<meta property="og:site_name" content="{brand}">'
        f'<meta property="article:published_time" content="{published_iso}">'
        + (f'<meta name="author" content="{escape(article.author)}">' if article.author else "")
        + '<link rel="stylesheet" href="/static/site.css"></head>'
    )
    header = (
        f'<header class="site-header"><a class="logo" href="/">{brand}</a>{_nav(outlet)}'
        '<div class="ticker"><span>عاجل</span> أسعار صرف الدولار في بورصة بغداد</div></header>'
        if lang != "en"
        else f'<header class="site-header"><a class="logo" href="/">{brand}</a>{_nav(outlet)}</header>'
    )
    if placement.status == "feed_only":
        # A client-rendered page: the text arrives by script, so an extractor sees none.
        body = (
            f'<div id="app" data-article="{escape(article.slug)}"></div>'
            '<script>window.__STATE__={"loading":true};</script>'
            '<script src="/static/app.js"></script>'
        )
        return f'<!DOCTYPE html><html lang="{lang}" dir="{direction}">{head}<body>{header}{body}{_footer(outlet)}</body></html>'
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in article.paragraphs)
    byline = (
        f'<div class="byline"><span class="author">{escape(article.author)}</span> '
        f'<time datetime="{published_iso}">{article.published:%Y-%m-%d %H:%M}</time></div>'
    )
    layout = outlet.chrome.get("layout", "article")
    if layout == "article":
        main = f'<article class="story"><h1>{title}</h1>{byline}{_share(outlet)}<div class="story-body">{paragraphs}</div></article>'
    elif layout == "post":
        main = f'<div class="post"><h1 class="entry-title">{title}</h1>{byline}<div class="entry-content">{paragraphs}</div>{_share(outlet)}</div>'
    else:
        main = f'<div id="content"><div class="head"><h1>{title}</h1>{byline}</div><div class="text">{paragraphs}</div>{_share(outlet)}</div>'
    return (
        f'<!DOCTYPE html><html lang="{lang}" dir="{direction}">{head}<body>{header}'
        f'<main class="container">{main}{_related(outlet)}{_comments(outlet)}</main>'
        f"{_footer(outlet)}</body></html>"
    )


def render_homepage(outlet: Outlet, base: str) -> str:
    """A front page: headlines, and the feed announced in <head> as browsers expect."""
    brand = escape(outlet.chrome.get("brand", outlet.name))
    direction = "ltr" if outlet.language == "en" else "rtl"
    alternate = ""
    if outlet.feed.get("format") in ("rss", "atom"):
        kind = "application/atom+xml" if outlet.feed["format"] == "atom" else "application/rss+xml"
        alternate = (
            f'<link rel="alternate" type="{kind}" title="{brand}" href="{outlet.feed["path"]}">'
            f'<link rel="alternate" type="{kind}" title="comments" href="/comments/feed/">'
        )
    headlines = "".join(
        f'<li><a href="{escape(p.path)}">{escape(p.article.title)}</a></li>'
        for p in outlet.placements
        if p.status in ("ok", "redirect")
    )
    return (
        f'<!DOCTYPE html><html lang="{outlet.language}" dir="{direction}"><head>'
        f'<meta charset="utf-8"><title>{brand}</title>{alternate}</head><body>'
        f'<header class="site-header"><a class="logo" href="/">{brand}</a>{_nav(outlet)}</header>'
        f'<main><ul class="headlines">{headlines}</ul></main>{_footer(outlet)}</body></html>'
    )


def render_sitemap_index(base: str, children: list[tuple[str, str]]) -> str:
    """A sitemap index: (path, lastmod) per child sitemap."""
    items = "".join(
        f"<sitemap><loc>{xml_escape(base + path)}</loc><lastmod>{lastmod}</lastmod></sitemap>"
        for path, lastmod in children
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</sitemapindex>\n'
    )


def render_news_sitemap(outlet: Outlet, base: str, placements: list[Placement]) -> str:
    """A Google News sitemap of ``placements`` (title, publication date, language)."""
    name = xml_escape(outlet.chrome.get("brand", outlet.name))
    items = "".join(
        "<url>"
        f"<loc>{xml_escape(base + p.path)}</loc>"
        "<news:news><news:publication>"
        f"<news:name>{name}</news:name><news:language>{outlet.language}</news:language>"
        "</news:publication>"
        f"<news:publication_date>{p.article.published.isoformat()}</news:publication_date>"
        f"<news:title>{xml_escape(p.article.title)}</news:title>"
        "</news:news></url>"
        for p in placements
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        f"{items}</urlset>\n"
    )


def _feed_link(outlet: Outlet, base: str, placement: Placement) -> str:
    if outlet.feed.get("relative_links"):
        return placement.path + outlet.feed.get("link_suffix", "")
    return base + placement.path + outlet.feed.get("link_suffix", "")


def _content_html(article: SampleArticle) -> str:
    return "".join(f"<p>{escape(p)}</p>" for p in article.paragraphs)


def render_feed(outlet: Outlet, base: str, limit: int | None = None) -> str:
    """The outlet's feed; ``limit`` lists only the first ``limit`` articles."""
    placements = outlet.placements[:limit] if limit is not None else outlet.placements
    if outlet.feed.get("format") == "atom":
        return _render_atom(outlet, base, placements)
    return _render_rss(outlet, base, placements)


def _render_rss(outlet: Outlet, base: str, placements: list[Placement]) -> str:
    items = []
    for placement in placements:
        article = placement.article
        full = outlet.feed.get("full_content") or placement.status == "feed_only"
        content = (
            f"<content:encoded><![CDATA[{_content_html(article)}]]></content:encoded>"
            if full
            else ""
        )
        author = f"<dc:creator>{xml_escape(article.author)}</dc:creator>" if article.author else ""
        items.append(
            "<item>"
            f"<title>{xml_escape(article.title)}</title>"
            f"<link>{xml_escape(_feed_link(outlet, base, placement))}</link>"
            f'<guid isPermaLink="false">{outlet.key}-{xml_escape(article.slug)}</guid>'
            f"<pubDate>{format_datetime(article.published)}</pubDate>"
            f"{author}"
            f"<description>{xml_escape(article.summary)}</description>"
            f"{content}</item>"
        )
    # No encoding in the declaration: a windows-1256 outlet declares it only in HTTP;
    # a mislabelled one repeats its wrong label here too.
    declaration = (
        f'<?xml version="1.0" encoding="{outlet.label}"?>'
        if outlet.label != outlet.charset
        else '<?xml version="1.0"?>'
    )
    return (
        declaration + "\n"
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>{xml_escape(outlet.name)}</title><link>{base}/</link>"
        f"<description>{xml_escape(outlet.chrome.get('brand', outlet.name))}</description>"
        f"<language>{outlet.language}</language>" + "".join(items) + "</channel></rss>\n"
    )


def _render_atom(outlet: Outlet, base: str, placements: list[Placement]) -> str:
    entries = []
    for placement in placements:
        article = placement.article
        author = (
            f"<author><name>{xml_escape(article.author)}</name></author>" if article.author else ""
        )
        entries.append(
            "<entry>"
            f"<title>{xml_escape(article.title)}</title>"
            f'<link rel="alternate" type="text/html" href="{xml_escape(_feed_link(outlet, base, placement))}"/>'
            f"<id>tag:{outlet.key}.sample,2024:{xml_escape(article.slug)}</id>"
            f"<published>{article.published.isoformat()}</published>"
            f"<updated>{article.published.isoformat()}</updated>"
            f"{author}"
            f"<summary>{xml_escape(article.summary)}</summary>"
            "</entry>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{outlet.language}" xml:base="{base}/">'
        f"<title>{xml_escape(outlet.name)}</title>"
        f'<link rel="alternate" href="{base}/"/><id>{base}/</id>'
        "<updated>2024-02-10T00:00:00Z</updated>" + "".join(entries) + "</feed>\n"
    )


# Truncated mid-document with a broken entity and unclosed elements: what a feed
# looks like when a CMS dies while writing it. feedparser yields no entries.
MALFORMED_FEED = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<rss version="2.0"><channel><title>Tigris Tribune — World</title>'
    "<description>Latest & greatest <b>unclosed"
    "<item><title>Half-written item</ti"
)
