"""A learned vocabulary beside the topic's evidence: one more feature, still explainable.

The evidence features (``marsad.topic.features``) know only the terms of the topic file.
Real coverage also speaks through words nobody listed ("residual force", «المستشارين
العسكريين» spelt another way, the names of units and bases) and through words that mark
the hard negatives (a Houthi missile, an embassy evacuation). ``marsad train topic`` fits
a regularised logistic model over the words and word pairs of the labelled articles
(tf-idf: ``1 + log(count)`` times the inverse document frequency, the vector scaled to
unit length — and, when scoring, shrunk by ``n / (n + SHRINK)`` for an article with n
known terms, so that a headline or a two-sentence summary cannot outvote the evidence),
keeps the most frequent ``MAX_TERMS`` of them, and stores every kept term's
idf and weight in the weights file. Its log-odds enter the topic's model as the single
feature ``text:vocabulary`` (stacking: while fitting, each article's value comes from a
vocabulary model that never saw it), so the learned combination decides how much the
words count beside the evidence.

Why a row says so: the feature's contribution is shared among the words in proportion to
their own share of the vocabulary's log-odds; ``matched_terms`` shows the strongest with
concept ``vocabulary``.

Scoring needs plain Python only and no second pass over the text: the words are the
ones the topic's matching has already normalised (``Reading.words``), then a Counter and
a dict lookup per word and word pair.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise

from marsad.topic.match import plain_tokens

FEATURE = "text:vocabulary"
MAX_TERMS = 8000
SHOWN = 8  # words listed in matched_terms
SHRINK = 20  # known terms at which the vocabulary has half its say (see score)


def words_of(title: str, text: str) -> list[str]:
    """The article's normalised words, read exactly as the topic's matching reads them
    (``ArticleReader.read`` keeps the same list, so tagging normalises once)."""
    return plain_tokens(title) + plain_tokens(text)


def terms_of(words: list[str]) -> list[str]:
    """Words (two letters or more) and adjacent word pairs."""
    kept = [w for w in words if len(w) > 1]
    return kept + [f"{a} {b}" for a, b in pairwise(kept)]


@dataclass
class Vocabulary:
    terms: dict[str, tuple[float, float]]  # term → (idf, weight)
    intercept: float

    def __post_init__(self) -> None:
        # First words of the known pairs: a pair is built only where one can match.
        self._starts = {t.split(" ", 1)[0] for t in self.terms if " " in t}

    def score(self, words: list[str]) -> tuple[float, dict[str, float]]:
        """(log-odds, each known term's part of it beyond the intercept)."""
        known, starts = self.terms, self._starts
        kept = [w for w in words if len(w) > 1]
        counts = Counter(w for w in kept if w in known)
        for first, second in pairwise(kept):
            if first in starts:
                pair = f"{first} {second}"
                if pair in known:
                    counts[pair] += 1
        if not counts:
            return self.intercept, {}
        values = {t: (1.0 + math.log(n)) * known[t][0] for t, n in counts.items()}
        norm = math.sqrt(sum(v * v for v in values.values()))
        # Unit length makes two sentences weigh as much as a whole article; the words'
        # say grows with how many of them there are (n / (n + SHRINK) of it).
        share = len(values) / (len(values) + SHRINK) / norm
        parts = {t: known[t][1] * v * share for t, v in values.items()}
        return self.intercept + sum(parts.values()), parts

    def to_json(self) -> dict:
        return {
            "intercept": self.intercept,
            "max_terms": len(self.terms),
            "terms": {t: [round(i, 6), round(w, 6)] for t, (i, w) in sorted(self.terms.items())},
        }

    @classmethod
    def from_json(cls, data: dict) -> Vocabulary:
        terms = {str(t): (float(pair[0]), float(pair[1])) for t, pair in data["terms"].items()}
        return cls(terms, float(data["intercept"]))


def fit_vocabulary(documents: list[list[str]], gold: list[int], c: float) -> Vocabulary:
    """The vocabulary model over articles' :func:`words_of` (scikit-learn: only here)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(
        analyzer=terms_of, min_df=2, max_features=MAX_TERMS, sublinear_tf=True
    )
    x = vectorizer.fit_transform(documents)
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(x, gold)
    names = vectorizer.get_feature_names_out()
    terms = {
        str(name): (float(idf), float(weight))
        for name, idf, weight in zip(names, vectorizer.idf_, model.coef_[0], strict=True)
    }
    return Vocabulary(terms, float(model.intercept_[0]))
