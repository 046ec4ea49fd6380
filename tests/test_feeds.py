"""Feed parsing edge cases on bytes as servers send them."""

from datetime import UTC, datetime

import pytest

from marsad.errors import FeedError
from marsad.feeds.parse import parse_feed
from schemas.records import FeedFetch, SourceFeed

FEED_URL = "http://127.0.0.1:9/feed.xml"


def fetch_of(body: bytes, content_type: str = "application/rss+xml") -> FeedFetch:
    return FeedFetch(
        feed=SourceFeed(source="Test", feed_url=FEED_URL, language="ar", country="IQ"),
        final_url=FEED_URL,
        status=200,
        headers={"content-type": content_type},
        body=body,
        fetched_at=datetime.now(UTC),
    )


RSS_1256 = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>بغداد</title>'
    "<item><title>انسحاب القوات الأمريكية</title><link>http://127.0.0.1:9/n/1</link>"
    "<pubDate>Mon, 29 Jan 2024 08:15:00 +0300</pubDate><description>نص الخبر</description></item>"
    "</channel></rss>"
)


def test_charset_declared_only_in_http_header_is_honoured():
    parsed = parse_feed(
        fetch_of(RSS_1256.encode("cp1256"), "application/rss+xml; charset=windows-1256")
    )
    assert parsed.entries[0].title == "انسحاب القوات الأمريكية"
    assert parsed.entries[0].summary == "نص الخبر"
    assert parsed.entries[0].published_at == datetime(2024, 1, 29, 5, 15, tzinfo=UTC)


def test_atom_relative_links_resolve_against_xml_base():
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
        'xml:base="http://127.0.0.1:9/ar/"><title>t</title><id>x</id><updated>2024-01-01T00:00:00Z</updated>'
        '<entry><title>a</title><id>tag:a</id><link href="details/7"/><updated>2024-01-02T00:00:00Z</updated>'
        '<author><name>كاتب</name></author><content type="html">&lt;p&gt;فقرة&lt;/p&gt;</content></entry></feed>'
    ).encode()
    parsed = parse_feed(fetch_of(atom, "application/atom+xml"))
    entry = parsed.entries[0]
    assert entry.link == "http://127.0.0.1:9/ar/details/7"
    assert entry.authors == ["كاتب"]
    assert entry.content == "<p>فقرة</p>"
    assert entry.published_at is None and entry.updated_at is not None


def test_entry_without_link_is_a_problem_not_a_crash():
    rss = (
        b'<rss version="2.0"><channel><title>t</title>'
        b"<item><title>no link here</title></item>"
        b"<item><title>ok</title><guid>https://127.0.0.1:9/guid-as-link</guid></item>"
        b"</channel></rss>"
    )
    parsed = parse_feed(fetch_of(rss))
    assert [e.link for e in parsed.entries] == ["https://127.0.0.1:9/guid-as-link"]
    assert [p.error.reason for p in parsed.problems] == ["entry_no_link"]


def test_truncated_feed_is_malformed():
    from marsad.samplesite.render import MALFORMED_FEED

    with pytest.raises(FeedError) as caught:
        parse_feed(fetch_of(MALFORMED_FEED.encode()))
    assert caught.value.reason == "feed_malformed"


def test_html_page_is_not_a_feed():
    with pytest.raises(FeedError) as caught:
        parse_feed(fetch_of(b"<html><body><p>Welcome</p></body></html>", "text/html"))
    assert caught.value.reason in ("not_a_feed", "feed_malformed")


def test_empty_but_valid_feed_has_no_entries():
    parsed = parse_feed(fetch_of(b'<rss version="2.0"><channel><title>t</title></channel></rss>'))
    assert parsed.entries == [] and parsed.problems == []


def test_html_in_titles_and_summaries_is_stripped():
    rss = (
        '<rss version="2.0"><channel><title>t</title><item>'
        "<title>&lt;b&gt;عاجل&lt;/b&gt; خبر</title><link>http://127.0.0.1:9/a</link>"
        "<description>&lt;p&gt;سطر&lt;/p&gt;&lt;p&gt;آخر&lt;/p&gt;&lt;script&gt;x()&lt;/script&gt;</description>"
        "</item></channel></rss>"
    ).encode()
    entry = parse_feed(fetch_of(rss)).entries[0]
    assert entry.title == "عاجل خبر"
    assert entry.summary == "سطر\nآخر"


