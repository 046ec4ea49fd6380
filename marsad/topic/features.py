"""From an article to the evidence features the learned scorer weighs.

An article is read once: title and body are normalised, split into sentences and
paragraphs, and matched against the topic's phrase index (``marsad.topic.match``). Each
sentence (and the title) becomes a :class:`Unit` holding the concepts, places, veto
contexts and terms found in it.

The features say how the topic's evidence is arranged, never which outlet wrote it, so
that what is learned carries over to outlets the corpus never saw:

* ``evidence:*`` — sentences that hold every evidence concept (for the Iraq topic:
  US/coalition forces and withdrawal/presence), by position (title, lead, body), whether
  they rest only on weak terms ("remain", «إرسال») or follow a damper word ("since the
  withdrawal"), paragraphs that hold the concepts only across sentences, strong phrases,
  the share of sentences that are evidence, and where the evidence is located: the share
  pointing at competing places (Syria, Afghanistan ...) or veto contexts (Kuwait 1991,
  Turkish operations ...) rather than the topic's place;
* ``place:*`` — the place named in the title, how often, or not at all;
* ``concept:<name>:<title|lead|body>`` — each concept's mentions by position (three per
  concept: few features, so little room to overfit);
* ``context:<name>`` — mentions of each competing context;
* ``article:sentences`` — the length.

Counts enter as ``log(1 + n)``. Each feature keeps the terms that produced it, so that a
feature's contribution can be shared among its terms in ``matched_terms``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from marsad.topic.definition import TermRole, TopicDefinition
from marsad.topic.match import PARAGRAPH_MARK, SENTENCE_MARK, split_units

TITLE, LEAD, BODY = 0, 1, 2
POSITIONS = ("title", "lead", "body")


@dataclass(slots=True)
class Unit:
    """One sentence (or the title) and what its matches say."""

    position: int  # TITLE, LEAD or BODY
    paragraph: int  # -1 for the title
    concepts: dict[str, int]
    full: set[str]  # concepts backed by at least one full (not weak) term
    places: dict[str, int]  # the topic's place and competing place contexts
    vetoes: list[str]
    damped: bool
    roles: list[TermRole]


@dataclass
class Reading:
    """An article read against one topic."""

    units: list[Unit] = field(default_factory=list)
    sentences: int = 0
    terms: dict[int, int] = field(default_factory=dict)  # id(role) → count
    roles: dict[int, TermRole] = field(default_factory=dict)
    entities: dict[int, int] = field(default_factory=dict)  # entity number → mentions


def feature_names(definition: TopicDefinition) -> list[str]:
    """Every feature a topic can produce, in a fixed order."""
    names = [
        "evidence:title",
        "evidence:lead",
        "evidence:body",
        "evidence:weak",
        "evidence:damped",
        "evidence:paragraph",
        "evidence:strong",
        "evidence:share",
        "evidence:elsewhere",
        "evidence:veto",
        "place:title",
        "place:mentions",
        "place:absent",
    ]
    concepts = list(definition.concept_names)
    names += [f"concept:{c}:{p}" for c in concepts for p in POSITIONS]
    names += [f"context:{name}" for name in definition.context_names]
    names.append("article:sentences")
    return names


class ArticleReader:
    """Reads articles against one topic definition (cheap to call per article)."""

    def __init__(self, definition: TopicDefinition) -> None:
        self.definition = definition
        self._payloads: list[TermRole] = definition.index.payloads  # type: ignore[assignment]
        self._find = definition.index.find
        self._evidence = definition.evidence
        self._derived = list(definition.derived.items())
        self._place = definition.place

    # -- reading ----------------------------------------------------------------------
    def _unit(self, tokens: list[str], position: int, paragraph: int, reading: Reading):
        hits = self._find(tokens)
        if not hits:
            return None
        definition = self.definition
        concepts: dict[str, int] = {}
        full: set[str] = set()
        places: dict[str, int] = {}
        vetoes: list[str] = []
        roles: list[TermRole] = []
        damped = False
        dampers, window = definition.damper_words, definition.damper_window
        terms, known, entities = reading.terms, reading.roles, reading.entities
        for term, start in hits:
            role = self._payloads[term]
            roles.append(role)
            key = id(role)
            terms[key] = terms.get(key, 0) + 1
            known[key] = role
            if role.concepts:
                if dampers and not damped:
                    damped = any(t in dampers for t in tokens[max(0, start - window) : start])
                for concept in role.concepts:
                    concepts[concept] = concepts.get(concept, 0) + 1
                    if concept not in role.weak:
                        full.add(concept)
            if role.entity >= 0:
                entities[role.entity] = entities.get(role.entity, 0) + 1
            if role.negative:
                if role.negative in definition.veto:
                    vetoes.append(role.negative)
                else:
                    places[role.negative] = places.get(role.negative, 0) + 1
        if self._place in concepts:
            places[self._place] = concepts[self._place]
        for name, parts in self._derived:
            if all(part in concepts for part in parts):
                concepts[name] = concepts.get(name, 0) + 1
                if all(part in full for part in parts):
                    full.add(name)
        return Unit(position, paragraph, concepts, full, places, vetoes, damped, roles)

    def read(self, title: str, text: str) -> Reading:
        reading = Reading()
        lead = self.definition.lead_sentences
        title_tokens = [t for t in split_units(title).split() if t not in _MARKS]
        if title_tokens:
            unit = self._unit(title_tokens, TITLE, -1, reading)
            if unit:
                reading.units.append(unit)
        current: list[str] = []
        paragraph = 0
        for token in split_units(text).split():
            if token in _MARKS:
                if current:
                    position = LEAD if reading.sentences < lead else BODY
                    unit = self._unit(current, position, paragraph, reading)
                    if unit:
                        reading.units.append(unit)
                    reading.sentences += 1
                    current = []
                if token == PARAGRAPH_MARK:
                    paragraph += 1
            else:
                current.append(token)
        if current:
            position = LEAD if reading.sentences < lead else BODY
            unit = self._unit(current, position, paragraph, reading)
            if unit:
                reading.units.append(unit)
            reading.sentences += 1
        return reading

    # -- features ---------------------------------------------------------------------
    def _is_evidence(self, concepts) -> bool:
        return all(c in concepts for c in self._evidence)

    def features(self, reading: Reading) -> tuple[dict[str, float], dict[str, list[TermRole]]]:
        """Feature values (absent = 0) and, per feature, the terms that produced it."""
        values: dict[str, float] = {}
        sources: dict[str, list[TermRole]] = {}
        evidence, place = self._evidence, self._place
        evidence_roles = set(evidence) | {
            p for parts in self.definition.derived.values() for p in parts
        }

        def add(name: str, amount: float, roles=()) -> None:
            values[name] = values.get(name, 0.0) + amount
            if roles:
                sources.setdefault(name, []).extend(roles)

        def explaining(unit: Unit) -> list[TermRole]:
            return [r for r in unit.roles if r.concepts & evidence_roles or r.strong]

        by_paragraph: dict[int, dict[str, int]] = {}
        document: dict[str, int] = {}
        for unit in reading.units:
            scope = by_paragraph.setdefault(unit.paragraph, {})
            for name, count in unit.places.items():
                scope[name] = scope.get(name, 0) + count
                document[name] = document.get(name, 0) + count
        counts = {"lead": 0, "body": 0, "weak": 0, "damped": 0, "all": 0}
        located_place = located_elsewhere = vetoed = 0.0
        evidence_paragraphs: set[int] = set()
        members: dict[int, list[Unit]] = {}
        strong = 0
        for unit in reading.units:
            members.setdefault(unit.paragraph, []).append(unit)
            strong_roles = [r for r in unit.roles if r.strong]
            if strong_roles:
                strong += len(strong_roles)
                add("evidence:strong", 0.0, strong_roles)
            for concept, count in unit.concepts.items():
                add(f"concept:{concept}:{POSITIONS[unit.position]}", count,
                    [r for r in unit.roles if concept in r.concepts])  # fmt: skip
            if not self._is_evidence(unit.concepts):
                continue
            counts["all"] += 1
            evidence_paragraphs.add(unit.paragraph)
            roles = explaining(unit)
            if unit.damped:
                counts["damped"] += 1
                add("evidence:damped", 0.0, roles)
                continue
            if not all(c in unit.full for c in evidence):
                counts["weak"] += 1
                add("evidence:weak", 0.0, roles)
            elif unit.position == TITLE:
                add("evidence:title", 1.0, roles)
            else:
                key = POSITIONS[unit.position]
                counts[key] += 1
                add(f"evidence:{key}", 0.0, roles)
            if unit.vetoes:
                vetoed += 1
                add("evidence:veto", 0.0, [r for r in unit.roles if r.negative])
                continue
            scopes = (
                unit.places,
                by_paragraph.get(unit.paragraph, {}),
                by_paragraph.get(-1, {}),
                document,
            )
            for scope in scopes:
                total = sum(scope.values())
                if total:
                    located_place += scope.get(place, 0) / total
                    located_elsewhere += 1 - scope.get(place, 0) / total
                    if scope is unit.places:
                        add("evidence:elsewhere", 0.0, [r for r in unit.roles if r.negative])
                    break
        # Paragraphs where the evidence concepts meet only across sentences.
        joined_paragraphs = 0
        for paragraph, group in members.items():
            if paragraph < 0 or paragraph in evidence_paragraphs:
                continue
            joined: dict[str, int] = {}
            for unit in group:
                joined.update(unit.concepts)
            for name, parts in self.definition.derived.items():
                if all(part in joined for part in parts):
                    joined[name] = 1
            if self._is_evidence(joined):
                joined_paragraphs += 1
                add("evidence:paragraph", 0.0, [r for u in group for r in explaining(u)])
        for key in ("lead", "body", "weak", "damped"):
            if counts[key]:
                values[f"evidence:{key}"] = math.log1p(counts[key])
        if joined_paragraphs:
            values["evidence:paragraph"] = math.log1p(joined_paragraphs)
        if strong:
            values["evidence:strong"] = math.log1p(strong)
        if counts["all"]:
            values["evidence:share"] = counts["all"] / max(len(reading.units), 1)
            sources["evidence:share"] = [
                r for u in reading.units if self._is_evidence(u.concepts) for r in explaining(u)
            ]
        located = located_place + located_elsewhere + vetoed
        if located:
            if located_elsewhere:
                values["evidence:elsewhere"] = located_elsewhere / located
            if vetoed:
                values["evidence:veto"] = vetoed / located
        for name in [n for n in values if n.startswith("concept:")]:
            values[name] = math.log1p(values[name])
        place_count = document.get(place, 0)
        if place_count:
            values["place:mentions"] = math.log1p(place_count)
            sources["place:mentions"] = [
                r for u in reading.units for r in u.roles if place in r.concepts
            ]
            if any(u.position == TITLE and place in u.concepts for u in reading.units):
                values["place:title"] = 1.0
                sources["place:title"] = [
                    r
                    for u in reading.units
                    if u.position == TITLE
                    for r in u.roles
                    if place in r.concepts
                ]
        else:
            values["place:absent"] = 1.0
        contexts: dict[str, list[TermRole]] = {}
        for unit in reading.units:
            for role in unit.roles:
                if role.negative:
                    contexts.setdefault(role.negative, []).append(role)
        for name, roles in contexts.items():
            values[f"context:{name}"] = math.log1p(len(roles))
            sources[f"context:{name}"] = roles
        if reading.sentences:
            values["article:sentences"] = math.log1p(reading.sentences)
        return values, sources


_MARKS = {SENTENCE_MARK, PARAGRAPH_MARK}
