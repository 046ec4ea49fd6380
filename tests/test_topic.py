"""Topic tagger: matching (clitics, spelling, plurals), scoring rules, topic files, CLI."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from marsad.errors import InputError
from marsad.text.normalize import normalize_for_matching
from marsad.topic.match import PhraseIndex, split_units, token_variants
from marsad.topic.tagger import TopicTags, load_tagger
from pipeline.topic_cmd import load_labelled, run_eval_topic, run_tag

DATA = Path(__file__).parent / "data"
SAMPLE = Path(__file__).parents[1] / "marsad" / "samplesite" / "content"


@pytest.fixture(scope="module")
def tagger():
    return load_tagger()


def _terms(tags: TopicTags) -> dict[str, tuple[str, int]]:
    """Topic-file terms found (the learned vocabulary's words are rows of their own)."""
    return {
        t["term"]: (t["concept"], t["count"])
        for t in tags.matched_terms
        if t["concept"] != "vocabulary"
    }


def _hits(index: PhraseIndex, text: str) -> list[str]:
    tokens = split_units(text).split()
    return [index.payloads[term] for term, _ in index.find(tokens)]


# -- matching -----------------------------------------------------------------------
def test_arabic_clitics_reach_the_term():
    index = PhraseIndex([("العراق", "iraq"), ("القوات الأمريكية", "us_forces")])
    for form in ("العراق", "والعراق", "بالعراق", "للعراق", "فالعراق", "وبالعراق", "كالعراق"):
        assert _hits(index, form) == ["iraq"], form
    assert _hits(index, "وللقوات الأمريكية") == ["us_forces"]
    assert _hits(index, "بالقوات والأمريكية") == ["us_forces"]
    assert _hits(index, "عراقيون") == []  # no wildcard: a different word


def test_accusative_ya_reaches_the_bare_word():
    index = PhraseIndex([("جندي", "troops"), ("سوريا", "syria")])
    assert _hits(index, "جنديا") == ["troops"]
    assert _hits(index, "والجنديا") == ["troops"]
    assert _hits(index, "سوريا") == ["syria"]  # the word itself still matches first
    assert _hits(index, "يا") == []


def test_clitic_stripping_keeps_a_stem():
    assert "عراق" in token_variants("للعراق")
    assert all(len(v) >= 2 for v in token_variants("وب"))


def test_spelling_variants_and_wildcards():
    index = PhraseIndex(
        [("القوات الأمريكية", "us_forces"), ("انسحاب*", "withdrawal")],
        rewrites=[("اميرك", "امريك")],
    )
    assert _hits(index, "القوات الأميركية") == ["us_forces"]
    assert _hits(index, "القوّات الأمريكيّة") == ["us_forces"]  # shadda folded
    assert _hits(index, "وانسحابها") == ["withdrawal"]


def test_isis_spellings_are_one_entity(tagger):
    for name in ("داعش", "تنظيم الدولة", "تنظيم الدولة الإسلامية", "ISIS", "Islamic State"):
        tags = tagger.tag("", f"هجوم جديد يتبناه {name} في الصحراء")
        assert [e["name"] for e in tags.entities] == ["Islamic State"], name


def test_english_case_and_plurals():
    index = PhraseIndex([("withdrawal", "w"), ("base", "b"), ("militia", "m"), ("US troops", "u")])
    assert _hits(index, "WITHDRAWALS of Bases") == ["w", "b"]
    assert _hits(index, "militias") == ["m"]
    assert _hits(index, "U.S. troops") == ["u"]


def test_longest_match_shadows_generic_word(tagger):
    terms = _terms(tagger.tag("", "انسحاب القوات العراقية من كركوك"))
    assert "القوات العراقية" in terms
    assert "القوات" not in terms


def test_sentence_and_paragraph_markers_survive_normalisation():
    units = split_units("First sentence. U.S. troops stay.\nSecond paragraph")
    assert units.count("\ue000") == 2 and units.count("\ue001") == 1
    assert "us troops" in units


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from("aUSbN. .'’s x1_é\nق"), max_size=40))
def test_abbreviations_and_possessives_fold_as_the_plain_patterns_do(text):
    """The hint-guarded, class-first patterns of split_units change exactly what the
    plain ones (a word boundary and a look-behind first) changed."""
    abbreviation = re.compile(r"\b(?:[A-Za-z]\.){2,}")
    possessive = re.compile(r"(?<=[A-Za-z])['’]s\b")
    plain = possessive.sub("", abbreviation.sub(lambda m: m.group().replace(".", ""), text))
    reference = re.sub(r"[.!?؟؛;]+(?=\s|$)", " \ue000 ", plain).replace("\n", " \ue001 ")
    assert split_units(text) == normalize_for_matching(reference)


