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
  the share of sentences that are evidence, whether there is none at all, and where it
  is located: how much points at the topic's place, and the share pointing at competing
  places (Syria, Afghanistan ...) or veto contexts (Kuwait 1991, Turkish operations ...);
* ``place:*`` — the place named in the title, how often, or not at all;
* ``context:<name>`` — mentions of each competing context.

The article's length is deliberately not a feature: in a corpus that mixes short web
excerpts with full ANT articles it would learn where an item came from, not what it says.

Counts enter as ``log(1 + n)``. Each feature keeps the terms that produced it, so that a
feature's contribution can be shared among its terms in ``matched_terms``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from marsad.topic.definition import TermRole, TopicDefinition
from marsad.topic.match import PARAGRAPH_MARK, SENTENCE_MARK, plain_tokens, split_units

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
    words: list[str] = field(default_factory=list)  # normalised, for the vocabulary


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
        "evidence:located",
        "evidence:none",
        "evidence:veto",
    ]
    if definition.presence:
        names += ["presence:title", "presence:lead", "presence:body"]
    names += [
        "place:title",
        "place:mentions",
        "place:absent",
    ]
    names += [f"context:{name}" for name in definition.context_names]
    names += [f"concept:{name}" for name in definition.concept_names]
    names += [f"subtopic:{name}" for name in definition.subtopic_names]
    return names


