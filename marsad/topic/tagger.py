"""Topic tagging: a YAML topic definition, token matching, and an explainable score.

Interface: ``load_tagger(topic_path, threshold).tag(title, text) -> TopicTags``.

The topic is configuration (``marsad/topic/definitions/*.yaml``, format in docs/topic.md):
concepts with Arabic and English terms, strong phrases, dampers, competing
("negative") contexts, subtopics and an entity gazetteer. The rule, per article:

1. Title and body are split into sentences and paragraphs, normalised once and matched
   with :class:`marsad.topic.match.PhraseIndex` (clitic- and plural-aware).
2. A sentence is *evidence* when it holds every ``scoring.evidence`` concept (for the
   default topic: US/coalition forces and withdrawal/presence); a derived concept
   (us_actor + troops → us_forces) counts when its parts share the sentence. A paragraph
   whose sentences hold them only together counts at ``paragraph_weight``.
3. Evidence weighs ``title_weight`` in the title, ``lead_weight`` in the lead, 1 after,
   times the weight of its weakest evidence concept (strong phrases 2, weak words 0.5),
   times ``damper_factor`` when a damper word precedes a term ("since the withdrawal").
4. Each evidence unit is located: a veto context in it (Kuwait 1991, UNAMI, Turkish
   operations, the nuclear talks) takes it whole; otherwise its weight is shared between
   the place concept (Iraq) and competing places (Syria, Afghanistan, Niger ...) by their
   mentions in the sentence, else the paragraph, else the title, else the article.
5. E = evidence located in the place, N = evidence located elsewhere;
   ``score = (1 - 2 ** (-E / half_evidence)) * min(1, 2E / (E + N))``: other places only
   cost once they outweigh the place. 0 when the place is never named. Relevant when
   ``score >= threshold``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from marsad.text.language import detect_language
from marsad.text.normalize import normalize_for_matching
from marsad.topic.match import PARAGRAPH_MARK, SENTENCE_MARK, PhraseIndex, split_units
from marsad.topic.schema import validate_topic_file

DEFAULT_TOPIC = Path(__file__).parent / "definitions" / "iraq_us_withdrawal.yaml"


@dataclass
class TopicTags:
    score: float = 0.0
    is_relevant: bool = False
    subtopics: list[str] = field(default_factory=list)
    matched_terms: list[dict] = field(default_factory=list)
    entities: list[dict] = field(default_factory=list)
    language: str = ""


@dataclass(frozen=True)
class Scoring:
    """How evidence is weighed; defaults are those of the Iraq topic (docs/topic.md)."""

    place: str = "iraq"
    evidence: tuple[str, ...] = ("us_forces", "withdrawal")
    half_evidence: float = 2.0
    title_weight: float = 3.0
    lead_weight: float = 1.5
    lead_sentences: int = 3
    title_evidence: tuple[str, ...] = ()
    paragraph_weight: float = 0.5
    damper_factor: float = 0.25
    brief_sentences: int = 0  # a body this short needs proportionally less evidence


@dataclass
class TermRole:
    """Everything one phrase means in a topic; identical phrases share one role."""

    text: str
    concepts: set[str] = field(default_factory=set)
    weight: float = 1.0
    negative: str = ""
    subtopics: set[str] = field(default_factory=set)
    entity: int = -1
    key: tuple[str, str] = ("", "")  # (text, label) once loading is done

    def label(self) -> str:
        if self.concepts:
            return "+".join(sorted(self.concepts))
        if self.negative:
            return f"not:{self.negative}"
        return "entity" if self.entity >= 0 else "subtopic"


def _terms(block: dict) -> list[str]:
    return [str(term) for lang in ("ar", "en") for term in block.get(lang) or []]


class TopicDefinition:
    """A topic file loaded into a phrase index plus the rules that read its hits."""

    def __init__(self, data: dict) -> None:
        self.name = str(data["name"])
        self.threshold = float(data.get("threshold", 0.5))
        raw = data.get("scoring") or {}
        self.scoring = Scoring(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
        )
        roles: dict[tuple[str, ...], TermRole] = {}

        def role(term: str) -> TermRole:
            key = tuple(
                (normalize_for_matching(word.rstrip("*")), word.endswith("*"))
                for word in term.split()
            )
            return roles.setdefault(key, TermRole(text=term))

        concepts = data.get("concepts") or {}
        self.derived = {
            name: tuple(block["derived_from"])
            for name, block in concepts.items()
            if block.get("derived_from")
        }
        for name, block in concepts.items():
            for term in _terms(block):
                role(term).concepts.add(name)
            weak = block.get("weak") or {}
            for term in _terms(weak):
                entry = role(term)
                entry.concepts.add(name)
                entry.weight = min(entry.weight, float(weak.get("weight", 0.5)))
        for group in data.get("strong") or []:
            for term in _terms(group):
                entry = role(term)
                entry.concepts.update(group.get("concepts") or [])
                entry.weight = max(entry.weight, float(group.get("weight", 1.0)))
        dampers = data.get("dampers") or {}
        self.damper_words = {normalize_for_matching(str(w)) for w in dampers.get("words") or []}
        self.damper_window = int(dampers.get("window", 2))
        self.veto = set()
        for name, block in (data.get("negative_contexts") or {}).items():
            if block.get("mode", "place") == "veto":
                self.veto.add(name)
            for term in _terms(block):
                role(term).negative = name
        self.subtopic_names = list(data.get("subtopics") or {})
        for name, block in (data.get("subtopics") or {}).items():
            for term in _terms(block):
                role(term).subtopics.add(name)
        self.entities = [(str(e["type"]), str(e["name"])) for e in data.get("entities") or []]
        for number, entity in enumerate(data.get("entities") or []):
            for term in _terms(entity):
                entry = role(term)
                entry.entity = number
                entry.concepts.update(entity.get("concepts") or [])
        for entry in roles.values():
            entry.key = (entry.text, entry.label())
        self.index = PhraseIndex(
            ((r.text, r) for r in roles.values()),
            rewrites=[tuple(pair) for pair in data.get("spelling") or []],
        )

    @classmethod
    def load(cls, path: str | Path | None = None) -> TopicDefinition:
        """Validated (``marsad.topic.schema``): a malformed file is a TopicFileError."""
        return cls(validate_topic_file(path or DEFAULT_TOPIC))


@dataclass
class _Unit:
    """One sentence (or the title) with what its hits say."""

    position: float
    paragraph: int
    concepts: dict[str, int]
    places: dict[str, int]
    vetoes: list[str]
    weights: dict  # concept → heaviest term weight
    damped: bool
    subtopics: set[str]


class TopicTagger:
    """Scores articles against one :class:`TopicDefinition` (rule in the module doc)."""

    def __init__(self, definition: TopicDefinition, threshold: float | None = None) -> None:
        self.definition = definition
        self.threshold = definition.threshold if threshold is None else threshold
        self.scoring = definition.scoring
        self._payloads: list[TermRole] = definition.index.payloads  # type: ignore[assignment]

    # -- matching -------------------------------------------------------------------
    def _read_unit(self, tokens, position, paragraph, terms: dict, entities: dict):
        concepts: dict[str, int] = {}
        places: dict[str, int] = {}
        weights: dict[str, float] = {}
        vetoes: list[str] = []
        subtopics: set[str] = set()
        damped = False
        veto = self.definition.veto
        dampers, window = self.definition.damper_words, self.definition.damper_window
        for term, start in self.definition.index.find(tokens):
            role = self._payloads[term]
            if dampers and role.concepts and not damped:
                damped = any(t in dampers for t in tokens[max(0, start - window) : start])
            terms[role.key] = terms.get(role.key, 0) + 1
            for concept in role.concepts:
                concepts[concept] = concepts.get(concept, 0) + 1
                if weights.get(concept, 0.0) < role.weight:
                    weights[concept] = role.weight
            if role.subtopics:
                subtopics |= role.subtopics
            if role.entity >= 0:
                entities[role.entity] = entities.get(role.entity, 0) + 1
            if role.negative:
                if role.negative in veto:
                    vetoes.append(role.negative)
                else:
                    places[role.negative] = places.get(role.negative, 0) + 1
        place = self.scoring.place
        if place in concepts:
            places[place] = concepts[place]
        for name, parts in self.definition.derived.items():
            if all(part in concepts for part in parts):
                concepts[name] = concepts.get(name, 0) + 1
                derived = min(weights[part] for part in parts)
                weights[name] = max(weights.get(name, 0.0), derived)
        if not (concepts or places or vetoes):
            return None
        return _Unit(position, paragraph, concepts, places, vetoes, weights, damped, subtopics)

    def _weight(self, unit: _Unit) -> float:
        """Evidence weight of a unit: its weakest evidence concept's heaviest term."""
        return min(unit.weights.get(c, 1.0) for c in self.scoring.evidence)

    def _units(self, title: str, text: str, terms: dict, entities: dict) -> tuple[list[_Unit], int]:
        s = self.scoring
        units = []
        title_tokens = [t for t in split_units(title).split() if t not in _MARKS]
        if title_tokens:
            unit = self._read_unit(title_tokens, s.title_weight, -1, terms, entities)
            units += [unit] if unit else []
        current: list[str] = []
        paragraph, sentences = 0, 0

        def flush() -> None:
            nonlocal sentences
            if current:
                position = s.lead_weight if sentences < s.lead_sentences else 1.0
                unit = self._read_unit(current, position, paragraph, terms, entities)
                if unit:
                    units.append(unit)
                sentences += 1
                current.clear()

        for token in split_units(text).split():
            if token == SENTENCE_MARK:
                flush()
            elif token == PARAGRAPH_MARK:
                flush()
                paragraph += 1
            else:
                current.append(token)
        flush()
        return units, sentences

    # -- scoring --------------------------------------------------------------------
    @staticmethod
    def _add_places(total: dict[str, float], places: dict[str, int]) -> None:
        for name, count in places.items():
            total[name] = total.get(name, 0) + count

    def _is_evidence(self, concepts: dict[str, int]) -> bool:
        return all(c in concepts for c in self.scoring.evidence)

    def _title_counts(self, title: _Unit, units: list[_Unit]) -> bool:
        """An elliptical title ("Coalition exit timetable agreed") counts as evidence when
        it holds ``title_evidence`` and some body sentence is full evidence."""
        needed = self.scoring.title_evidence
        if not needed or not all(c in title.concepts for c in needed):
            return False
        return any(self._is_evidence(u.concepts) for u in units if u.paragraph >= 0)

    def _evidence(self, units: list[_Unit]) -> tuple[dict[str, float], set[int], bool]:
        """Evidence weight per place (and veto context), the paragraphs holding evidence,
        and whether the scoring place is named at all."""
        s = self.scoring
        by_paragraph: dict[int, dict[str, float]] = {}
        document: dict[str, float] = {}
        for unit in units:
            self._add_places(by_paragraph.setdefault(unit.paragraph, {}), unit.places)
            self._add_places(document, unit.places)
        located: dict[str, float] = {}
        paragraphs: set[int] = set()

        def add(weight: float, vetoes: list[str], places: dict, paragraph: int) -> None:
            paragraphs.add(paragraph)
            if vetoes:
                located[vetoes[0]] = located.get(vetoes[0], 0) + weight
                return
            # The narrowest scope that names any place decides: sentence, paragraph,
            # title, article.
            scopes = (places, by_paragraph.get(paragraph, {}), by_paragraph.get(-1, {}), document)
            for scope in scopes:
                total = sum(scope.values())
                if total:
                    for name, count in scope.items():
                        located[name] = located.get(name, 0) + weight * count / total
                    return

        members: dict[int, list[_Unit]] = {}
        for unit in units:
            members.setdefault(unit.paragraph, []).append(unit)
            if self._is_evidence(unit.concepts) or (
                unit.paragraph < 0 and self._title_counts(unit, units)
            ):
                weight = unit.position * self._weight(unit)
                weight *= s.damper_factor if unit.damped else 1.0
                add(weight, unit.vetoes, unit.places, unit.paragraph)
        for paragraph, group in members.items():
            if paragraph < 0 or paragraph in paragraphs:
                continue
            joined: dict[str, int] = {}
            for unit in group:
                self._add_places(joined, unit.concepts)
            for name, parts in self.definition.derived.items():
                if all(part in joined for part in parts):
                    joined[name] = 1
            if self._is_evidence(joined):
                weight = s.paragraph_weight * max(u.position for u in group)
                vetoes = [v for u in group for v in u.vetoes]
                add(weight, vetoes, by_paragraph[paragraph], paragraph)
        return located, paragraphs, document.get(s.place, 0) > 0

    @staticmethod
    def _language(title: str, text: str, declared: str | None) -> str:
        """The text's language; the declared one only when the text cannot tell."""
        detected = detect_language(f"{title}\n{text[:800]}", fallback=declared or "")
        return declared if detected == "und" and declared else detected

    def tag(self, title: str, text: str, language: str | None = None) -> TopicTags:
        s = self.scoring
        terms: dict[tuple[str, str], int] = {}
        entities: dict[int, int] = {}
        units, sentences = self._units(title or "", text or "", terms, entities)
        located, evidence_paragraphs, place_named = self._evidence(units)
        on_topic = located.pop(s.place, 0.0) if place_named else 0.0
        elsewhere = sum(located.values())
        score = 0.0
        if on_topic > 0:
            focus = min(1.0, 2 * on_topic / (on_topic + elsewhere))
            half = s.half_evidence
            if s.brief_sentences and sentences < s.brief_sentences:
                # A wire brief is about what its few sentences say: one evidence sentence
                # in a two-sentence item weighs what several do in a long feature.
                half *= max(sentences, 1) / s.brief_sentences
            score = (1 - 2 ** (-on_topic / half)) * focus
        relevant = score >= self.threshold and score > 0
        subtopics: Counter = Counter()
        if relevant:
            for unit in units:
                if unit.paragraph in evidence_paragraphs:
                    subtopics.update(unit.subtopics)
        return TopicTags(
            score=round(score, 4),
            is_relevant=relevant,
            subtopics=[n for n in self.definition.subtopic_names if subtopics[n]],
            matched_terms=[
                {"term": term, "concept": label, "count": count}
                for (term, label), count in sorted(terms.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
            entities=[
                {
                    "type": self.definition.entities[number][0],
                    "name": self.definition.entities[number][1],
                    "mentions": count,
                }
                for number, count in sorted(entities.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
            language=self._language(title or "", text or "", language),
        )


_MARKS = {SENTENCE_MARK, PARAGRAPH_MARK}


def load_tagger(topic_path: str | None = None, threshold: float | None = None) -> TopicTagger:
    """The tagger the pipeline and CLI use; ``topic_path`` defaults to the Iraq topic."""
    return TopicTagger(TopicDefinition.load(topic_path), threshold)
