"""Extraction limits: stored text length, plausible dates, binaries served as HTML."""

from __future__ import annotations

import gzip
import io
import zipfile
from datetime import UTC, datetime

import pytest

from marsad.errors import FetchError
from marsad.fetch.http import HttpResponse
from marsad.fetch.sniff import binary_kind
from marsad.text.extract import cap_text, plausible_date
from schemas.records import Article
from tests.faultsite import arabic_page
from transforms.extract import extract_article
from transforms.fetch_articles import check_article_type

FETCHED = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
PAGE_DATE_HTML = arabic_page().replace(
    "<title>", '<meta property="article:published_time" content="2026-04-30T09:00:00+00:00"><title>'
)


def _article(published_at=None, html=PAGE_DATE_HTML) -> Article:
    return Article(
        article_id="a_1",
        url="http://127.0.0.1/a",
        canonical_url="http://127.0.0.1/a",
        source="s",
        feed_url="http://127.0.0.1/f",
        run_id="r",
        published_at=published_at,
        published_from="feed" if published_at else "",
        fetched_at=FETCHED,
        html=html,
    )


@pytest.mark.parametrize(
    "feed_date",
    [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2099, 12, 31, tzinfo=UTC),
        datetime(2026, 5, 2, 12, 1, tzinfo=UTC),  # a day and a minute after the fetch
    ],
)
def test_absurd_feed_dates_fall_back_to_the_page_date(feed_date):
    article = extract_article(_article(feed_date))
    assert article.published_from == "page"
    assert article.published_at == datetime(2026, 4, 30, tzinfo=UTC)  # trafilatura: day only
    assert article.partition_date == "2026-04-30"


def test_without_a_page_date_the_fetch_time_is_used():
    html = arabic_page()
    article = extract_article(_article(datetime(1, 1, 1, tzinfo=UTC), html=html))
    assert (article.published_from, article.published_at) == ("fetched", FETCHED)
    assert article.partition_date == "2026-05-01"


def test_a_plausible_feed_date_is_kept():
    feed_date = datetime(2026, 4, 29, tzinfo=UTC)
    article = extract_article(_article(feed_date))
    assert (article.published_from, article.published_at) == ("feed", feed_date)
    assert plausible_date(datetime(1990, 1, 1, tzinfo=UTC), FETCHED)


def test_long_texts_are_cut_and_flagged():
    html = "<html><body><article>" + "<p>" + "كلمة " * 60_000 + "</p></article></body></html>"
    article = extract_article(_article(html=html), max_text_chars=10_000)
    assert article.text_truncated and 9_000 <= article.text_chars <= 10_000
    assert len(article.text) == article.text_chars
    short = extract_article(_article(), max_text_chars=10_000)
    assert not short.text_truncated


def test_cap_text_cuts_at_a_word():
    text, cut = cap_text("a" * 95 + " " + "b" * 10, 100)
    assert (text, cut) == ("a" * 95, True)
    assert cap_text("x" * 200, 100) == ("x" * 100, True)  # no space near the end: hard cut
    assert cap_text("short", 9) == ("short", False)


def _office_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "body",
    [
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64,
        b"GIF89a" + b"\x00" * 64,
        gzip.compress(b"<html></html>"),
        _office_zip(),
        bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 600,  # legacy .doc/.xls
    ],
)
def test_binaries_served_as_html_are_refused(body):
    response = HttpResponse("u", "http://127.0.0.1/a", 200, {"content-type": "text/html"}, body)
    with pytest.raises(FetchError) as caught:
        check_article_type(response)
    assert caught.value.reason == "unsupported_content_type"


@pytest.mark.parametrize(
    "body",
    [
        arabic_page().encode("utf-8"),
        arabic_page(meta_charset=None).encode("cp1256"),
        b"\xef\xbb\xbf<html><body>BOM</body></html>",
        b"<html><body>\xff\xfe broken utf-8 \xc3</body></html>",
        b"",
    ],
)
def test_text_pages_are_not_taken_for_binaries(body):
    assert binary_kind(body) is None


def test_the_fetched_page_is_decoded_in_the_extraction_step():
    # FetchArticles hands the page over as bytes; Extract decodes it (here undeclared
    # windows-1256, found by detection) and does not carry the bytes further.
    from transforms.extract import extract_page

    body = arabic_page().encode("cp1256")
    result = extract_page(_article(html="").replace(page=body, content_type="text/html"))
    assert result.failure is None and result.encoding_source == "detected"
    article = result.article
    assert article.encoding == "cp1256" and article.encoding_source == "detected"
    assert "الحكومة العراقية" in article.text
    assert article.page == b"" and article.html == "" and article.content_type == ""


def test_a_page_that_fails_extraction_still_says_how_it_was_decoded():
    from transforms.extract import ExtractFn, extract_page

    page = _article(html="").replace(
        page=b"<html><body></body></html>", content_type="text/html; charset=utf-8"
    )
    result = extract_page(page)
    assert result.article is None and result.encoding_source == "http"
    assert result.failure["reason"] == "extraction_empty"
    fn = ExtractFn("r", 250)
    fn.setup()
    (output,) = list(fn.process(page))
    assert output.value.stage == "extract" and output.value.reason == "extraction_empty"
    assert output.value.url == "http://127.0.0.1/a"