class ArticleReader:
    """Reads articles against one topic definition (cheap to call per article)."""

    def __init__(self, definition: TopicDefinition) -> None:
        self.definition = definition
        self._payloads: list[TermRole] = definition.index.payloads  # type: ignore[assignment]
        self._find = definition.index.find
        self._evidence = definition.evidence
        self._presence = definition.presence
        self._presence_roles = frozenset(definition.presence) | {
            part for name in definition.presence for part in definition.derived.get(name, ())
        }
        self._derived = list(definition.derived.items())
        self._place = definition.place
        self._evidence_roles = frozenset(definition.evidence) | {
            part for parts in definition.derived.values() for part in parts
        }

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
        check_dampers = bool(dampers) and not dampers.isdisjoint(tokens)
        for term, start in hits:
            role = self._payloads[term]
            roles.append(role)
            key = id(role)
            if key in terms:
                terms[key] += 1
            else:
                terms[key] = 1
                known[key] = role
            if role.concepts:
                if check_dampers and not damped:
                    damped = not dampers.isdisjoint(tokens[max(0, start - window) : start])
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
        units = reading.units
        title_tokens = plain_tokens(title)
        words = reading.words
        words += title_tokens
        if title_tokens:
            unit = self._unit(title_tokens, TITLE, -1, reading)
            if unit:
                units.append(unit)
        sentences = 0
        # Splitting on the marker characters is done by str.split in C, not token by token.
        for paragraph, block in enumerate(split_units(text).split(PARAGRAPH_MARK)):
            for sentence in block.split(SENTENCE_MARK):
                tokens = sentence.split()
                if not tokens:
                    continue
                words += tokens
                unit = self._unit(tokens, LEAD if sentences < lead else BODY, paragraph, reading)
                if unit:
                    units.append(unit)
                sentences += 1
        reading.sentences = sentences
        return reading

    # -- features ---------------------------------------------------------------------
    def features(self, reading: Reading) -> tuple[dict[str, float], dict[str, list[TermRole]]]:
        """Feature values (absent = 0) and, per feature, the terms that produced it."""
        values: dict[str, float] = {}
        sources: dict[str, list[TermRole]] = {}
        evidence, place, derived = self._evidence, self._place, self._derived
        presence = self._presence
        units = reading.units

        def add_sources(name: str, roles: list[TermRole]) -> None:
            if roles:
                found = sources.get(name)
                if found is None:
                    sources[name] = list(roles)
                else:
                    found.extend(roles)

        by_paragraph: dict[int, dict[str, int]] = {}
        document: dict[str, int] = {}
        for unit in units:
            if unit.places:
                scope = by_paragraph.setdefault(unit.paragraph, {})
                for name, count in unit.places.items():
                    scope[name] = scope.get(name, 0) + count
                    document[name] = document.get(name, 0) + count
        counts = {"lead": 0, "body": 0, "weak": 0, "damped": 0}
        evidence_units = 0
        located_place = located_elsewhere = vetoed = 0.0
        evidence_paragraphs: set[int] = set()
        members: dict[int, list[Unit]] = {}
        strong_roles: list[TermRole] = []
        contexts: dict[str, list[TermRole]] = {}
        mentions: dict[str, list[TermRole]] = {}  # concept:… and subtopic:… features
        presence_counts = [0, 0, 0]
        for unit in units:
            members.setdefault(unit.paragraph, []).append(unit)
            position = POSITIONS[unit.position]
            for role in unit.roles:
                if role.strong:
                    strong_roles.append(role)
                if role.negative:
                    contexts.setdefault(role.negative, []).append(role)
                for name in role.concepts:
                    mentions.setdefault(f"concept:{name}", []).append(role)
                for name in role.subtopics:
                    mentions.setdefault(f"subtopic:{name}", []).append(role)
            if (
                presence
                and not unit.damped
                and not unit.vetoes
                and all(c in unit.concepts for c in presence)
            ):
                presence_counts[unit.position] += 1
                add_sources(f"presence:{position}", self._explaining(unit, self._presence_roles))
            if not all(c in unit.concepts for c in evidence):
                continue
            evidence_units += 1
            evidence_paragraphs.add(unit.paragraph)
            roles = self._explaining(unit)
            add_sources("evidence:share", roles)
            if unit.damped:
                counts["damped"] += 1
                add_sources("evidence:damped", roles)
                continue
            if not all(c in unit.full for c in evidence):
                counts["weak"] += 1
                add_sources("evidence:weak", roles)
            elif unit.position == TITLE:
                values["evidence:title"] = 1.0
                add_sources("evidence:title", roles)
            else:
                counts[position] += 1
                add_sources(f"evidence:{position}", roles)
            if unit.vetoes:
                vetoed += 1
                add_sources("evidence:veto", [r for r in unit.roles if r.negative])
                continue
            if not document:
                continue
            for scope in (
                unit.places,
                by_paragraph.get(unit.paragraph),
                by_paragraph.get(-1),
                document,
            ):
                total = sum(scope.values()) if scope else 0
                if total:
                    share = scope.get(place, 0) / total
                    located_place += share
                    located_elsewhere += 1 - share
                    if share < 1 and scope is unit.places:
                        add_sources("evidence:elsewhere", [r for r in unit.roles if r.negative])
                    break
        # Paragraphs where the evidence concepts meet only across sentences.
        joined_paragraphs = 0
        for paragraph, group in members.items():
            if paragraph < 0 or paragraph in evidence_paragraphs or len(group) < 2:
                continue
            joined: set[str] = set()
            for unit in group:
                joined.update(unit.concepts)
            for name, parts in derived:
                if all(part in joined for part in parts):
                    joined.add(name)
            if all(c in joined for c in evidence):
                joined_paragraphs += 1
                add_sources("evidence:paragraph", [r for u in group for r in self._explaining(u)])
        for key, count in counts.items():
            if count:
                values[f"evidence:{key}"] = math.log1p(count)
        for position, count in zip(POSITIONS, presence_counts, strict=True):
            if count:
                values[f"presence:{position}"] = math.log1p(count)
        if joined_paragraphs:
            values["evidence:paragraph"] = math.log1p(joined_paragraphs)
        if strong_roles:
            values["evidence:strong"] = math.log1p(len(strong_roles))
            sources["evidence:strong"] = strong_roles
        if evidence_units:
            values["evidence:share"] = evidence_units / len(units)
        located = located_place + located_elsewhere + vetoed
        if located_place > 1e-9:
            values["evidence:located"] = math.log1p(located_place)
            sources["evidence:located"] = sources.get("evidence:share", [])
        if not evidence_units and not joined_paragraphs and not any(presence_counts):
            values["evidence:none"] = 1.0
        if located_elsewhere > 1e-9:
            values["evidence:elsewhere"] = located_elsewhere / located
        if vetoed:
            values["evidence:veto"] = vetoed / located
        place_count = document.get(place, 0)
        if place_count:
            values["place:mentions"] = math.log1p(place_count)
            add_sources(
                "place:mentions", [r for u in units for r in u.roles if place in r.concepts]
            )
            if units[0].position == TITLE and place in units[0].concepts:
                values["place:title"] = 1.0
                add_sources("place:title", [r for r in units[0].roles if place in r.concepts])
        else:
            values["place:absent"] = 1.0
        for name, roles in contexts.items():
            values[f"context:{name}"] = math.log1p(len(roles))
            sources[f"context:{name}"] = roles
        for name, roles in mentions.items():
            values[name] = math.log1p(len(roles))
            sources[name] = roles
        return values, sources

    def _explaining(self, unit: Unit, wanted: frozenset[str] | None = None) -> list[TermRole]:
        """The terms that make a unit evidence: evidence concepts, their parts, strong
        (or the terms of the ``wanted`` concepts)."""
        wanted = self._evidence_roles if wanted is None else wanted
        return [r for r in unit.roles if r.strong or not r.concepts.isdisjoint(wanted)]
