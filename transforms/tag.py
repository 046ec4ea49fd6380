"""TagTopic: article → article with topic score, relevance flag, terms and entities."""

from __future__ import annotations

import apache_beam as beam

from marsad.topic.tagger import load_tagger
from schemas.records import Article
from transforms.common import StageDoFn, apply_stage, counter


def apply_tags(article: Article, tagger) -> Article:
    tags = tagger.tag(article.title, article.text, detect_language=False)
    return article.replace(
        topic_score=tags.score,
        is_relevant=tags.is_relevant,
        subtopics=tags.subtopics,
        matched_terms=tags.matched_terms,
        entities=tags.entities,
    )


class TagFn(StageDoFn):
    stage = "tag"

    def __init__(self, run_id: str, threshold: float | None, topic_path: str | None) -> None:
        super().__init__(run_id)
        self.threshold = threshold
        self.topic_path = topic_path

    def setup(self) -> None:
        super().setup()
        self.tagger = load_tagger(self.topic_path, self.threshold)

    def describe(self, article: Article):
        return article.final_url or article.url, {
            "source": article.source,
            "feed_url": article.feed_url,
            "article_id": article.article_id,
        }

    def handle(self, article: Article):
        tagged = apply_tags(article, self.tagger)
        counter(self.stage, "relevant" if tagged.is_relevant else "not_relevant")
        yield tagged


class TagTopic(beam.PTransform):
    """Tag every article for the Iraq troop-withdrawal story."""

    def __init__(
        self, run_id: str, threshold: float | None = None, topic_path: str | None = None
    ) -> None:
        super().__init__()
        self.run_id = run_id
        self.threshold = threshold
        self.topic_path = topic_path

    def expand(self, articles):
        return apply_stage(articles, "Tag", TagFn(self.run_id, self.threshold, self.topic_path))