def test_json_feed():
    body = (
        '{"version": "https://jsonfeed.org/version/1.1", "title": "t", '
        '"home_page_url": "http://127.0.0.1:9/", "language": "ar-IQ", "items": ['
        '{"id": "1", "url": "/news/1", "title": "خبر", "content_html": "<p>نص</p>", '
        '"date_published": "2024-01-29T08:15:00+03:00", "authors": [{"name": "كاتب"}]},'
        '{"id": "2", "title": "no url"}]}'
    ).encode()
    parsed = parse_feed(fetch_of(body, "application/feed+json"))
    (entry,) = parsed.entries
    assert entry.link == "http://127.0.0.1:9/news/1"
    assert entry.published_at == datetime(2024, 1, 29, 5, 15, tzinfo=UTC)
    assert entry.authors == ["كاتب"] and entry.content == "<p>نص</p>"
    assert [p.error.reason for p in parsed.problems] == ["entry_no_link"]


def test_json_that_is_not_a_feed():
    with pytest.raises(FeedError) as caught:
        parse_feed(fetch_of(b'{"hello": "world"}', "application/json"))
    assert caught.value.reason == "not_a_feed"


def _json_feed(items) -> bytes:
    import json

    return json.dumps(
        {"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": items}
    ).encode()


def test_ill_typed_json_feed_items_fail_alone_and_the_rest_go_on():
    # Issue #10.2: one item with a numeric title or url sank the whole feed.
    good = {"id": "1", "url": "http://127.0.0.1:9/good", "title": "خبر"}
    items = [
        {"id": "2", "url": "http://127.0.0.1:9/n", "title": 12345},
        good,
        {"id": "3", "url": 42, "title": "رقم"},
        "not an object",
        {"id": 7, "url": "http://127.0.0.1:9/numeric-id", "title": "x"},  # 1.1: coerce ids
        {"id": "4", "title": "no url"},
    ]
    parsed = parse_feed(fetch_of(_json_feed(items), "application/feed+json"))
    assert [e.link for e in parsed.entries] == [
        "http://127.0.0.1:9/good",
        "http://127.0.0.1:9/numeric-id",
    ]
    assert parsed.entries[1].guid == "7"
    reasons = [p.error.reason for p in parsed.problems]
    assert reasons == ["entry_malformed", "entry_malformed", "entry_malformed", "entry_no_link"]
    assert "title must be a string" in str(parsed.problems[0].error)
    # Keys are stable across runs (they key the failure ledger) and distinct.
    again = parse_feed(fetch_of(_json_feed(items), "application/feed+json"))
    assert [p.key for p in again.problems] == [p.key for p in parsed.problems]
    assert len({p.key for p in parsed.problems}) == 4


def test_json_feed_with_non_list_items_is_one_feed_failure():
    body = b'{"version": "https://jsonfeed.org/version/1", "items": {"a": 1}}'
    with pytest.raises(FeedError) as caught:
        parse_feed(fetch_of(body, "application/json"))
    assert caught.value.reason == "feed_malformed"


def test_a_bad_rss_entry_fails_alone(monkeypatch):
    # feedparser hands out strings, so force one entry's field to break our code path
    # the way an unforeseen value would: the other entries must still come out.
    import marsad.feeds.parse as parse

    real = parse._authors

    def authors(entry):
        if entry.get("title") == "boom":
            raise ValueError("unexpected author structure")
        return real(entry)

    monkeypatch.setattr(parse, "_authors", authors)
    body = (
        b'<rss version="2.0"><channel><title>t</title>'
        b"<item><title>one</title><link>http://127.0.0.1:9/1</link></item>"
        b"<item><title>boom</title><link>http://127.0.0.1:9/2</link></item>"
        b"<item><title>three</title><link>http://127.0.0.1:9/3</link></item>"
        b"</channel></rss>"
    )
    parsed = parse_feed(fetch_of(body))
    assert [e.title for e in parsed.entries] == ["one", "three"]
    assert [p.error.reason for p in parsed.problems] == ["entry_malformed"]
