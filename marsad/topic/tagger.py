"""Topic tagging: a YAML topic, token matching, and a learned, explainable score.

Interface: ``load_tagger(topic_path, threshold).tag(title, text) -> TopicTags``.

* The topic file (``marsad/topic/definitions/*.yaml``, format in docs/topic.md) holds the
  knowledge: concepts, terms, spelling variants, competing contexts, subtopics, entities.
* ``marsad.topic.features`` reads an article against it (clitic- and plural-aware phrase
  matching per sentence) into evidence features: co-occurrence of the evidence concepts
  in a sentence or paragraph, by position, where the evidence is located, etc.
* The weights file beside the topic (``marsad.topic.model``, fitted by
  ``marsad train topic``) turns the features into ``topic_score`` (a probability) and
  ``is_relevant`` (``score >= threshold``, the threshold chosen by cross-validation).
* ``matched_terms`` lists every term found with its concept, count and ``weight``: the
  share of the log-odds the term added (features' contributions shared among the terms
  that produced them; term-less features such as "no place named" appear as rows whose
  concept is ``feature``). Sorted by absolute weight: the first rows say why.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from marsad.text.language import detect_language
from marsad.topic.definition import DEFAULT_TOPIC, TopicDefinition
from marsad.topic.features import ArticleReader, Reading
from marsad.topic.model import TopicModel
from marsad.topic.vocabulary import FEATURE as VOCABULARY
from marsad.topic.vocabulary import SHOWN

__all__ = [
    "DEFAULT_TOPIC",
    "TopicDefinition",
    "TopicTagger",
    "TopicTags",
    "check_topic",
    "load_tagger",
]


@dataclass
class TopicTags:
    score: float = 0.0
    is_relevant: bool = False
    subtopics: list[str] = field(default_factory=list)
    matched_terms: list[dict] = field(default_factory=list)
    entities: list[dict] = field(default_factory=list)
    language: str = ""


class TopicTagger:
    """Scores articles with one topic definition and its weights file."""

    def __init__(
        self,
        definition: TopicDefinition,
        model: TopicModel,
        threshold: float | None = None,
    ) -> None:
        self.definition = definition
        self.model = model
        self.override = threshold  # one threshold for every language when given
        self.reader = ArticleReader(definition)

    def features(self, title: str, text: str) -> tuple[dict[str, float], dict, Reading]:
        reading = self.reader.read(title or "", text or "")
        values, sources = self.reader.features(reading)
        vocabulary = self.model.vocabulary
        if vocabulary is not None:
            values[VOCABULARY], sources[VOCABULARY] = vocabulary.score(reading.words)
        return values, sources, reading

    def explain(self, values: dict[str, float], sources: dict, reading: Reading) -> list[dict]:
        """matched_terms rows: each term's count and share of the log-odds (see module doc)."""
        shares: dict[int, float] = {}
        rows: list[dict] = []
        for name, contribution in self.model.contributions(values).items():
            if name == VOCABULARY:
                rows += self._vocabulary_rows(contribution, sources[name])
                continue
            roles = sources.get(name)
            if not roles:
                rows.append({"term": name, "concept": "feature", "count": 1,
                             "weight": round(contribution, 4)})  # fmt: skip
                continue
            part = contribution / len(roles)
            for role in roles:
                shares[id(role)] = shares.get(id(role), 0.0) + part
        for key, count in reading.terms.items():
            role = reading.roles[key]
            rows.append({"term": role.text, "concept": role.label, "count": count,
                         "weight": round(shares.get(key, 0.0), 4)})  # fmt: skip
        rows.sort(key=lambda r: (-abs(r["weight"]), -r["count"], r["term"]))
        return rows

    def _vocabulary_rows(self, contribution: float, parts: dict[str, float]) -> list[dict]:
        """The strongest words: each one's part of the vocabulary's log-odds, times the
        vocabulary feature's weight (what the word added to the article's log-odds)."""
        weight = self.model.features.get(VOCABULARY, 0.0)
        if not parts:
            return [{"term": VOCABULARY, "concept": "feature", "count": 1,
                     "weight": round(contribution, 4)}]  # fmt: skip
        strongest = sorted(parts.items(), key=lambda kv: -abs(kv[1]))[:SHOWN]
        return [
            {"term": term, "concept": "vocabulary", "count": 1, "weight": round(weight * part, 4)}
            for term, part in strongest
        ]

    def _subtopics(self, reading: Reading) -> list[str]:
        """Subtopic terms in the paragraphs (or title) that hold evidence."""
        evidence = self.definition.evidence
        paragraphs = {u.paragraph for u in reading.units if all(c in u.concepts for c in evidence)}
        found: Counter = Counter()
        for unit in reading.units:
            if unit.paragraph in paragraphs:
                for role in unit.roles:
                    found.update(role.subtopics)
        return [name for name in self.definition.subtopic_names if found[name]]

    @staticmethod
    def _language(title: str, text: str, declared: str | None) -> str:
        """The text's language; the declared one only when the text cannot tell."""
        detected = detect_language(f"{title}\n{text[:800]}", fallback=declared or "")
        return declared if detected == "und" and declared else detected

    def threshold_for(self, language: str | None) -> float:
        """The threshold an article in ``language`` is judged by."""
        return self.override if self.override is not None else self.model.threshold_for(language)

    def score(self, title: str, text: str) -> float:
        values, _, _ = self.features(title, text)
        return self.model.probability(self.model.logit(values))

    def tag(
        self, title: str, text: str, language: str | None = None, detect_language: bool = True
    ) -> TopicTags:
        """Tags of one article; ``language`` is detected from the text unless
        ``detect_language`` is off (the pipeline has detected it at extraction)."""
        values, sources, reading = self.features(title, text)
        score = self.model.probability(self.model.logit(values))
        if detect_language:
            language = self._language(title or "", text or "", language)
        relevant = score >= self.threshold_for(language)
        entities = self.definition.entities
        return TopicTags(
            score=round(score, 4),
            is_relevant=relevant,
            subtopics=self._subtopics(reading) if relevant else [],
            matched_terms=self.explain(values, sources, reading),
            entities=[
                {"type": entities[n][0], "name": entities[n][1], "mentions": count}
                for n, count in sorted(reading.entities.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
            language=language or "",
        )


def load_tagger(
    topic_path: str | Path | None = None,
    threshold: float | None = None,
    weights_path: str | Path | None = None,
) -> TopicTagger:
    """The tagger the pipeline and CLI use; ``topic_path`` defaults to the Iraq topic and
    the weights file to the one beside it (``model:`` in the topic, else
    ``<stem>.weights.json``)."""
    definition = TopicDefinition.load(topic_path)
    model = TopicModel.load(weights_path or definition.weights_path())
    return TopicTagger(definition, model, threshold)


def check_topic(
    topic_path: str | Path | None = None, weights_path: str | Path | None = None
) -> None:
    """Raise :class:`marsad.topic.schema.TopicFileError` (reason ``topic_invalid``) when the
    topic file or its weights file is unusable; for checks before a run starts."""
    load_tagger(topic_path, None, weights_path)