# -- scoring ------------------------------------------------------------------------
def test_title_with_all_concepts_is_relevant(tagger):
    tags = tagger.tag("انسحاب القوات الأمريكية من العراق", "")
    assert tags.is_relevant and 0.5 <= tags.score <= 1.0


def test_concepts_must_share_a_sentence_or_paragraph(tagger):
    scattered = (
        "زار وزير الخارجية العراقي العاصمة الإيطالية لبحث ملف الطاقة.\n"
        "وقال مسؤول في البنتاغون إن القوات الأمريكية تجري تدريبات في ولاية تكساس.\n"
        "وفي شأن آخر، أعلن حزب معارض انسحابه من الانتخابات البلدية."
    )
    tags = tagger.tag("أخبار متفرقة", scattered)
    assert not tags.is_relevant
    together = "وقال مسؤول عراقي إن انسحاب القوات الأمريكية من العراق سيكتمل العام المقبل."
    assert tagger.tag("أخبار متفرقة", together + "\n" + together).is_relevant


def test_presence_without_a_word_of_leaving_is_its_own_evidence():
    # The kinds the withdrawal evidence alone missed (2014-2018 deployments, bases).
    from marsad.topic.definition import TopicDefinition
    from marsad.topic.features import ArticleReader

    reader = ArticleReader(TopicDefinition.load())

    def features(title: str, text: str = "") -> dict[str, float]:
        return reader.features(reader.read(title, text))[0]

    sent = features("البنتاغون يرسل 450 جنديا أميركيا إضافيا إلى قاعدة التقدم في الأنبار")
    assert sent.get("presence:title") and "evidence:none" not in sent
    based = features("", "US troops are still based at Ain al-Asad air base in Anbar, Iraq.")
    assert based.get("presence:lead") and "evidence:none" not in based
    # Forces that are not there (Texas), or there without the US: no presence.
    elsewhere = features("", "US troops are still based in Texas.")
    assert "presence:lead" not in elsewhere and elsewhere.get("evidence:none") == 1.0
    iraqi = features("", "Iraqi troops are still based at the air base in Anbar, Iraq.")
    assert "presence:lead" not in iraqi


def test_iraqs_own_forces_place_the_sentence_and_partners_are_forces():
    # «القوات العراقية» shadows «القوات» (not the coalition) but still says where:
    # advisers sent to train Iraqi forces are in Iraq even when Iraq is not named.
    from marsad.topic.definition import TopicDefinition
    from marsad.topic.features import ArticleReader

    reader = ArticleReader(TopicDefinition.load())

    def features(text: str) -> dict[str, float]:
        return reader.features(reader.read("", text))[0]

    for text in (
        "وأرسلت واشنطن 300 مستشار عسكري أمريكي لتدريب القوات العراقية.",
        "Washington sent 300 more US advisers to train Iraqi forces.",
        # A partner's forces named by the adjective («الكندية»), present («يوجد»):
        "ويوجد نحو 70 جنديا من أفراد القوات الخاصة الكندية في شمال العراق.",
        "New Zealand troops are based at Camp Taji to train Iraqi soldiers.",
    ):
        found = features(text)
        assert found.get("presence:lead") and "place:absent" not in found, text
    alone = features("The Iraqi army retook the town.")
    assert "presence:lead" not in alone and "evidence:none" in alone


