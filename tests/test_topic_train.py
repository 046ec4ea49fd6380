"""Training and judging the topic scorer: corpus, split, intervals, weights file, CLI."""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import pytest
import yaml

from marsad.errors import InputError
from marsad.topic.corpus import (
    DEFAULT_AUDIT,
    DEFAULT_CORPUS,
    DEFAULT_SPLIT,
    apply_audit,
    assign_new,
    audited_label,
    ids_hash,
    load_corpus,
    load_split,
    make_split,
    save_split,
    stratum,
)
from marsad.topic.definition import DEFAULT_TOPIC, TopicDefinition
from marsad.topic.features import ArticleReader
from marsad.topic.metrics import figures, wilson
from marsad.topic.model import TopicModel
from marsad.topic.schema import TopicFileError
from pipeline.topic_cmd import run_eval_topic, run_train_topic
from tests.test_topic import WATER_TOPIC, _water_examples


def test_wilson_interval_matches_known_values():
    low, high = wilson(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson(10, 10)
    assert low == pytest.approx(0.7225, abs=1e-4) and high == pytest.approx(1.0)
    low, high = wilson(95, 100)
    assert low == pytest.approx(0.8882, abs=1e-4) and high == pytest.approx(0.9785, abs=1e-4)


def test_figures_per_language():
    table = figures(
        [1, 1, 0, 0, 1], [True, False, True, False, True], ["ar", "ar", "ar", "en", "en"]
    )
    assert (table["ar"].tp, table["ar"].fn, table["ar"].fp) == (1, 1, 1)
    assert table["en"].precision == 1.0 and table["all"].recall == pytest.approx(2 / 3)


def _items(count: int) -> list[dict]:
    rng = random.Random(3)
    return [
        {"id": f"i{n}", "language": rng.choice("ae").replace("a", "ar").replace("e", "en"),
         "year": rng.choice([2009, 2014, 2019, 2024]), "label": rng.random() < 0.4,
         "period": "x" if n % 2 else None}
        for n in range(count)
    ]  # fmt: skip


def test_split_is_a_stratified_deterministic_third():
    items = _items(600)
    for item in items:
        item["label"] = int(item["label"])
    test = make_split(items)
    assert test == make_split(list(reversed(items)))  # order of the corpus does not matter
    assert 190 <= len(test) <= 210
    strata: dict = {}
    for item in items:
        strata.setdefault(stratum(item), []).append(item["id"] in set(test))
    for key, flags in strata.items():
        assert abs(sum(flags) - len(flags) / 3) <= 1, key
    later = [f"new{n}" for n in range(3000)]
    assert 0.3 < sum(map(assign_new, later)) / 3000 < 0.37


def test_split_file_round_trip_and_tamper_check(tmp_path: Path):
    path = tmp_path / "split.json"
    save_split(path, ["b", "a"], ["c"], [{"date": "2026-11-30"}], "note")
    split = load_split(path)
    assert split.test == {"a", "b"} and split.sha256 == ids_hash(["a", "b"])
    assert split.is_test("a") and not split.is_test("c")
    data = json.loads(path.read_text())
    data["test"].append("c")
    path.write_text(json.dumps(data))
    with pytest.raises(Exception, match="hash"):
        load_split(path)
    save_split(path, ["a"], ["c"], [], "note", fresh=["c"])  # fresh must be held out
    with pytest.raises(Exception, match="fresh"):
        load_split(path)


def test_project_corpus_is_real_and_keeps_ant_as_ids_only():
    rows = [json.loads(line) for line in DEFAULT_CORPUS.read_text(encoding="utf-8").splitlines()]
    assert len({row["id"] for row in rows}) == len(rows)
    for row in rows:
        assert row["label"] in (0, 1) and row["language"] in ("ar", "en"), row["id"]
        if "ant_row" in row:
            assert "text" not in row and "title" not in row  # the ANT text is never copied
        else:
            assert row["url"].startswith("http") and len(row["text"]) >= 200, row["id"]
            assert row.get("provenance"), row["id"]
    assert not any(row["id"].startswith(("en-", "ar-")) for row in rows)  # no written cases
    split = load_split(DEFAULT_SPLIT)
    assert split.test <= {row["id"] for row in rows}


def _audit_items() -> list[dict]:
    return [
        {"id": name, "label": label} for name, label in (("a", 1), ("b", 1), ("c", 0), ("d", 0))
    ]


def test_audit_keeps_agreed_labels_and_the_third_readers_decision():
    items = _audit_items()
    entries = [
        {"id": "a", "first": 1, "second": 1},  # agreed
        {"id": "b", "first": 1, "second": 0, "adjudicated": 0},  # changed
        {"id": "c", "first": 0, "second": 1, "adjudicated": 0},  # upheld
        {"id": "gone", "first": 0, "second": 0},  # an item no longer in the corpus
    ]
    assert apply_audit(items, entries) == {"agreed": 1, "upheld": 1, "changed": 1}
    by_id = {item["id"]: item for item in items}
    assert by_id["a"] == {"id": "a", "label": 1, "audit": "agreed"}
    assert by_id["b"] == {"id": "b", "label": 0, "audit": "changed", "label_first": 1}
    assert by_id["c"] == {"id": "c", "label": 0, "audit": "upheld"}
    assert by_id["d"] == {"id": "d", "label": 0}  # not audited: untouched
    # Applying the same audit to its own output changes nothing (a rebuild with --extend).
    again = [dict(item) for item in items]
    apply_audit(again, entries)
    assert again == items


def test_audit_refuses_an_undecided_disagreement_or_another_first_label():
    with pytest.raises(InputError, match="no third reading"):
        audited_label({"id": "b", "first": 1, "second": 0})
    with pytest.raises(InputError, match="first label 0, corpus 1"):
        apply_audit(_audit_items(), [{"id": "a", "first": 0, "second": 0}])


def test_project_corpus_carries_its_audit():
    rows = {
        row["id"]: row
        for row in map(json.loads, DEFAULT_CORPUS.read_text(encoding="utf-8").splitlines())
    }
    entries = [json.loads(line) for line in DEFAULT_AUDIT.read_text(encoding="utf-8").splitlines()]
    assert len(entries) >= 1000
    for entry in entries:
        row = rows[entry["id"]]
        assert row["label"] == audited_label(entry), entry["id"]
        assert row.get("label_first", row["label"]) == entry["first"], entry["id"]
        assert row["audit"] == (
            "agreed"
            if entry["first"] == entry["second"]
            else "changed"
            if row["label"] != entry["first"]
            else "upheld"
        )
    audited = {entry["id"] for entry in entries}
    assert not [key for key, row in rows.items() if "audit" in row and key not in audited]


def test_bundled_weights_were_fitted_without_the_test_side():
    definition = TopicDefinition.load(DEFAULT_TOPIC)
    model = TopicModel.load(definition.weights_path())
    assert 0 < model.threshold < 1
    trained = model.trained
    assert trained["cv"]["figures"]["all"]["n"] == trained["items"]
    if trained.get("split_test_sha256"):
        assert trained["split_test_sha256"] == load_split(DEFAULT_SPLIT).sha256


def test_ant_items_are_skipped_cleanly_without_the_ant_corpus(tmp_path: Path, monkeypatch):
    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        json.dumps({"id": "SK-middleEast-1-20180101", "ant_row": 5, "label": 0, "language": "ar"})
        + "\n"
        + json.dumps({"id": "w1", "label": 1, "language": "en", "text": "x" * 300})
        + "\n"
    )
    monkeypatch.setenv("MARSAD_ANT", str(tmp_path / "absent.parquet"))
    corpus = load_corpus(labels)
    assert [item["id"] for item in corpus.items] == ["w1"]
    assert corpus.skipped == {"ANT corpus absent": 1}


