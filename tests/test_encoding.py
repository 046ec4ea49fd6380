"""Decoding never silently corrupts: every combination of right, wrong and missing HTTP and
<meta> charsets for UTF-8, windows-1256 and ISO-8859-6, with and without a BOM, for pages
and for feeds (through feedparser)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marsad.feeds.parse import parse_feed
from marsad.fetch.encoding import (
    _counted_garbled,
    codec_name,
    declared_charsets,
    decode_document,
    looks_garbled,
    plausible_decoding,
)
from schemas.records import FeedFetch, SourceFeed
from tests.faultsite import ARABIC_PARAGRAPHS

ENCODINGS = {"utf-8": "utf-8", "windows-1256": "cp1256", "iso-8859-6": "iso8859-6"}
TITLE = "محادثات بغداد وواشنطن حول مستقبل التحالف"


def page(meta: str | None) -> str:
    tag = f'<meta http-equiv="Content-Type" content="text/html; charset={meta}">' if meta else ""
    body = "".join(f"<p>{p}</p>" for p in ARABIC_PARAGRAPHS)
    return (
        f'<!DOCTYPE html><html lang="ar" dir="rtl"><head>{tag}<title>{TITLE}</title></head>'
        f"<body><article><h1>{TITLE}</h1>{body}</article></body></html>"
    )


def labels_for(true_label: str) -> list[tuple[str, str | None]]:
    """(kind, label): the right label, each wrong one (incl. the common iso-8859-1), none."""
    wrong = [lab for lab in (*ENCODINGS, "iso-8859-1") if lab != true_label]
    return [("right", true_label), *[("wrong", lab) for lab in wrong], ("missing", None)]


CASES = [
    (true, http, meta, bom)
    for true in ENCODINGS
    for http, meta in itertools.product(labels_for(true), repeat=2)
    for bom in ((False, True) if true == "utf-8" else (False,))
]


def _id(case) -> str:
    true, (hk, hl), (mk, ml), bom = case
    return f"{true}-http_{hk}_{hl}-meta_{mk}_{ml}" + ("-bom" if bom else "")


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_every_label_combination_decodes_the_page_exactly(case):
    true, (http_kind, http_label), (meta_kind, meta_label), bom = case
    html = page(meta_label)
    body = (b"\xef\xbb\xbf" if bom else b"") + html.encode(true)
    content_type = f"text/html; charset={http_label}" if http_label else "text/html"
    decoded = decode_document(body, content_type)
    assert decoded.text == html
    assert decoded.encoding == ENCODINGS[true]
    expected_source = (
        "bom"
        if bom
        else "http"
        if http_kind == "right"
        else "meta"
        if meta_kind == "right"
        else "detected"
    )
    assert decoded.source == expected_source
    assert "\ufffd" not in decoded.text


def test_utf16_with_bom():
    html = page(None)
    decoded = decode_document(html.encode("utf-16"), "text/html; charset=utf-8")
    assert decoded.text == html and decoded.source == "bom"


def test_xml_declaration_is_a_declaration():
    xml = '<?xml version="1.0" encoding="windows-1256"?><rss><channel><title>عنوان</title>'
    assert declared_charsets(xml.encode("cp1256"), "application/xml") == [("xml", "cp1256")]
    decoded = decode_document(xml.encode("cp1256"), "application/rss+xml")
    assert decoded.source == "xml" and "عنوان" in decoded.text


def test_rejected_declarations_are_reported():
    body = page("utf-8").encode("cp1256")
    decoded = decode_document(body, "text/html; charset=utf-8")
    assert decoded.encoding == "cp1256" and decoded.source == "detected"
    assert decoded.rejected == ("http:utf-8", "meta:utf-8")


def test_a_stray_bad_byte_does_not_throw_a_right_label_away():
    body = page("utf-8").encode("utf-8") * 3
    cut = body.index(b"<p>") + 3
    body = body[:cut] + b"\xff" + body[cut:]
    decoded = decode_document(body, "text/html; charset=utf-8")
    assert decoded.source == "http" and decoded.text.count("\ufffd") == 1


def test_labels_resolve_as_browsers_resolve_them():
    assert codec_name("ISO-8859-1") == "cp1252"
    assert codec_name("arabic") == "iso8859-6"
    assert codec_name("Windows-1256") == "cp1256"
    assert codec_name('"utf8"') == "utf-8"
    assert codec_name("no-such-charset") is None


def test_garbling_checks():
    text = page(None)
    assert not looks_garbled(text)
    assert looks_garbled(text.encode("cp1256").decode("cp1252"))
    assert looks_garbled(text.encode("iso8859-6").decode("cp1256"))
    assert plausible_decoding(text.encode("utf-8"), "cp1256") is None
    english = "<p>The coalition said talks would resume in Baghdad next week, café owners said.</p>"
    assert plausible_decoding(english.encode("cp1252"), "cp1252") == english


def test_other_scripts_are_detected_by_charset_normalizer():
    russian = (
        "Переговоры о выводе иностранных войск возобновятся в Багдаде на следующей неделе. " * 5
    )
    decoded = decode_document(russian.encode("cp1251"), "text/html")
    assert decoded.text == russian and decoded.source == "detected"


# -- feeds: feedparser gets bytes we decoded, so a wrong label cannot reach it ------------

FEED_URL = "http://127.0.0.1:9/rss"
ITEM_TITLE = "انسحاب القوات الأجنبية: جولة جديدة من المفاوضات في بغداد"


def rss(declared: str | None) -> str:
    decl = f'<?xml version="1.0" encoding="{declared}"?>' if declared else '<?xml version="1.0"?>'
    items = "".join(
        f"<item><title>{ITEM_TITLE}</title><link>http://127.0.0.1:9/news/{n}</link>"
        f"<description>{p}</description></item>"
        for n, p in enumerate(ARABIC_PARAGRAPHS)
    )
    return f'{decl}\n<rss version="2.0"><channel><title>أخبار</title>{items}</channel></rss>'


FEED_CASES = [
    (true, http, xml)
    for true in ENCODINGS
    for http, xml in itertools.product(labels_for(true), repeat=2)
]


@pytest.mark.parametrize(
    "case", FEED_CASES, ids=[f"{t}-http_{h[1]}-xml_{x[1]}" for t, h, x in FEED_CASES]
)
def test_feed_label_combinations(case):
    true, (_, http_label), (_, xml_label) = case
    body = rss(xml_label).encode(true)
    content_type = f"application/rss+xml; charset={http_label}" if http_label else "text/xml"
    fetch = FeedFetch(
        feed=SourceFeed(source="Test", feed_url=FEED_URL),
        final_url=FEED_URL,
        status=200,
        headers={"content-type": content_type},
        body=body,
        fetched_at=datetime.now(UTC),
    )
    parsed = parse_feed(fetch)
    assert [e.title for e in parsed.entries] == [ITEM_TITLE] * len(ARABIC_PARAGRAPHS)
    assert parsed.entries[0].summary == ARABIC_PARAGRAPHS[0]


_MIXED_ALPHABET = "aZé ÀÿüÖ\u0621\u0627\u0644\u064a\u0600\u06ff 1٣_-\n" + "x" * 3


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_MIXED_ALPHABET, max_size=400))
def test_bounded_garbling_check_agrees_with_the_exact_counts(text):
    # looks_garbled settles most pages by cheap bounds; it must never disagree with counting.
    assert looks_garbled(text) == _counted_garbled(text)


def test_garbling_bounds_on_mixed_pages():
    arabic = page(None)
    for text in (
        arabic,
        arabic.encode("cp1256").decode("cp1252"),
        arabic.encode("iso8859-6").decode("cp1256"),
        "Größere Übungen à la française " * 40,
        "ÀÉÎÕÜ" * 30 + "abc",
        arabic + " café élan ü" * 3,
        arabic.replace("ال", "الé", 5),
    ):
        assert looks_garbled(text) == _counted_garbled(text)


_BYTES = st.one_of(
    st.text(alphabet=_MIXED_ALPHABET, max_size=300).map(lambda t: t.encode("utf-8")),
    st.binary(max_size=300),
    st.lists(
        st.sampled_from([b"\xc3", b"\xa9", b"\xd8", b"\xa7", b"ab", b" ", b"\xff", b"\xd9\x84"]),
        max_size=120,
    ).map(b"".join),
)


@settings(max_examples=400, deadline=None)
@given(_BYTES)
def test_the_utf8_byte_check_never_skips_a_garbled_text(body):
    from marsad.fetch.encoding import _utf8_may_look_garbled

    if not _utf8_may_look_garbled(body):
        assert not looks_garbled(body.decode("utf-8", errors="replace"))


def test_the_utf8_byte_check_counts_ascii_letters_across_blocks():
    """The ASCII letters that outweigh the Latin-1 ones may sit in any block of a long
    page; the answer is the same as counting the whole page at once."""
    from marsad.fetch.encoding import _COUNT_BLOCK, _utf8_may_look_garbled

    latin = "é".encode() * 1000  # needs 4,000 ASCII letters to be harmless
    padding = b" " * (3 * _COUNT_BLOCK)
    assert _utf8_may_look_garbled(latin + padding + b"a" * 3999)
    assert not _utf8_may_look_garbled(latin + padding + b"a" * 4000)
    assert not _utf8_may_look_garbled(b"a" * 4000 + latin + padding)


def _multibyte_utf8_by_each_byte(body: bytes) -> bool:
    """The definition ``_has_multibyte_utf8`` keeps (it was written this way, a byte at a
    time in Python, before it scanned with ``bytes.isascii``)."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(body) - 3 or error.reason != "unexpected end of data":
            return False
    return any(byte >= 0x80 for byte in body)