def test_a_passing_mention_in_the_tail_is_not_enough(tagger):
    body = "\n".join(
        ["صوت البرلمان العراقي على الموازنة بعد جلسة طويلة شهدت خلافات حول حصص المحافظات."] * 4
        + ["وهي ثاني موازنة ثلاثية منذ انسحاب القوات الأمريكية من العراق عام 2011."]
    )
    tags = tagger.tag("البرلمان يقر الموازنة", body)
    assert not tags.is_relevant
    assert 0 < tags.score < 0.5


@pytest.mark.parametrize(
    "title, text",
    [
        (
            "Last US troops leave Afghanistan",
            "The last US troops left Kabul, completing the withdrawal from Afghanistan.",
        ),
        (
            "Trump orders US troops out of Syria",
            "US forces will withdraw from northeast Syria, the Pentagon said.",
        ),
        (
            "How Iraq's army withdrew from Kuwait",
            "Iraqi troops withdrew from Kuwait in 1991 as the US-led coalition advanced.",
        ),
        (
            "Security Council ends UNAMI mission in Iraq",
            "The UN mission in Iraq (UNAMI) will end its presence and withdraw staff by 2025.",
        ),
        (
            "Turkey extends troop presence in northern Iraq",
            "Turkish forces will remain in northern Iraq; Baghdad demanded their withdrawal.",
        ),
        (
            "Iran and US resume nuclear talks",
            "Talks resumed since Washington's withdrawal from the nuclear deal; Iraq mediated.",
        ),
    ],
)
def test_hard_negatives(tagger, title, text):
    assert not tagger.tag(title, text).is_relevant


def test_matched_terms_and_entities_explain_the_decision(tagger):
    tags = tagger.tag(
        "كتائب حزب الله تطالب بخروج القوات الأمريكية من العراق",
        "قالت كتائب حزب الله إن هجماتها على قاعدة عين الأسد ستستمر حتى انسحاب القوات الأجنبية.",
    )
    assert tags.is_relevant
    terms = _terms(tags)
    assert terms["خروج القوات الأمريكية"] == ("us_forces+withdrawal", 1)
    assert terms["انسحاب القوات الأجنبية"] == ("us_forces+withdrawal", 1)
    assert terms["العراق"] == ("iraq", 1)
    assert {"concept", "count", "term", "weight"} == set(tags.matched_terms[0])
    # Rows are ordered by what they added to the log-odds: the first one explains most.
    weights = [abs(t["weight"]) for t in tags.matched_terms]
    assert weights == sorted(weights, reverse=True) and weights[0] > 0
    top = {t["concept"] for t in tags.matched_terms[:4]}
    assert top & {"us_forces+withdrawal", "us_forces", "withdrawal"}
    entities = {e["name"]: (e["type"], e["mentions"]) for e in tags.entities}
    assert entities["Kataib Hezbollah"] == ("faction", 2)
    assert entities["Ain al-Asad Air Base"][0] == "base"
    assert "faction_attacks" in tags.subtopics
    assert "حزب الله" not in terms  # shadowed by the faction's full name, not Lebanon


def test_language_comes_from_the_text(tagger):
    tags = tagger.tag("US troops", "Officials said the troops would leave Iraq.", language="ar")
    assert tags.language == "en"


def test_threshold_override_changes_only_the_flag():
    text = "Iraqi officials said US troops will withdraw from Iraq next year."
    strict, loose = load_tagger(threshold=0.9999), load_tagger(threshold=0.1)
    assert strict.tag("", text).score == loose.tag("", text).score
    assert loose.tag("", text).is_relevant and not strict.tag("", text).is_relevant


