"""Topic files are validated before anything runs, each problem with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from marsad.topic.schema import TopicFileError, validate_topic_file, validate_topic_text
from marsad.topic.tagger import DEFAULT_TOPIC

GOOD = """\
name: water
scoring:
  place: iraq
  evidence: [water, shortage]
concepts:
  iraq: {ar: [العراق], en: [iraq]}
  water: {en: [water, tigris]}
  shortage: {en: [shortage*, drought]}
negative_contexts:
  syria: {mode: place, en: [syria]}
entities:
  - {type: river, name: Tigris, concepts: [water], en: [tigris]}
"""


def _problem(text: str) -> str:
    with pytest.raises(TopicFileError) as caught:
        validate_topic_text(text, origin="t.yaml")
    assert caught.value.reason == "topic_invalid"
    return str(caught.value)


def test_bundled_topic_and_a_minimal_topic_are_valid():
    assert validate_topic_file(DEFAULT_TOPIC)["name"] == "iraq_us_withdrawal"
    assert validate_topic_text(GOOD)["scoring"]["evidence"] == ["water", "shortage"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("  water: {en: [water, tigris]}", "  water: {en: water}"),
            "t.yaml:7: concepts.water.en: expected a list",
        ),
        (
            ("  shortage: {en: [shortage*, drought]}", "  shortage: {en: [sh*]}"),
            "t.yaml:8: concepts.shortage.en[0]: wildcard 'sh*' needs a stem",
        ),
        (
            ("  evidence: [water, shortage]", "  evidence: [water, lack]"),
            "t.yaml:4: scoring.evidence[1]: 'lack' is not a concept",
        ),
        (("  place: iraq", "  place: iran"), "t.yaml:3: scoring.place: 'iran' is not a concept"),
        (
            ("  evidence: [water, shortage]", "  evidence: [water, shortage]\n  presence: [dam]"),
            "t.yaml:5: scoring.presence[0]: 'dam' is not a concept",
        ),
        (
            ("{mode: place,", "{mode: nearby,"),
            "t.yaml:10: negative_contexts.syria.mode: must be 'place' or 'veto'",
        ),
        (
            ("concepts: [water],", "concepts: [rivers],"),
            "t.yaml:12: entities[0].concepts[0]: 'rivers' is not a concept",
        ),
        (("name: water", "name: water\nthreshhold: 0.5"), "t.yaml:2: threshhold: unknown key"),
        (
            (
                "  iraq: {ar: [العراق], en: [iraq]}",
                "  iraq: {ar: [العراق], en: [iraq]}\n  iraq: {en: [baghdad]}",
            ),
            "t.yaml:7: concepts.iraq: duplicate key",
        ),
        (("name: water\n", ""), "t.yaml:1: name: missing"),
        (
            ("{en: [water, tigris]}", "{en: [water, '«»']}"),
            "t.yaml:7: concepts.water.en[1]: term '«»' is empty once normalised",
        ),
        (
            ("  evidence: [water, shortage]", "  evidence: [water, shortage"),
            "t.yaml:5: not valid YAML",
        ),
    ],
)
def test_each_problem_is_named_with_its_line(change, expected):
    old, new = change
    assert old in GOOD
    assert expected in _problem(GOOD.replace(old, new))


def test_every_problem_is_listed_not_only_the_first():
    text = GOOD.replace("en: [water, tigris]", "en: water").replace("place: iraq", "place: [iraq]")
    message = _problem(text)
    assert "t.yaml:3: scoring.place: expected a string" in message
    assert "t.yaml:7: concepts.water.en: expected a list" in message


def test_unreadable_file_is_a_topic_error(tmp_path: Path):
    with pytest.raises(TopicFileError, match="cannot read topic file"):
        validate_topic_file(tmp_path / "missing.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(TopicFileError, match="empty topic file"):
        validate_topic_file(empty)


def test_check_topic_covers_the_weights_file_too(tmp_path: Path):
    from marsad.topic.tagger import check_topic

    check_topic()  # the bundled topic and its weights
    topic = tmp_path / "t.yaml"
    topic.write_text(GOOD, encoding="utf-8")
    with pytest.raises(TopicFileError, match="no weights file"):
        check_topic(topic)
    (tmp_path / "t.weights.json").write_text('{"format": "other"}')
    with pytest.raises(TopicFileError, match="not a topic weights file"):
        check_topic(topic)
