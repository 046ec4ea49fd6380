"""TagTopic: article → article with topic score, relevance flag, terms and entities."""

from __future__ import annotations

import time
from functools import cache, partial

import apache_beam as beam
from apache_beam import pvalue

from marsad.topic.tagger import load_tagger
from schemas.records import Article
from transforms.common import FAILURES, apply_stage, counter, error_fields
from transforms.pooled import PooledStageDoFn


def apply_tags(article: Article, tagger) -> Article:
    # The language extraction detected picks the threshold (a topic's weights may set
    # one per language, chosen by cross-validation); it is not detected again.
    tags = tagger.tag(article.title, article.text, language=article.language, detect_language=False)
    return article.replace(
        topic_score=tags.score,
        is_relevant=tags.is_relevant,
        subtopics=tags.subtopics,
        matched_terms=tags.matched_terms,
        entities=tags.entities,
    )


@cache
def tagger_for(topic_path: str | None, threshold: float | None):
    """The tagger of a topic, loaded once per process (and inherited by forked workers)."""
    return load_tagger(topic_path, threshold)


def tag_article(article: Article, topic_path: str | None, threshold: float | None) -> Article:
    return apply_tags(article, tagger_for(topic_path, threshold))


def tag_ahead(article: Article, topic_path: str | None, threshold: float | None) -> Article:
    """The article tagged in an earlier step's worker call (the batch graph's cleaning,
    ``ClusterNearDuplicates(after=...)``); its ``tag_ahead`` field holds how long that
    took and, if tagging failed, the error's fields. The Tag stage then makes the row,
    or the failure row, without handing the article to a worker again. An error is
    carried, not raised: it must not fail the cleaning."""
    started = time.perf_counter()
    try:
        tagged = tag_article(article, topic_path, threshold)
    except Exception as error:
        ms = int((time.perf_counter() - started) * 1000)
        return article.replace(tag_ahead={"ms": ms, "error": error_fields(error)})
    return tagged.replace(tag_ahead={"ms": int((time.perf_counter() - started) * 1000)})


class TagFn(PooledStageDoFn):
    stage = "tag"

    def __init__(
        self,
        run_id: str,
        threshold: float | None,
        topic_path: str | None,
        workers: int = 1,
    ) -> None:
        super().__init__(run_id, workers)
        self.threshold = threshold
        self.topic_path = topic_path

    def setup(self) -> None:
        super().setup()
        self.tagger = tagger_for(self.topic_path, self.threshold)  # a bad topic fails here

    def describe(self, article: Article):
        return article.final_url or article.url, {
            "source": article.source,
            "feed_url": article.feed_url,
            "article_id": article.article_id,
        }

    def work(self):
        return partial(tag_article, topic_path=self.topic_path, threshold=self.threshold)

    def process(
        self,
        element: Article,
        timestamp=beam.DoFn.TimestampParam,
        window=beam.DoFn.WindowParam,
    ):
        ahead = element.tag_ahead
        if ahead is None:
            yield from super().process(element, timestamp, window)
            return
        # Tagged ahead (``tag_ahead``): the same row, or failure row, as a tagging here.
        counter(self.stage, "in")
        self._ms.update(ahead["ms"])
        article = element.replace(tag_ahead=None)
        if "error" in ahead:
            failure = self._failure_from(article, ahead["error"])
            counter(failure.stage, f"failed.{failure.reason}")
            yield pvalue.TaggedOutput(FAILURES, failure)
            return
        for output in self.outputs(article, article):
            counter(self.stage, "out")
            yield output

    def outputs(self, article: Article, tagged: Article):
        counter(self.stage, "relevant" if tagged.is_relevant else "not_relevant")
        yield tagged


class TagTopic(beam.PTransform):
    """Tag every article for the Iraq troop-withdrawal story (``workers``: see
    ``marsad.workers``)."""

    def __init__(
        self,
        run_id: str,
        threshold: float | None = None,
        topic_path: str | None = None,
        workers: int = 1,
    ) -> None:
        super().__init__()
        self.run_id = run_id
        self.threshold = threshold
        self.topic_path = topic_path
        self.workers = workers

    def expand(self, articles):
        return apply_stage(
            articles, "Tag", TagFn(self.run_id, self.threshold, self.topic_path, self.workers)
        )