def test_each_language_is_judged_by_its_own_threshold():
    import dataclasses

    from marsad.topic.definition import TopicDefinition
    from marsad.topic.model import TopicModel
    from marsad.topic.tagger import TopicTagger

    base = load_tagger().model
    text = "Iraqi officials said US troops will withdraw from Iraq next year."
    score = load_tagger().tag("", text).score
    # A model whose English threshold lies above this score, the shared one below it.
    model = dataclasses.replace(base, threshold=score / 2, thresholds={"en": (1 + score) / 2})
    again = TopicModel.from_json(json.loads(json.dumps(model.to_json())))
    assert again.thresholds == model.thresholds
    tagger = TopicTagger(TopicDefinition.load(), again)
    assert not tagger.tag("", text, language="en", detect_language=False).is_relevant
    assert tagger.tag("", text, language="ar", detect_language=False).is_relevant
    assert not tagger.tag("", text).is_relevant  # detected: English
    # An explicit threshold applies to every language.
    assert TopicTagger(TopicDefinition.load(), again, threshold=score / 2).tag("", text).is_relevant


# -- topic files --------------------------------------------------------------------
WATER_TOPIC = {
    "name": "iraq_water",
    "scoring": {"place": "iraq", "evidence": ["water", "shortage"]},
    "concepts": {
        "iraq": {"ar": ["العراق"], "en": ["iraq", "basra"]},
        "water": {"ar": ["المياه", "دجلة"], "en": ["water", "tigris", "euphrates"]},
        "shortage": {"ar": ["شح", "جفاف"], "en": ["shortage*", "drought"]},
    },
    "negative_contexts": {"syria": {"mode": "place", "en": ["syria"]}},
    "subtopics": {"farming": {"en": ["farmers"]}},
    "entities": [{"type": "river", "name": "Tigris", "ar": ["دجلة"], "en": ["tigris"]}],
}


def _water_examples() -> list[dict]:
    """Small written training set for the water topic (a unit fixture, not a corpus)."""
    places = ["Basra", "Iraq", "southern Iraq", "Iraq's Maysan province"]
    rivers = ["the Tigris", "the Euphrates", "the rivers", "the water supply"]
    items = []
    for n, (place, river) in enumerate((p, r) for p in places for r in rivers):
        items.append({"id": f"p{n}", "label": 1, "language": "en",
                      "title": [f"Drought hits {place}", f"Water shortages hit {place}"][n % 2],
                      "text": f"Water shortages in {place} worsened as {river} fell to a record low. "
                              f"Farmers in {place} said the drought destroyed crops."})  # fmt: skip
        items.append({"id": f"s{n}", "label": 0, "language": "en",
                      "title": f"Drought in Syria near {river}",
                      "text": f"Water shortages in Syria worsened as {river} fell. "
                              "Officials in Damascus blamed the drought."})  # fmt: skip
        items.append({"id": f"o{n}", "label": 0, "language": "en",
                      "title": f"Elections in {place}",
                      "text": f"Voters in {place} chose a new council. The budget was approved."})  # fmt: skip
    return items


def test_a_second_topic_needs_no_code(tmp_path):
    from marsad.topic.definition import TopicDefinition
    from marsad.topic.train import fit

    path = tmp_path / "water.yaml"
    path.write_text(yaml.safe_dump(WATER_TOPIC, allow_unicode=True), encoding="utf-8")
    definition = TopicDefinition.load(path)
    model, report = fit(definition, _water_examples())
    model.save(definition.weights_path())
    assert definition.weights_path() == tmp_path / "water.weights.json"
    assert report["cv"]["figures"]["en"]["recall"] >= 0.9
    tagger = load_tagger(str(path))
    tags = tagger.tag("Water shortages hit Basra", "Farmers in Iraq face drought on the Tigris.")
    assert tags.is_relevant
    assert tags.subtopics == ["farming"]
    assert tags.entities == [{"type": "river", "name": "Tigris", "mentions": 1}]
    assert not tagger.tag("Drought in Syria", "Water shortages in Syria.").is_relevant
    assert not tagger.tag("US troops leave Iraq", "The withdrawal is complete.").is_relevant


