"""The weights file: a logistic model over the topic's evidence features.

``<topic>.weights.json`` sits beside the topic YAML and is written by
``marsad train topic`` (``marsad/topic/train.py``). Scoring needs only this file and
plain Python: ``score = 1 / (1 + exp(-(intercept + Σ weight[f] · (value[f] - center[f]))))``,
relevant when ``score >= threshold`` (the article's language's own threshold when the
file has one: ``thresholds``, each chosen by cross-validation on that language). The
weights are stored in the features' own units (the standardisation used while fitting
is folded in). ``center`` is 0 for every feature
that is absent from most articles, so an absent feature contributes exactly nothing and
a present one ``weight · value``; a feature most articles have (their length) is centred
on the training mean, so that its contribution reads "longer or shorter than usual".
These contributions are what ``matched_terms`` shares among the terms behind each feature.

A topic fitted with a vocabulary (``marsad.topic.vocabulary``) also stores its words'
idf and weights; their log-odds are the feature ``text:vocabulary``.

The file records how it was made: the threshold chosen by cross-validation, the
regularisation, the hash of the labelled corpus and of the test split it excluded, the
cross-validated figures, the date and the library versions.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from marsad.topic.schema import TopicFileError
from marsad.topic.vocabulary import Vocabulary

FORMAT = "marsad-topic-weights/1"


@dataclass
class TopicModel:
    features: dict[str, float]  # feature name → weight (in the feature's own units)
    intercept: float
    threshold: float
    topic: str = ""
    trained: dict = field(default_factory=dict)  # provenance: date, corpus hash, CV figures
    centers: dict[str, float] = field(default_factory=dict)  # see the module doc
    vocabulary: Vocabulary | None = None  # the learned words (marsad.topic.vocabulary)
    # Per-language thresholds chosen by cross-validation; ``threshold`` serves the rest.
    thresholds: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Centres folded into one constant: logit = base + Σ weight · value.
        self._base = self.intercept - sum(
            self.features.get(name, 0.0) * center for name, center in self.centers.items()
        )

    def logit(self, values: dict[str, float]) -> float:
        weights = self.features
        total = self._base
        for name, value in values.items():
            weight = weights.get(name)
            if weight:
                total += weight * value
        return total

    def threshold_for(self, language: str | None) -> float:
        return self.thresholds.get(language or "", self.threshold)

    @staticmethod
    def probability(logit: float) -> float:
        if logit >= 0:
            return 1.0 / (1.0 + math.exp(-logit))
        exp = math.exp(logit)
        return exp / (1.0 + exp)

    def contributions(self, values: dict[str, float]) -> dict[str, float]:
        weights, centers = self.features, self.centers
        found = {
            n: weights[n] * (v - centers.get(n, 0.0))
            for n, v in values.items()
            if weights.get(n) and v
        }
        for name, center in centers.items():  # a centred feature absent from this article
            if name not in values and weights.get(name):
                found[name] = -weights[name] * center
        return found

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "topic": self.topic,
            "threshold": self.threshold,
            **({"thresholds": self.thresholds} if self.thresholds else {}),
            "intercept": self.intercept,
            "weights": dict(sorted(self.features.items(), key=lambda kv: -abs(kv[1]))),
            "centers": self.centers,
            "trained": self.trained,
            **({"vocabulary": self.vocabulary.to_json()} if self.vocabulary else {}),
        }

    def save(self, path: str | Path) -> None:
        text = json.dumps(self.to_json(), ensure_ascii=False, indent=1)
        Path(path).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, data: dict, origin: str = "weights") -> TopicModel:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise TopicFileError(f"{origin}: not a topic weights file (format {FORMAT!r})")
        try:
            weights = {str(k): float(v) for k, v in data["weights"].items()}
            threshold = float(data["threshold"])
            intercept = float(data["intercept"])
            centers = {str(k): float(v) for k, v in (data.get("centers") or {}).items()}
            vocabulary = (
                Vocabulary.from_json(data["vocabulary"]) if data.get("vocabulary") else None
            )
            thresholds = {str(k): float(v) for k, v in (data.get("thresholds") or {}).items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TopicFileError(f"{origin}: malformed weights file ({exc})") from None
        if not all(0.0 < t < 1.0 for t in (threshold, *thresholds.values())):
            raise TopicFileError(f"{origin}: thresholds must be between 0 and 1")
        topic, trained = str(data.get("topic", "")), data.get("trained") or {}
        return cls(weights, intercept, threshold, topic, trained, centers, vocabulary, thresholds)

    @classmethod
    def load(cls, path: str | Path) -> TopicModel:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TopicFileError(
                f"no weights file {path}: fit one with `marsad train topic --topic <yaml> "
                "--labels <labelled.jsonl>` (docs/topic.md)"
            ) from None
        except (OSError, ValueError) as exc:
            raise TopicFileError(f"{path}: unreadable weights file ({exc})") from None
        return cls.from_json(data, origin=str(path))
