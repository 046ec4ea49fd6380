"""The Tag stage: an article is judged by its own language's threshold, and tagging in
the cleaning step's worker call (``tag_ahead``, the batch graph) makes the rows, and the
failure rows, that tagging in the Tag step itself makes."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam import Pipeline as BeamPipeline
from apache_beam.testing.util import assert_that

from marsad.dedup.neardup import NearDupConfig
from schemas.records import Article
from transforms.dedup_near import ClusterNearDuplicates
from transforms.pooled import Done, Failed
from transforms.tag import TagTopic, apply_tags, tag_ahead, tagger_for

LABELLED = Path(__file__).resolve().parents[1] / "data" / "topic" / "labelled.jsonl"


def _articles(count: int = 40) -> list[Article]:
    """Real labelled excerpts of both languages and labels, as extracted articles."""
    picked: dict[tuple, int] = {}
    articles = []
    for line in LABELLED.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        key = (item["language"], item["label"])
        if not item.get("text") or picked.get(key, 0) >= count // 4:
            continue
        picked[key] = picked.get(key, 0) + 1
        articles.append(
            Article(
                article_id=item["id"],
                url=item["url"],
                canonical_url=item["url"],
                source=item["outlet"],
                feed_url="http://127.0.0.1/feed.xml",
                run_id="r",
                title=item.get("title", ""),
                text=item["text"],
                language=item["language"],
            )
        )
    return articles


def _row(article: Article) -> tuple:
    return (
        article.article_id,
        article.text,
        article.topic_score,
        article.is_relevant,
        tuple(article.subtopics),
        json.dumps(article.matched_terms, sort_keys=True),
        json.dumps(article.entities, sort_keys=True),
        article.cluster_id,
        article.tag_ahead,
    )


def _failure(failure) -> tuple:
    return (failure.stage, failure.reason, failure.message, failure.url, failure.article_id)


def _same_on_both_sides(count: int, relevant_and_not: bool = False):
    """A matcher of CoGroupByKey results: ``count`` keys, one value on each side, equal."""

    def check(joined):
        joined = list(joined)
        assert len(joined) == count, [key for key, _ in joined]
        for key, sides in joined:
            ahead, step = list(sides["ahead"]), list(sides["step"])
            assert len(ahead) == 1 and ahead == step, (key, ahead, step)
        if relevant_and_not:
            relevant = {next(iter(sides["ahead"]))[3] for _, sides in joined}
            assert relevant == {True, False}

    return check


def _compare(articles: list[Article], rows: int, failures: int, workers: int) -> None:
    """The same articles cleaned and tagged both ways in one pipeline, joined by id."""
    ahead = partial(tag_ahead, topic_path=None, threshold=None)
    with BeamPipeline(runner="FnApiRunner") as pipeline:
        created = pipeline | beam.Create(articles)
        tagged: dict = {}
        failed: dict = {}
        for side, after in (("ahead", ahead), ("step", None)):
            cleaned = created | f"Clean {side}" >> ClusterNearDuplicates(
                NearDupConfig(), workers, after=after
            )
            good, bad = cleaned | f"Tag {side}" >> TagTopic("r", workers=workers)
            tagged[side] = good | f"Row {side}" >> beam.Map(lambda a: (a.article_id, _row(a)))
            failed[side] = bad | f"Failure {side}" >> beam.Map(
                lambda f: (f.article_id, _failure(f))
            )
        assert_that(
            tagged | "Join rows" >> beam.CoGroupByKey(),
            _same_on_both_sides(rows, relevant_and_not=True),
            label="Same rows",
        )
        assert_that(
            failed | "Join failures" >> beam.CoGroupByKey(),
            _same_on_both_sides(failures),
            label="Same failures",
        )


@pytest.mark.parametrize("workers", [1, 2])
def test_tagged_ahead_the_rows_are_those_of_the_tag_step(workers):
    articles = _articles()
    # A malformed element that cleaning accepts and tagging does not (a language that is
    # no language code): it must end as the same failure row either way.
    broken = articles[0].replace(article_id="broken_1", url="http://127.0.0.1/b",
                                 canonical_url="http://127.0.0.1/b", language=["en"])  # fmt: skip
    _compare([*articles, broken], rows=len(articles), failures=1, workers=workers)


def test_tag_ahead_carries_an_error_instead_of_raising():
    article = _articles(4)[0]
    carried = tag_ahead(article.replace(language=["en"]), None, None)
    assert isinstance(carried.tag_ahead, Failed) and carried.tag_ahead.fields
    assert carried.topic_score == 0.0 and not carried.matched_terms
    fine = tag_ahead(article, None, None)
    assert isinstance(fine.tag_ahead, Done) and fine.matched_terms


def test_an_article_is_judged_by_the_threshold_of_its_language():
    """The weights set a threshold per language (chosen by cross-validation, what
    ``marsad eval topic`` reports); the pipeline must judge by the same one."""
    tagger = tagger_for(None, None)
    english, default = tagger.threshold_for("en"), tagger.threshold_for(None)
    if english == default:
        pytest.skip("the topic's weights set one threshold for every language")
    low, high = sorted((english, default))
    between = [
        article
        for article in _articles(4000)
        if article.language == "en" and low <= tagger.score(article.title, article.text) < high
    ]
    assert between, "no labelled English excerpt scores between the two thresholds"
    for article in between:
        tagged = apply_tags(article, tagger)
        score = tagger.score(article.title, article.text)
        assert tagged.is_relevant == (score >= english), article.article_id
        assert tagged.is_relevant != apply_tags(article.replace(language=None), tagger).is_relevant


def test_the_run_check_and_the_stage_share_one_load_until_the_topic_changes(
    tmp_path: Path, monkeypatch
):
    """The pre-run check loads the tagger the stage uses; an edited weights file (a
    ``--watch`` loop's workers outlive a run) is loaded again for the next look-up."""
    import os
    import shutil

    import marsad.topic.tagger as tagger_module
    import transforms.tag as tag_module
    from marsad.topic.definition import DEFAULT_TOPIC
    from pipeline.preflight import check_topic

    loads = []
    load = tagger_module.load_tagger

    def counted(*args):
        loads.append(args)
        return load(*args)

    monkeypatch.setattr(tagger_module, "load_tagger", counted)  # what the check called
    monkeypatch.setattr(tag_module, "load_tagger", counted)

    topic = tmp_path / DEFAULT_TOPIC.name
    shutil.copy(DEFAULT_TOPIC, topic)
    weights = topic.with_name(topic.stem + ".weights.json")
    shutil.copy(DEFAULT_TOPIC.with_name(DEFAULT_TOPIC.stem + ".weights.json"), weights)

    check_topic(str(topic))
    checked = tagger_for(str(topic), None)
    assert tagger_for(str(topic), None) is checked and len(loads) == 1  # check and run
    assert checked.threshold_for("en") != 0.91

    data = json.loads(weights.read_text(encoding="utf-8"))
    data["threshold"], data["thresholds"] = 0.91, {"ar": 0.91, "en": 0.91}
    weights.write_text(json.dumps(data), encoding="utf-8")
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    edited = tagger_for(str(topic), None)
    assert edited is not checked and edited.threshold_for("en") == 0.91
    assert tagger_for(str(topic), None) is edited and len(loads) == 2
