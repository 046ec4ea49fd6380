"""Topic files checked before anything runs: the schema, with the line of each problem.

    from marsad.topic.schema import validate_topic_file
    data = validate_topic_file("my_topic.yaml")   # the parsed dict, or TopicFileError

The file is composed with PyYAML's node API (not only ``safe_load``) so that every
problem carries its line: ``my_topic.yaml:14: concepts.iraq.en[2]: expected a string``.
Duplicate keys, which ``safe_load`` silently resolves to the last one, are errors. After
the shape, the references are checked: the place and evidence concepts exist, derived
concepts name existing concepts, strong phrases and entities point at concepts, every
term survives normalisation, wildcards have a stem of at least three letters. The
format is documented in docs/topic.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from marsad.errors import InputError
from marsad.text.normalize import normalize_for_matching


class TopicFileError(InputError):
    """A topic definition (or its weights file) is malformed; the message names the line."""

    reason = "topic_invalid"


# -- the shape ------------------------------------------------------------------------
# A spec is a type name, or a dict: {"map": {key: (spec, required)}} for fixed keys,
# {"dict": spec} for free keys, {"list": spec} for sequences.
_TERMS = {"list": "str"}
_LANGS = {"ar": (_TERMS, False), "en": (_TERMS, False)}
_CONCEPT = {
    "map": {
        **_LANGS,
        "derived_from": ({"list": "str"}, False),
        "weak": ({"map": _LANGS}, False),
    }
}
_SPEC = {
    "map": {
        "name": ("str", True),
        "description": ("str", False),
        "model": ("str", False),
        "scoring": (
            {
                "map": {
                    "place": ("str", True),
                    "evidence": ({"list": "str"}, True),
                    "presence": ({"list": "str"}, False),
                    "lead_sentences": ("int", False),
                }
            },
            True,
        ),
        "spelling": ({"list": {"list": "str"}}, False),
        "concepts": ({"dict": _CONCEPT}, True),
        "strong": (
            {
                "list": {
                    "map": {
                        "concepts": ({"list": "str"}, True),
                        **_LANGS,
                    }
                }
            },
            False,
        ),
        "dampers": (
            {"map": {"words": ({"list": "str"}, True), "window": ("int", False)}},
            False,
        ),
        "negative_contexts": (
            {"dict": {"map": {"mode": ("str", False), **_LANGS}}},
            False,
        ),
        "subtopics": ({"dict": {"map": _LANGS}}, False),
        "entities": (
            {
                "list": {
                    "map": {
                        "type": ("str", True),
                        "name": ("str", True),
                        "concepts": ({"list": "str"}, False),
                        **_LANGS,
                    }
                }
            },
            False,
        ),
    }
}
_SCALARS = {
    "str": ("tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"),
    "int": ("tag:yaml.org,2002:int",),
    "float": ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"),
}


@dataclass
class _Problem:
    line: int
    where: str
    message: str


class _Checker:
    def __init__(self) -> None:
        self.problems: list[_Problem] = []
        self.lines: dict[str, int] = {}  # dotted path → line, for the reference checks

    def fail(self, node: yaml.Node, where: str, message: str) -> None:
        self.problems.append(_Problem(node.start_mark.line + 1, where, message))

    def check(self, node: yaml.Node, spec, where: str) -> None:
        self.lines[where] = node.start_mark.line + 1
        if isinstance(spec, str):
            if not isinstance(node, yaml.ScalarNode) or node.tag not in _SCALARS[spec]:
                expected = {"str": "a string", "int": "an integer", "float": "a number"}[spec]
                self.fail(node, where, f"expected {expected}")
            elif spec == "str" and not str(node.value).strip():
                self.fail(node, where, "empty string")
            return
        if "list" in spec:
            if not isinstance(node, yaml.SequenceNode):
                self.fail(node, where, "expected a list")
                return
            for number, item in enumerate(node.value):
                self.check(item, spec["list"], f"{where}[{number}]")
            return
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, where, "expected a mapping")
            return
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            path = f"{where}.{key}" if where else key
            if key in seen:
                self.fail(key_node, path, "duplicate key")
                continue
            seen.add(key)
            if "dict" in spec:
                self.check(value_node, spec["dict"], path)
            elif key not in spec["map"]:
                allowed = ", ".join(spec["map"])
                self.fail(key_node, path, f"unknown key (allowed: {allowed})")
            else:
                self.check(value_node, spec["map"][key][0], path)
        for key, (_, required) in spec.get("map", {}).items():
            if required and key not in seen:
                self.fail(node, f"{where}.{key}" if where else key, "missing")


def _all_terms(data: dict):
    """(dotted path, term) for every term of the file."""
    for name, block in (data.get("concepts") or {}).items():
        for lang in ("ar", "en"):
            for n, term in enumerate(block.get(lang) or []):
                yield f"concepts.{name}.{lang}[{n}]", term
            for n, term in enumerate((block.get("weak") or {}).get(lang) or []):
                yield f"concepts.{name}.weak.{lang}[{n}]", term
    for section in ("negative_contexts", "subtopics"):
        for name, block in (data.get(section) or {}).items():
            for lang in ("ar", "en"):
                for n, term in enumerate(block.get(lang) or []):
                    yield f"{section}.{name}.{lang}[{n}]", term
    for group_name in ("strong", "entities"):
        for g, group in enumerate(data.get(group_name) or []):
            for lang in ("ar", "en"):
                for n, term in enumerate(group.get(lang) or []):
                    yield f"{group_name}[{g}].{lang}[{n}]", term


def _references(data: dict, checker: _Checker) -> None:
    def fail(where: str, message: str) -> None:
        line = checker.lines.get(where) or checker.lines.get(where.rsplit(".", 1)[0], 1)
        checker.problems.append(_Problem(line, where, message))

    concepts = data.get("concepts") or {}
    scoring = data.get("scoring") or {}
    if scoring.get("place") not in concepts:
        fail("scoring.place", f"{scoring.get('place')!r} is not a concept")
    for n, name in enumerate(scoring.get("evidence") or []):
        if name not in concepts:
            fail(f"scoring.evidence[{n}]", f"{name!r} is not a concept")
    for n, name in enumerate(scoring.get("presence") or []):
        if name not in concepts:
            fail(f"scoring.presence[{n}]", f"{name!r} is not a concept")
    if not scoring.get("evidence"):
        fail("scoring.evidence", "name at least one concept")
    if int(scoring.get("lead_sentences", 3)) < 0:
        fail("scoring.lead_sentences", "must be >= 0")
    for name, block in concepts.items():
        parts = block.get("derived_from") or []
        for n, part in enumerate(parts):
            if part not in concepts or part == name:
                fail(f"concepts.{name}.derived_from[{n}]", f"{part!r} is not another concept")
        if not parts and not any(block.get(lang) for lang in ("ar", "en")):
            fail(f"concepts.{name}", "a concept needs terms (ar/en) or derived_from")
    for section in ("strong", "entities"):
        for g, group in enumerate(data.get(section) or []):
            for n, name in enumerate(group.get("concepts") or []):
                if name not in concepts:
                    fail(f"{section}[{g}].concepts[{n}]", f"{name!r} is not a concept")
    for name, block in (data.get("negative_contexts") or {}).items():
        if block.get("mode", "place") not in ("place", "veto"):
            fail(f"negative_contexts.{name}.mode", "must be 'place' or 'veto'")
    for n, pair in enumerate(data.get("spelling") or []):
        if len(pair) != 2:
            fail(f"spelling[{n}]", "a spelling rewrite is a pair [from, to]")
    window = (data.get("dampers") or {}).get("window", 2)
    if int(window) < 1:
        fail("dampers.window", "must be >= 1")
    for where, term in _all_terms(data):
        for word in str(term).split():
            stem = word.rstrip("*")
            if not normalize_for_matching(stem):
                fail(where, f"term {term!r} is empty once normalised")
                break
            if word.endswith("*") and len(normalize_for_matching(stem)) < 3:
                fail(where, f"wildcard {word!r} needs a stem of at least 3 letters")
                break


# libyaml's loader when PyYAML was built with it: the same nodes, marks and values, parsed
# in C (a run loads the topic in its preflight and again for tagging).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def validate_topic_text(text: str, origin: str = "topic") -> dict:
    """The topic as a dict, or :class:`TopicFileError` listing every problem with its line."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise TopicFileError(f"{origin}{line}: not valid YAML: {problem}") from None
    if node is None:
        raise TopicFileError(f"{origin}: empty topic file")
    checker = _Checker()
    checker.check(node, _SPEC, "")
    data = yaml.load(text, Loader=_LOADER) if not checker.problems else None
    if data is not None:
        _references(data, checker)
    if checker.problems:
        problems = sorted(checker.problems, key=lambda p: p.line)
        lines = [f"{origin}:{p.line}: {p.where}: {p.message}" for p in problems[:20]]
        more = len(problems) - len(lines)
        raise TopicFileError("\n".join(lines) + (f"\n... and {more} more" if more > 0 else ""))
    return data


def validate_topic_file(path: str | Path) -> dict:
    """Read and validate a topic file (see :func:`validate_topic_text`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TopicFileError(f"cannot read topic file {path}: {exc}") from None
    return validate_topic_text(text, origin=str(path))