def test_a_topic_without_weights_says_how_to_make_them(tmp_path):
    from marsad.topic.schema import TopicFileError

    path = tmp_path / "water.yaml"
    path.write_text(yaml.safe_dump(WATER_TOPIC, allow_unicode=True), encoding="utf-8")
    with pytest.raises(TopicFileError, match="marsad train topic"):
        load_tagger(str(path))


def test_sample_site_articles(tagger):
    relevant = set()
    for path in sorted((SAMPLE / "articles").glob("*.md")):
        _, front, body = path.read_text(encoding="utf-8").split("---\n", 2)
        meta = yaml.safe_load(front)
        if meta.get("body_file"):
            body = (SAMPLE / meta["body_file"]).read_text(encoding="utf-8")
        if tagger.tag(meta["title"], body).is_relevant:
            relevant.add(path.stem)
    assert relevant == {
        "en-ain-al-asad", "feed-only-brief", "kurdistan-harir", "wire-hmc-round",
        "seed-000", "seed-001", "seed-002", "seed-003", "seed-004",
        # the web-conventions outlets' stories on the coalition's withdrawal (#14)
        "sitemap-coalition-advisers", "kurd-press-harir", "mosul-troops-debate",
        "anbar-handover",
    }  # fmt: skip


def test_written_dev_set_and_seeds_meet_the_targets(tagger):
    items = load_labelled(
        [str(DATA / "topic_dev_written.jsonl"), str(DATA / "topic_dev_seeds.jsonl")],
        [str(SAMPLE / "seeds")],
    )
    assert len(items) >= 80
    for language in ("ar", "en"):
        subset = [i for i in items if i.get("language", "ar") == language]
        predicted = [tagger.tag(i["title"], i["text"]).is_relevant for i in subset]
        gold = [bool(i["label"]) for i in subset]
        tp = sum(p and g for p, g in zip(predicted, gold, strict=True))
        assert tp / max(sum(predicted), 1) >= 0.95, language
        assert tp / max(sum(gold), 1) >= 0.95, language


def test_seed_articles_are_relevant(tagger):
    """The user's own seed documents (bundled copy, and ../shared/seeds when present)."""
    folders = [SAMPLE / "seeds"]
    shared = Path(__file__).resolve().parents[2] / "shared" / "seeds"
    folders += [shared] if shared.exists() else []
    for folder in folders:
        for path in sorted(folder.glob("*.txt")):
            title, _, body = path.read_text(encoding="utf-8").partition("\n")
            tags = tagger.tag(title, body)
            assert tags.is_relevant, (path, tags.score)


# -- command line -------------------------------------------------------------------
ARTICLES = [
    {
        "id": "a1",
        "title": "US troops to leave Iraq by 2026",
        "text": "Officials said that the US troops in Iraq will leave the country by 2026.",
    },
    {
        "id": "a2",
        "title": "Football",
        "text": "Al-Shorta beat Al-Zawraa and the fans said that it was the match of the season.",
        "language": "",
    },
    {"id": "a3", "text": "انسحاب القوات الأمريكية من العراق بحسب الجدول الزمني."},
]


def _tag(tmp_path: Path, suffix: str) -> Path:
    source, output = tmp_path / f"in.{suffix}", tmp_path / f"out.{suffix}"
    if suffix == "parquet":
        pq.write_table(pa.Table.from_pylist(ARTICLES), source)
    else:
        source.write_text("\n".join(json.dumps(a, ensure_ascii=False) for a in ARTICLES))
    args = argparse.Namespace(input=str(source), output=str(output), topic=None, threshold=None)
    assert run_tag(args) == 0
    return output


