"""TagTopic: article → article with topic score, relevance flag, terms and entities."""

from __future__ import annotations

import os
from functools import partial

import apache_beam as beam

from marsad.topic.tagger import load_tagger
from schemas.records import Article
from transforms.common import apply_stage, counter
from transforms.pooled import Done, Failed, PooledStageDoFn, run_measured


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


_TAGGERS: dict[tuple[str | None, float | None], tuple[tuple, tuple, object]] = {}


def _stamp(paths: tuple) -> tuple:
    """Size and modification time of each file (None where it cannot be read)."""
    stamps = []
    for path in paths:
        try:
            found = os.stat(path)
            stamps.append((found.st_mtime_ns, found.st_size))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


def tagger_for(topic_path: str | None, threshold: float | None):
    """The tagger of a topic, loaded once per process (and inherited by forked workers),
    and loaded again once its topic or weights file has changed: the pre-run check, the
    workers' warm-up and the Tag stage share one load, and the next run of a ``--watch``
    loop (whose workers outlive a run) tags with an edited topic. Two ``stat`` calls a
    look-up."""
    key = (topic_path, threshold)
    cached = _TAGGERS.get(key)
    if cached is not None:
        files, stamp, tagger = cached
        if _stamp(files) == stamp:
            return tagger
    tagger = load_tagger(topic_path, threshold)
    definition = tagger.definition
    files = tuple(str(p) for p in (definition.path, definition.weights_path()) if p)
    _TAGGERS[key] = (files, _stamp(files), tagger)
    return tagger


def tag_article(article: Article, topic_path: str | None, threshold: float | None) -> Article:
    return apply_tags(article, tagger_for(topic_path, threshold))


def tag_ahead(article: Article, topic_path: str | None, threshold: float | None) -> Article:
    """The article tagged in an earlier step's worker call (the batch graph's cleaning,
    ``ClusterNearDuplicates(after=...)``); its ``tag_ahead`` field holds the outcome as
    the pool would report it (``run_measured``: the milliseconds, or the error's fields).
    The Tag stage then makes the row, or the failure row, without handing the article
    to a worker again. An error is carried, not raised: it must not fail the cleaning."""
    result = run_measured(partial(tag_article, topic_path=topic_path, threshold=threshold), article)
    if isinstance(result, Failed):
        return article.replace(tag_ahead=result)
    return result.value.replace(tag_ahead=Done(None, result.ms))


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

    def ahead(self, article: Article) -> Done | Failed | None:
        """Tagged in the cleaning's call (``tag_ahead``): its outcome, the article as
        the row without the carried outcome."""
        carried = article.tag_ahead
        if isinstance(carried, Done):
            return Done(article.replace(tag_ahead=None), carried.ms)
        return carried

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