def test_malformed_weights_files_are_topic_errors(tmp_path: Path):
    bad = tmp_path / "w.json"
    bad.write_text(json.dumps({"format": "marsad-topic-weights/1", "threshold": 2}))
    with pytest.raises(TopicFileError):
        TopicModel.load(bad)
    bad.write_text("{")
    with pytest.raises(TopicFileError, match="unreadable"):
        TopicModel.load(bad)


def test_train_and_eval_commands(tmp_path: Path, capsys):
    topic = tmp_path / "water.yaml"
    topic.write_text(yaml.safe_dump(WATER_TOPIC, allow_unicode=True), encoding="utf-8")
    items = _water_examples()
    for item in items:
        item["year"] = 2024
        item["text"] = item["text"]
    labels = tmp_path / "labels.jsonl"
    labels.write_text("\n".join(json.dumps(i) for i in items) + "\n")
    test = make_split(items)
    split = tmp_path / "split.json"
    save_split(split, test, [i["id"] for i in items if i["id"] not in test], [], "t")
    common = {"labels": [str(labels)], "split": str(split), "no_split": False, "ant": None,
              "topic": str(topic), "weights": None, "texts": []}  # fmt: skip
    assert run_train_topic(argparse.Namespace(output=None, **common)) == 0
    weights = json.loads((tmp_path / "water.weights.json").read_text())
    assert weights["trained"]["items"] == len(items) - len(test)
    assert weights["trained"]["split_test_sha256"] == ids_hash(test)
    assert run_eval_topic(argparse.Namespace(threshold=None, **common)) == 0
    out = capsys.readouterr().out
    assert "cross-validated on the tuning side" in out
    assert f"held out: test side ({len(test)} items" in out
    assert "precision [95% CI]" in out
    assert "fresh batch" not in out
    # A batch held out whole after the weights were fitted is reported on its own too.
    fresh = sorted(test)[:3]
    save_split(split, test, [i["id"] for i in items if i["id"] not in test], [], "t", fresh)
    assert load_split(split).fresh == set(fresh)
    assert run_eval_topic(argparse.Namespace(threshold=None, **common)) == 0
    out = capsys.readouterr().out
    assert "of which the fresh batch, labelled after the scorer was fixed (3 items)" in out


