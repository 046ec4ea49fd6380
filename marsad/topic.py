"""Topic tagging v0: a bilingual term list for the Iraq–US troop-withdrawal story.

Interface (stable for later taggers): ``tagger.tag(title, text) -> TopicTags``.
v0 counts terms of three concepts — Iraq, US/coalition forces, withdrawal or
presence — on the matching-normalised text, allowing Arabic proclitics
(و ف ب ل ك ال ...) before a term. The score rewards covering all three concepts
and weighs the title double; an article is relevant when all three concepts
appear and the score reaches ``threshold``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from marsad.textnorm import normalize_for_matching

_AR_PROCLITICS = "(?:و|ف|ب|ل|ك|ال|وال|بال|فال|كال|لل|ولل)?"

V0_CONCEPTS: dict[str, list[str]] = {
    "iraq": [
        "العراق", "عراقي", "عراقية", "العراقيه", "بغداد", "اربيل", "كردستان", "عين الاسد",
        "iraq", "iraqi", "baghdad", "erbil", "kurdistan", "ain al-asad",
    ],
    "us_forces": [
        "القوات الامريكيه", "القوات الاميركيه", "الجنود الامريكيين", "الجنود الاميركيين",
        "التحالف الدولي", "قوات التحالف", "القوات الاجنبيه", "الوجود العسكري الامريكي",
        "الوجود الامريكي", "الوجود العسكري الاميركي", "واشنطن", "البنتاغون",
        "us troops", "us forces", "american troops", "american forces", "coalition",
        "foreign troops", "foreign forces", "pentagon", "washington", "u.s. troops",
        "u.s. forces",
    ],
    "withdrawal": [
        "انسحاب", "الانسحاب", "سحب القوات", "انهاء مهمه", "انهاء المهمه", "انهاء الوجود",
        "خروج القوات", "جدول زمني", "اللجنه العسكريه العليا", "الوجود العسكري",
        "withdrawal", "withdraw", "pullout", "drawdown", "troop presence", "military presence",
        "end the mission", "end of the mission", "exit", "higher military commission",
    ],
}  # fmt: skip


@dataclass
class TopicTags:
    score: float = 0.0
    is_relevant: bool = False
    subtopics: list[str] = field(default_factory=list)
    matched_terms: list[dict] = field(default_factory=list)
    entities: list[dict] = field(default_factory=list)


def _pattern(term: str) -> re.Pattern[str]:
    normalised = normalize_for_matching(term)
    escaped = re.escape(normalised)
    if re.search("[\u0600-\u06ff]", normalised):
        return re.compile(rf"(?<!\w){_AR_PROCLITICS}{escaped}(?!\w)")
    return re.compile(rf"(?<!\w){escaped}(?:s|es)?(?!\w)")


class TermListTagger:
    """The v0 tagger. ``concepts`` maps a concept name to its terms."""

    def __init__(
        self, concepts: dict[str, list[str]] | None = None, threshold: float = 0.5
    ) -> None:
        self.threshold = threshold
        self._patterns = [
            (concept, term, _pattern(term))
            for concept, terms in (concepts or V0_CONCEPTS).items()
            for term in terms
        ]
        self._concepts = sorted({concept for concept, _, _ in self._patterns})

    def tag(self, title: str, text: str) -> TopicTags:
        title_norm = normalize_for_matching(title)
        body_norm = normalize_for_matching(text)
        counts: Counter[tuple[str, str]] = Counter()
        weight_by_concept: Counter[str] = Counter()
        for concept, term, pattern in self._patterns:
            in_title = len(pattern.findall(title_norm))
            in_body = len(pattern.findall(body_norm))
            if in_title or in_body:
                counts[(concept, term)] = in_title + in_body
                weight_by_concept[concept] += 2 * in_title + in_body
        covered = [c for c in self._concepts if weight_by_concept[c]]
        coverage = len(covered) / len(self._concepts)
        # Coverage dominates; strength (capped) separates passing mentions from focus.
        strength = min(
            1.0, sum(min(weight_by_concept[c], 5) for c in covered) / (5 * len(self._concepts))
        )
        score = round(0.7 * coverage + 0.3 * strength, 4) if covered else 0.0
        relevant = len(covered) == len(self._concepts) and score >= self.threshold
        return TopicTags(
            score=score,
            is_relevant=relevant,
            subtopics=[],
            matched_terms=[
                {"term": term, "concept": concept, "count": count}
                for (concept, term), count in sorted(counts.items())
            ],
            entities=[],
        )


def load_tagger(topic_path: str | None = None, threshold: float | None = None) -> TermListTagger:
    """The tagger the pipeline and CLI use. ``topic_path`` selects a topic definition."""
    return TermListTagger(threshold=0.5 if threshold is None else threshold)
