"""Outlet lines (boilerplate rule 2): a short line at the edge of at least
``min_outlet_pages`` *articles* of one outlet is the outlet's, not the story's. Pages
with one title are one article served at several addresses, and the lines they share
are its own (issue #15: replicated pages lost their headings to the rule)."""

from __future__ import annotations

import random

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamPipeline
from apache_beam.testing.util import assert_that

from marsad.dedup.neardup import Doc, NearDupConfig, outlet_line_sets
from marsad.text.boilerplate import article_key
from schemas.records import Article
from transforms.dedup_near import ClusterNearDuplicates, CountDistinctUpTo

CONFIG = NearDupConfig()
DISCLAIMER = "الآراء الواردة تعبر عن كتابها"
SENTENCE = (
    "قالت الحكومة العراقية إن المفاوضات مع واشنطن بشأن جدول انسحاب القوات تتواصل "
    "في بغداد وسط خلافات حول القواعد والمستشارين والجدول الزمني للمرحلة المقبلة"
)


def _body(seed: int) -> str:
    """Three long paragraphs no other page shares (shuffled words: no near-duplicates)."""
    rng = random.Random(seed)
    paragraphs = []
    for _ in range(3):
        words = SENTENCE.split() * 2
        rng.shuffle(words)
        paragraphs.append(" ".join(words))
    return "\n".join(paragraphs)


def _page(number: int, title: str) -> tuple[str, str, str]:
    """(id, title, text): a dateline heading, the body, the outlet's disclaimer."""
    return f"p{number}", title, "\n".join(["بغداد - مراسلنا", _body(number), DISCLAIMER])


def _pages(titles: list[str]) -> list[tuple[str, str, str]]:
    return [_page(n, title) for n, title in enumerate(titles)]


def _docs(pages) -> list[Doc]:
    return [Doc(page_id, text, "outlet", title=title) for page_id, title, text in pages]


def _lines(pages) -> frozenset[str]:
    return outlet_line_sets(_docs(pages), CONFIG.min_outlet_pages).get("outlet", frozenset())


def test_a_line_on_five_articles_is_the_outlets():
    found = _lines(_pages([f"خبر رقم {n}" for n in range(5)]))
    assert "بغداد مراسلنا" in found and "الاراء الوارده تعبر عن كتابها" in found
    assert not _lines(_pages([f"خبر رقم {n}" for n in range(4)])), "four are not enough"


def test_one_article_at_five_addresses_keeps_its_own_lines():
    """An update, a re-post, a print page: one title, one article, whatever the URL."""
    assert not _lines(_pages(["انسحاب القوات الأمريكية"] * 6))
    # Two articles, three addresses each: still two, not six.
    assert not _lines(_pages(["خبر أول"] * 3 + ["خبر ثان"] * 3))
    # Titles are compared as matching compares text (hamza, spacing, punctuation).
    assert article_key("انسحاب  القوات الأمريكية!", "a") == article_key(
        "انسحاب القوات الامريكية", "b"
    )


def test_untitled_pages_count_one_each():
    assert "بغداد مراسلنا" in _lines(_pages([""] * 5))


def test_a_title_that_is_only_the_outlets_name_is_no_article():
    """A site whose pages all carry its name as their title: five pages, five articles."""
    docs = [
        Doc(page_id, text, "outlet", title=title, sitename="Mosul Echo")
        for page_id, title, text in _pages(["Mosul  Echo"] * 5)
    ]
    assert "بغداد مراسلنا" in outlet_line_sets(docs, CONFIG.min_outlet_pages)["outlet"]
    assert article_key("Mosul Echo", "a", "Mosul Echo") != article_key(
        "Mosul Echo", "b", "Mosul Echo"
    )


def test_the_distinct_count_stops_at_the_cap_in_any_merge_order():
    count = CountDistinctUpTo(3)
    parts = [count.create_accumulator() for _ in range(3)]
    for index, value in enumerate([b"a", b"b", b"a", b"c", b"d", b"e", b"b"]):
        count.add_input(parts[index % 3], value)
    assert all(len(part) <= 3 for part in parts)
    for order in (parts, parts[::-1]):
        merged = count.merge_accumulators(order)
        assert len(merged) <= 3 and count.extract_output(merged) == 3
    few = count.merge_accumulators([{b"a"}, {b"a"}, {b"b"}])
    assert count.extract_output(few) == 2


def _article(page_id: str, title: str, text: str, sitename: str = "") -> Article:
    return Article(
        article_id=page_id,
        url=f"https://outlet.test/{page_id}",
        canonical_url=f"https://outlet.test/{page_id}",
        source="outlet",
        feed_url="",
        run_id="test",
        title=title,
        sitename=sitename,
        text=text,
        text_chars=len(text),
    )


@pytest.mark.parametrize(
    ("titles", "stripped"),
    [
        ([f"خبر رقم {n}" for n in range(6)], True),
        (["انسحاب القوات الأمريكية"] * 6, False),
        (["خبر أول"] * 3 + ["خبر ثان"] * 3, False),
        ([""] * 6, True),
        (["Mosul Echo"] * 6, True),
    ],
    ids=["six articles", "one article six times", "two articles", "untitled", "site name"],
)
def test_the_pipeline_strips_outlet_lines_by_articles(titles, stripped):
    """The stored text, as the Beam transform writes it, agrees with the reference."""
    pages = _pages(titles)
    docs = [Doc(p, text, "outlet", title=t, sitename="Mosul Echo") for p, t, text in pages]
    expected = outlet_line_sets(docs, CONFIG.min_outlet_pages).get("outlet", frozenset())
    assert bool(expected) == stripped

    def check(texts):
        assert len(texts) == len(pages)
        for text in texts:
            assert (DISCLAIMER not in text) == stripped
            assert ("بغداد - مراسلنا" not in text) == stripped
            assert text.count("\n") == (1 if stripped else 3) + 1

    with BeamPipeline(runner="FnApiRunner") as pipeline:
        texts = (
            pipeline
            | beam.Create([_article(*page, sitename="Mosul Echo") for page in pages])
            | ClusterNearDuplicates(CONFIG)
            | beam.Map(lambda article: article.text)
        )
        assert_that(texts, check)
