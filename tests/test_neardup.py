"""Near-duplicate clustering: the reference in marsad.dedup.neardup, the Beam transform, the
cross-run path through stored Parquet, and boilerplate cleaning on the seeds."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamPipeline
from apache_beam.testing.util import assert_that

from marsad.dedup.fingerprint import pack_rank, shard_of
from marsad.dedup.neardup import (
    Doc,
    NearDupConfig,
    Status,
    bucket_keys,
    choose_banding,
    cluster_docs,
    doc_fingerprints,
    jaccard,
    shingle_ids,
)
from marsad.text.boilerplate import clean_article
from marsad.text.normalize import tokens
from schemas.records import Article
from schemas.tables import ARTICLES_PARTITION, ARTICLES_SCHEMA, to_table
from transforms import dedup_pairs
from transforms.dedup_near import ClusterNearDuplicates
from transforms.dedup_pairs import ConcatEntries, PairsOfShard, ShardBlobs
from transforms.stored_texts import ReadStoredTexts

SEEDS = Path(__file__).resolve().parents[1] / "marsad" / "samplesite" / "content" / "seeds"
CONFIG = NearDupConfig()
T0 = datetime(2024, 1, 28, 9, tzinfo=UTC)


def _seed(number: str) -> str:
    return next(SEEDS.glob(f"{number}_*.txt")).read_text(encoding="utf-8")


def _body(number: str) -> str:
    return clean_article(_seed(number)).text


def _us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _syndicate(text: str, dateline: str, footer: str) -> str:
    """A wire copy as another outlet prints it: dateline, a changed number, a footer."""
    paragraphs = text.split("\n")
    paragraphs[0] = dateline + paragraphs[0]
    for index, paragraph in enumerate(paragraphs):
        if any(ch.isdigit() for ch in paragraph):
            paragraphs[index] = "".join("7" if ch.isdigit() else ch for ch in paragraph)
            break
    return "\n".join([*paragraphs, footer])


def _digest(first: str, second: str) -> str:
    """A round-up page quoting two unrelated stories in full."""
    return "أبرز أخبار اليوم\n" + first + "\n" + second


@pytest.fixture(scope="module")
def corpus() -> list[Doc]:
    story = _body("000")
    other = _body("002")
    return [
        Doc("orig", story, "alhurra", _us(T0)),
        Doc("copy1", _syndicate(story, "بغداد - (رويترز) - ", "تابعنا على تويتر"), "shafaq", _us(T0 + timedelta(hours=2))),
        Doc("copy2", _syndicate(story, "واشنطن (أ ف ب) - ", "الرابط المختصر https://x.test/?p=1"), "rudaw", _us(T0 + timedelta(hours=5))),
        Doc("other", other, "alsumaria", _us(T0 + timedelta(hours=1))),
        Doc("other_copy", _syndicate(other, "دبي - العربية.نت: ", "شارك الخبر"), "alarabiya", _us(T0 + timedelta(hours=3))),
        Doc("digest", _digest(story, other), "aggregator", _us(T0 + timedelta(hours=4))),
        Doc("seed1", _body("001"), "noonpost", _us(T0)),
        Doc("seed3", _body("003"), "kurdistan24", _us(T0)),
        Doc("seed4", _body("004"), "independent", _us(T0)),
    ]  # fmt: skip


def test_copies_join_the_earliest_article_and_distinct_seeds_stay_apart(corpus):
    decisions = cluster_docs(corpus, CONFIG)
    assert decisions["orig"].is_canonical
    for copy in ("copy1", "copy2"):
        assert decisions[copy].cluster_id == "orig"
        assert decisions[copy].duplicate_of == "orig"
        assert CONFIG.threshold <= decisions[copy].similarity < 1.0
    assert decisions["other_copy"].cluster_id == "other"
    clusters = {decisions[i].cluster_id for i in ("orig", "other", "seed1", "seed3", "seed4")}
    assert len(clusters) == 5, "the seeds report overlapping events but are different articles"


def test_a_digest_never_merges_the_stories_it_quotes(corpus):
    decisions = cluster_docs(corpus, CONFIG)
    assert decisions["orig"].is_canonical and decisions["other"].is_canonical
    assert decisions["digest"].cluster_id in {"digest", "orig", "other"}
    # Each member must be similar to its canonical itself, not chained through the digest.
    for doc_id, status in decisions.items():
        if not status.is_canonical:
            assert status.similarity >= CONFIG.threshold, doc_id


def test_cluster_ids_do_not_depend_on_input_order(corpus):
    expected = cluster_docs(corpus, CONFIG)
    rng = random.Random(3)
    for _ in range(5):
        shuffled = corpus[:]
        rng.shuffle(shuffled)
        assert cluster_docs(shuffled, CONFIG) == expected


def test_canonical_rule_earliest_then_longest_then_smallest_id():
    text = _body("000")
    longer = text + "\nوأضاف المسؤول أن المحادثات ستستأنف الأسبوع المقبل في بغداد بحضور الوفدين."
    same_time = [
        Doc("b", text, "x", _us(T0)),
        Doc("a", text, "y", _us(T0)),
        Doc("c", longer, "z", _us(T0)),
    ]
    decisions = cluster_docs(same_time, CONFIG)
    assert decisions["c"].is_canonical, "at equal time the longest text represents the cluster"
    assert decisions["a"].cluster_id == decisions["b"].cluster_id == "c"
    earlier = cluster_docs(
        [*same_time, Doc("late_but_first", text, "w", _us(T0 - timedelta(1)))], CONFIG
    )
    assert earlier["late_but_first"].is_canonical
    undated = cluster_docs([Doc("z", text, "x", None), Doc("y", text, "x", None)], CONFIG)
    assert undated["y"].is_canonical and undated["z"].duplicate_of == "y"


def test_short_texts_match_only_exactly():
    short_a, short_b = "انفجار في بغداد", "انفجار في البصرة"
    decisions = cluster_docs(
        [Doc("1", short_a), Doc("2", short_a + "."), Doc("3", short_b)], CONFIG
    )
    assert decisions["2"].duplicate_of == "1" and decisions["2"].similarity == 1.0
    assert decisions["3"].is_canonical


def test_banding_catches_pairs_at_the_threshold():
    bands, rows = choose_banding(0.5, 128)
    assert bands * rows <= 128
    assert 1 - (1 - 0.5**rows) ** bands >= 0.99
    assert choose_banding(0.8, 128)[1] > rows, "a stricter threshold allows longer bands"


def test_jaccard_of_shingle_sets():
    words = tokens(_body("001"))
    a = shingle_ids(words, 5).tobytes()
    b = shingle_ids(words[: len(words) // 2], 5).tobytes()
    assert jaccard(a, a) == 1.0
    assert 0.4 < jaccard(a, b) < 0.6


def test_repeated_paragraph_and_trailing_chrome_are_removed_from_the_seeds():
    raw = _seed("000")
    paragraphs = [p for p in raw.split("\n") if len(p) > 80]
    repeated = next(p for p in paragraphs if raw.count(p) > 1)
    cleaned = clean_article(raw)
    assert cleaned.text.count(repeated) == 1 and cleaned.repeats_removed >= 1
    for number, gone in [
        ("001", "رابط المقال"),
        ("002", "الرابط المختصر"),
        ("004", "تابعنا على"),
        ("003", "Developed by Smarthand"),
    ]:
        cleaned = clean_article(_seed(number))
        assert gone not in cleaned.text, number
        assert cleaned.boilerplate_removed >= 1
        last_body = [p for p in _seed(number).split("\n") if len(p) > 150][-1]
        assert last_body in cleaned.text, "the body is never cut"


def _article(doc: Doc) -> Article:
    published = datetime.fromtimestamp(doc.published_us / 1e6, UTC) if doc.published_us else None
    return Article(
        article_id=doc.doc_id,
        url=f"https://{doc.source}.test/{doc.doc_id}",
        canonical_url=f"https://{doc.source}.test/{doc.doc_id}",
        source=doc.source,
        feed_url="",
        run_id="test",
        title="",
        text=doc.text,
        text_chars=len(doc.text),
        published_at=published,
    )


def _decision(article: Article) -> tuple:
    return (article.article_id, article.is_canonical, article.cluster_id, article.duplicate_of)


@pytest.mark.parametrize(("workers", "gathered_bytes"), [(1, None), (2, None), (1, 1)])
def test_beam_transform_agrees_with_the_reference(corpus, workers, gathered_bytes, monkeypatch):
    """Also with cleaning and fingerprinting in two worker processes (``--workers``), and
    with bucket entries sent on after every article (a bundle's cap reached at once)."""
    if gathered_bytes is not None:
        monkeypatch.setattr(dedup_pairs, "MAX_GATHERED_BYTES", gathered_bytes)
    expected = cluster_docs(corpus, CONFIG)
    want = sorted(
        (s.doc_id, s.is_canonical, s.cluster_id, s.duplicate_of) for s in expected.values()
    )
    with BeamPipeline(runner="FnApiRunner") as pipeline:
        decided = (
            pipeline
            | beam.Create([_article(doc) for doc in corpus])
            | beam.Reshuffle()
            | ClusterNearDuplicates(CONFIG, workers)
            | beam.Map(_decision)
        )
        assert_that(decided, lambda got: _equal(sorted(got), want))


def _equal(got, want):
    assert got == want


def test_drop_duplicates_leaves_only_canonical_rows(corpus):
    config = NearDupConfig(drop_duplicates=True)
    with BeamPipeline(runner="FnApiRunner") as pipeline:
        kept = (
            pipeline
            | beam.Create([_article(doc) for doc in corpus])
            | ClusterNearDuplicates(config)
            | beam.Map(lambda a: a.article_id)
        )
        canonical = [i for i, s in cluster_docs(corpus, CONFIG).items() if s.is_canonical]
        assert_that(kept, lambda got: _equal(sorted(got), sorted(canonical)))


def _write_earlier_run(output: Path, articles: list[Article]) -> None:
    for article in articles:
        day = article.published_at.date().isoformat()
        folder = output / "articles" / f"{ARTICLES_PARTITION}={day}"
        folder.mkdir(parents=True, exist_ok=True)
        table = to_table([article], ARTICLES_SCHEMA)
        pq.write_table(table, folder / f"part-earlier-{article.article_id}.parquet")


def test_a_copy_published_days_later_joins_the_stored_cluster(tmp_path):
    story = _body("000")
    today = datetime.now(UTC).replace(microsecond=0)
    stored_orig = _article(Doc("orig", story, "alhurra", _us(today - timedelta(days=3))))
    stored_orig = stored_orig.replace(cluster_id="orig", is_canonical=True)
    old = _article(Doc("old", _body("002"), "alsumaria", _us(today - timedelta(days=90))))
    old = old.replace(cluster_id="old", is_canonical=True, content_hash="")
    _write_earlier_run(tmp_path, [stored_orig, old])

    later_copy = _syndicate(story, "أربيل - ", "شارك الخبر")
    new = [
        _article(Doc("copy", later_copy, "rudaw", _us(today))),
        _article(Doc("fresh", _body("004"), "independent", _us(today))),
    ]
    with BeamPipeline(runner="FnApiRunner") as pipeline:
        stored = pipeline | ReadStoredTexts(str(tmp_path / "articles"), lookback_days=30)
        decided = (
            (pipeline | beam.Create(new), stored)
            | ClusterNearDuplicates(CONFIG)
            | beam.Map(_decision)
        )
        assert_that(
            decided,
            lambda got: _equal(
                sorted(got),
                [("copy", False, "orig", "orig"), ("fresh", True, "fresh", "")],
            ),
        )


def test_outside_the_look_back_only_exact_copies_join(tmp_path):
    story = _body("000")
    today = datetime.now(UTC).replace(microsecond=0)
    stored = _article(Doc("orig", story, "alhurra", _us(today - timedelta(days=60))))
    from marsad.text.normalize import content_hash

    stored = stored.replace(cluster_id="orig", content_hash=content_hash(clean_article(story).text))
    _write_earlier_run(tmp_path, [stored])
    near = _syndicate(story, "أربيل - ", "")
    new = [
        _article(Doc("exact", story, "rudaw", _us(today))),
        _article(Doc("near", near, "shafaq", _us(today))),
    ]
    with BeamPipeline(runner="FnApiRunner") as pipeline:
        texts = pipeline | ReadStoredTexts(str(tmp_path / "articles"), lookback_days=30)
        decided = (
            (pipeline | beam.Create(new), texts)
            | ClusterNearDuplicates(CONFIG)
            | beam.Map(_decision)
        )
        # The near copy reaches the old story through this run's exact copy of it.
        assert_that(
            decided,
            lambda got: _equal(
                sorted(got), [("exact", False, "orig", "orig"), ("near", False, "orig", "orig")]
            ),
        )
    # Alone, the near copy cannot be compared with a row known only by its hash.
    hash_only = Status("orig", True, "orig")
    alone = cluster_docs(
        [
            Doc("orig", "", fixed=hash_only, content_hash=stored.content_hash),
            Doc("near", near, "shafaq", _us(today)),
        ],
        CONFIG,
    )
    assert alone["near"].is_canonical


def test_bucket_entries_gathered_per_bundle_give_the_same_pairs(corpus):
    """Entries gathered per (window, shard) in several bundles, then combined per shard,
    give the candidate pairs the entries give one by one — whatever the bundling."""
    entries = []
    for fp in doc_fingerprints(corpus, CONFIG):
        rank = pack_rank(fp.rank)
        entries += [(shard_of(k), bytes([len(k)]) + k + rank) for k in bucket_keys(fp, CONFIG)]

    def pairs(records):
        combine = ConcatEntries()
        blobs: dict[int, bytearray] = {}
        for shard, framed in records:
            blobs[shard] = combine.add_input(blobs.get(shard, combine.create_accumulator()), framed)
        finder = PairsOfShard(CONFIG.max_bucket_pairs)
        finder.setup()
        return sorted(
            pair
            for shard, blob in blobs.items()
            for pair in finder.process((shard, combine.extract_output(blob)))
        )

    one_by_one = [(shard, len(e).to_bytes(2, "big") + e) for shard, e in entries]
    bundles = [ShardBlobs(), ShardBlobs(), ShardBlobs()]
    for n, (shard, entry) in enumerate(entries):
        bundles[n % 3].add([(shard, entry)], "w1")
    gathered = [item for bundle in bundles for item in bundle.drain()]
    assert {window for window, _ in gathered} == {"w1"}
    assert len(gathered) < len(entries)  # fewer records than entries
    want = pairs(one_by_one)
    assert want and pairs(record for _, record in gathered) == want
    assert not list(bundles[0].drain())  # drained means empty
    # Windows are never mixed in one record.
    split = ShardBlobs()
    split.add(entries[:5], "w1")
    split.add(entries[:5], "w2")
    shards = len({shard for shard, _ in entries[:5]})
    assert sorted(w for w, _ in split.drain()) == ["w1"] * shards + ["w2"] * shards
    # A capped gatherer is full once it holds the cap; drained early, the pairs stay.
    capped, sent, most_held = ShardBlobs(max_bytes=4096), [], 0
    for n in range(0, len(entries), 50):
        capped.add(entries[n : n + 50], "w1")
        most_held = max(most_held, capped.size)
        if capped.full:
            sent += [record for _, record in capped.drain()]
            assert capped.size == 0 and not capped.full
    sent += [record for _, record in capped.drain()]
    one_article = 50 * max(2 + len(entry) for _, entry in entries)
    assert 4096 <= most_held < 4096 + one_article
    assert pairs(sent) == want
