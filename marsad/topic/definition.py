"""A topic file (YAML, format in docs/topic.md) loaded into a phrase index.

The topic file is where the knowledge lives: concepts and their terms in Arabic and
English, phrases that carry several concepts at once (``strong``), words after which a
mention is only a date (``dampers``), competing places and contexts
(``negative_contexts``), subtopics and an entity gazetteer. How the evidence they
produce combines into a score is learned from labelled articles and kept in the weights
file beside the topic (``marsad/topic/model.py``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from marsad.text.normalize import normalize_for_matching
from marsad.topic.match import PhraseIndex
from marsad.topic.schema import validate_topic_file, validate_topic_text

DEFINITIONS = Path(__file__).parent / "definitions"
DEFAULT_TOPIC = DEFINITIONS / "iraq_us_withdrawal.yaml"


@dataclass
class TermRole:
    """Everything one phrase means in a topic; identical phrases share one role."""

    text: str
    concepts: set[str] = field(default_factory=set)
    weak: set[str] = field(default_factory=set)  # concepts this term supports only weakly
    strong: bool = False
    negative: str = ""
    subtopics: set[str] = field(default_factory=set)
    entity: int = -1
    label: str = ""  # the concept label shown in matched_terms, set once loading is done

    def describe(self) -> str:
        if self.concepts:
            return "+".join(sorted(self.concepts))
        if self.negative:
            return f"not:{self.negative}"
        return "entity" if self.entity >= 0 else "subtopic"


def _terms(block: dict) -> list[str]:
    return [str(term) for lang in ("ar", "en") for term in block.get(lang) or []]


class TopicDefinition:
    """A validated topic file: its roles, rules and phrase index."""

    def __init__(self, data: dict, path: str | Path | None = None, text: str = "") -> None:
        self.path = Path(path) if path else None
        self.sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest() if text else ""
        self.name = str(data["name"])
        scoring = data["scoring"]
        self.place = str(scoring["place"])
        self.evidence = tuple(scoring["evidence"])
        self.presence = tuple(scoring.get("presence") or ())
        self.lead_sentences = int(scoring.get("lead_sentences", 3))
        self.model_file = data.get("model")
        roles: dict[tuple, TermRole] = {}

        def role(term: str) -> TermRole:
            key = tuple(
                (normalize_for_matching(word.rstrip("*")), word.endswith("*"))
                for word in term.split()
            )
            return roles.setdefault(key, TermRole(text=term))

        concepts = data.get("concepts") or {}
        self.concept_names = list(concepts)
        self.derived = {
            name: tuple(block["derived_from"])
            for name, block in concepts.items()
            if block.get("derived_from")
        }
        for name, block in concepts.items():
            for term in _terms(block):
                role(term).concepts.add(name)
            for term in _terms(block.get("weak") or {}):
                entry = role(term)
                if name not in entry.concepts:  # listed as a full term too: full wins
                    entry.weak.add(name)
                entry.concepts.add(name)
        for group in data.get("strong") or []:
            for term in _terms(group):
                entry = role(term)
                entry.concepts.update(group.get("concepts") or [])
                entry.strong = True
        for entry in roles.values():
            if entry.strong:
                entry.weak.clear()
        dampers = data.get("dampers") or {}
        self.damper_words = {normalize_for_matching(str(w)) for w in dampers.get("words") or []}
        self.damper_window = int(dampers.get("window", 2))
        self.veto: set[str] = set()
        self.context_names = list(data.get("negative_contexts") or {})
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
            entry.label = entry.describe()
        self.index = PhraseIndex(
            ((r.text, r) for r in roles.values()),
            rewrites=[tuple(pair) for pair in data.get("spelling") or []],
        )

    def weights_path(self) -> Path | None:
        """The weights file: ``model:`` in the topic file, else ``<stem>.weights.json``."""
        if self.path is None:
            return None
        if self.model_file:
            return self.path.parent / self.model_file
        return self.path.with_name(self.path.stem + ".weights.json")

    @classmethod
    def load(cls, path: str | Path | None = None) -> TopicDefinition:
        """Validated (``marsad.topic.schema``): a malformed file is a TopicFileError."""
        path = Path(path or DEFAULT_TOPIC)
        data = validate_topic_file(path)
        return cls(data, path, path.read_text(encoding="utf-8"))

    @classmethod
    def from_text(cls, text: str, path: str | Path | None = None) -> TopicDefinition:
        return cls(validate_topic_text(text, origin=str(path or "topic")), path, text)