def test_tag_command_parquet_round_trip(tmp_path):
    table = pq.read_table(_tag(tmp_path, "parquet"))
    assert table.schema.field("matched_terms").type == pa.list_(
        pa.struct(
            [
                ("term", pa.string()),
                ("concept", pa.string()),
                ("count", pa.int32()),
                ("weight", pa.float32()),
            ]
        )
    )
    assert table.schema.field("topic_score").type == pa.float64()
    rows = table.to_pylist()
    assert [r["id"] for r in rows] == ["a1", "a2", "a3"]
    assert [r["is_relevant"] for r in rows] == [True, False, True]
    assert [r["language"] for r in rows] == ["en", "en", "ar"]


def test_tag_command_jsonl_round_trip(tmp_path):
    output = _tag(tmp_path, "jsonl")
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [r["is_relevant"] for r in rows] == [True, False, True]
    assert rows[0]["entities"] == [] and rows[0]["matched_terms"]


def _eval_args(labels: Path, no_split: bool = False) -> argparse.Namespace:
    """`marsad eval topic --labels LABELS [--no-split]` with every other option default."""
    return argparse.Namespace(
        labels=[str(labels)], texts=[], topic=None, threshold=None, weights=None,
        split=None, no_split=no_split, ant=None,
    )  # fmt: skip


def test_eval_command_prints_figures_and_errors(tmp_path, capsys):
    labels = tmp_path / "labels.jsonl"
    wrong = {
        "id": "x",
        "label": 1,
        "title": "Football",
        "text": "The fans said that the match in Baghdad was the best.",
    }
    rows = [{**a, "label": int(a["id"] != "a2")} for a in ARTICLES] + [wrong]
    labels.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    assert run_eval_topic(_eval_args(labels)) == 0
    out = capsys.readouterr().out
    assert "precision" in out and "recall" in out
    assert "misclassified: 1" in out
    assert "FN en x" in out


def test_a_new_round_is_scored_from_its_own_file(tmp_path, capsys):
    # A labelling round's file has no ids yet; it is scored before its labels are used.
    labels = tmp_path / "round.jsonl"
    rows = [{k: v for k, v in a.items() if k != "id"} | {"label": 1} for a in ARTICLES[:2]]
    rows.append({"label": 1, "title": "Football", "text": "The match in Baghdad was fine."})
    labels.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    args = _eval_args(labels, no_split=True)
    assert run_eval_topic(args) == 0
    assert f"FN en {labels.name}:3" in capsys.readouterr().out
    labels.write_text(json.dumps({"title": "x", "text": "y"}))
    with pytest.raises(InputError, match="line 1: needs a label 0/1"):
        run_eval_topic(args)


def test_eval_reads_missing_texts_from_a_table(tmp_path):
    labels, texts = tmp_path / "labels.jsonl", tmp_path / "texts.parquet"
    labels.write_text(json.dumps({"id": "D-1", "label": 1}))
    pq.write_table(pa.Table.from_pylist([{"docno": "D-1", "title": "t", "text": "body"}]), texts)
    (item,) = load_labelled([str(labels)], [str(texts)])
    assert item["text"] == "body" and item["title"] == "t"


def test_unrelated_filler_dilutes_the_evidence(tagger):
    lead = (
        "Iraqi Prime Minister Mohammed Shia al-Sudani said the mission of the international "
        "coalition in Iraq would end according to an agreed timetable."
    )
    filler = " ".join(
        f"The Iraqi ministry of planning published figure {n} on wheat harvests in Nineveh."
        for n in range(6)
    )
    brief = tagger.tag("Prime minister speaks on security", lead)
    feature = tagger.tag("Prime minister speaks on security", lead + " " + filler)
    assert brief.is_relevant, brief.score
    assert feature.score < brief.score