@settings(max_examples=400, deadline=None)
@given(_BYTES)
def test_the_multibyte_utf8_check_is_its_byte_by_byte_definition(body):
    from marsad.fetch.encoding import _has_multibyte_utf8

    for cut in (body, body[:-1], body[:-2]):  # cut mid-character, as at the size cap
        assert _has_multibyte_utf8(cut) == _multibyte_utf8_by_each_byte(cut)


def test_undeclared_and_single_byte_labelled_pages_decode_as_before():
    ascii_page = (
        "<html><body><p>" + "plain ASCII news text. " * 2000 + "</p></body></html>"
    ).encode()
    arabic = page(None)
    for body, content_type, codec in (
        (ascii_page, None, "utf-8"),  # undeclared ASCII: detection says UTF-8
        (ascii_page, "text/html; charset=iso-8859-1", "cp1252"),  # the label, as browsers read it
        (arabic.encode("utf-8"), "text/html; charset=windows-1256", "utf-8"),
        (arabic.encode("cp1256"), None, "cp1256"),
    ):
        decoded = decode_document(body, content_type)
        assert decoded.encoding == codec
        assert decoded.text == body.decode(codec)


_CODECS = (
    "utf-8",
    "cp1256",
    "iso8859-6",
    "cp1252",
    "koi8-r",
    "shift_jis",
    "utf-16-le",
    "cp500",
    "cp424",
    "iso2022_jp",
    "utf-7",
    "hz",
)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300).map(lambda b: bytes(x & 0x7F for x in b)), st.sampled_from(_CODECS))
def test_ascii_bodies_are_settled_as_the_full_checks_settle_them(body, codec):
    # plausible_decoding answers an ASCII body under an ASCII-compatible codec by one
    # scan; every codec, compatible or not (UTF-16, EBCDIC), must get the full checks' answer.
    import marsad.fetch.encoding as encoding

    shortcut = encoding.plausible_decoding(body, codec)
    original = encoding._reads_ascii_as_ascii
    encoding._reads_ascii_as_ascii = lambda codec: False
    try:
        full = encoding.plausible_decoding(body, codec)
    finally:
        encoding._reads_ascii_as_ascii = original
    assert shortcut == full


def test_seven_bit_codecs_that_shift_are_not_read_as_ascii():
    # ISO-2022-JP, HZ and UTF-7 bodies are ASCII bytes that mean other characters.
    news = "日本語のニュース 中文新闻 أخبار"
    for codec, text in (("iso2022_jp", news[:8]), ("hz", news[9:13]), ("utf-7", news)):
        body = text.encode(codec)
        assert body.isascii()
        assert plausible_decoding(body, codec) == text