def test_vocabulary_scores_exactly_as_the_fitted_model_in_plain_python():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from marsad.topic.vocabulary import SHRINK, Vocabulary, fit_vocabulary, terms_of, words_of

    texts = [
        "US troops will leave Iraq by the end of the year, the Pentagon said.",
        "القوات الأمريكية تنسحب من قاعدة عين الأسد غرب العراق",
        "Oil exports from Basra rose in March, the ministry said.",
        "البرلمان العراقي يناقش الموازنة العامة للعام المقبل",
        "Coalition advisers stay in Erbil as talks on the mission go on.",
        "The football league in Baghdad resumes after the holidays.",
    ] * 2
    gold = [1, 1, 0, 0, 1, 0] * 2
    documents = [words_of("", text) for text in texts]
    vocabulary = fit_vocabulary(documents, gold, c=10.0)
    reference = TfidfVectorizer(analyzer=terms_of, min_df=2, sublinear_tf=True)
    model = LogisticRegression(C=10.0, class_weight="balanced", max_iter=5000)
    model.fit(reference.fit_transform(documents), gold)
    unseen = [words_of("Will U.S. troops leave Iraq?", "Advisers stay in Erbil."),
              words_of("", "نادي بغداد يفوز بالدوري")]  # fmt: skip
    expected = model.decision_function(reference.transform(unseen))
    intercept = model.intercept_[0]
    for words, value in zip(unseen, expected, strict=True):
        known = {t for t in terms_of(words) if t in vocabulary.terms}
        shrunk = intercept + (value - intercept) * len(known) / (len(known) + SHRINK)
        assert vocabulary.score(words)[0] == pytest.approx(shrunk, abs=1e-5)
    assert vocabulary.score([])[0] == pytest.approx(model.intercept_[0], abs=1e-6)
    # The tagger's reading keeps the very words the vocabulary was fitted on.
    reader = ArticleReader(TopicDefinition.load())
    title, text = "Will U.S. troops leave Iraq?", "Advisers stay in Erbil.\nSecond paragraph."
    assert reader.read(title, text).words == words_of(title, text)
    # Word pairs are terms too, and the weights file round-trips.
    assert "leave iraq" in vocabulary.terms
    again = Vocabulary.from_json(json.loads(json.dumps(vocabulary.to_json())))
    assert again.score(unseen[0])[0] == pytest.approx(vocabulary.score(unseen[0])[0], abs=1e-4)


def test_bundled_weights_explain_the_vocabulary_in_matched_terms():
    from marsad.topic.tagger import load_tagger

    tagger = load_tagger()
    assert tagger.model.vocabulary is not None and tagger.model.features.get("text:vocabulary")
    tags = tagger.tag("", "US troops will leave Iraq by the end of the year, the Pentagon said.")
    words = [row for row in tags.matched_terms if row["concept"] == "vocabulary"]
    assert 0 < len(words) <= 8
    assert all(isinstance(row["weight"], float) for row in words)


def _forward_eval_module():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "data" / "topic" / "forward_eval.py"
    spec = importlib.util.spec_from_file_location("forward_eval", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_forward_evaluation_finds_each_rounds_items_in_corpus_order():
    # data/topic/forward_eval.py fits on the rounds before a round and scores the round;
    # it finds the rounds from split.json's per-stage counts over the corpus's order,
    # which holds only while build_corpus.py appends each round's items.
    forward_eval = _forward_eval_module()
    lines = DEFAULT_CORPUS.read_text(encoding="utf-8").splitlines()
    items = [json.loads(line) for line in lines if line.strip()]
    split = json.loads(DEFAULT_SPLIT.read_text(encoding="utf-8"))
    stage = forward_eval.stages_of(items, split)
    assert stage == sorted(stage) and stage[-1] == len(split["fixed"]) - 1
    # The first rounds were built together in file-name order: their stages are mixed
    # (the batch held out whole is spread over several), so they are only fitted on.
    first = forward_eval.first_ordered_stage(items, split, stage)
    assert first == 11
    fresh = set(split["fresh"])
    assert len({s for item, s in zip(items, stage, strict=True) if item["id"] in fresh}) > 1
    # Stages whose items are gathered from elsewhere hold the wrong number of held-out
    # items: only the ones after the last such stage are in order.
    small = {"fixed": [{"assigned": 2, "test": 1}] * 3, "test": ["a", "c", "e"]}
    rows = [{"id": i} for i in "abcdef"]
    assert forward_eval.first_ordered_stage(rows, small, [0, 0, 1, 1, 2, 2]) == 0
    swapped = [rows[n] for n in (0, 1, 2, 4, 3, 5)]  # stage 1 holds c and e, stage 2 none
    assert forward_eval.first_ordered_stage(swapped, small, [0, 0, 1, 1, 2, 2]) == 3
    mixed = [rows[n] for n in (1, 0, 3, 2, 4, 5)]  # stages 0 and 1 mixed, still one each
    assert forward_eval.first_ordered_stage(mixed, small, [0, 0, 1, 1, 2, 2]) == 0
    with pytest.raises(SystemExit, match="not in the order"):
        forward_eval.stages_of(items[:-1], split)
