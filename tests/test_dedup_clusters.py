"""The clustering rule on hand-made similarity graphs, and fingerprints in bounded memory."""

from __future__ import annotations

import itertools
import random
import tracemalloc

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from marsad.dedup import fingerprint
from marsad.dedup.clusters import Edge, Member, Rule, Status, decide
from marsad.dedup.fingerprint import (
    PairSimilarity,
    choose_banding,
    minhash,
    pack_rank,
    published_tokens,
    rank_key,
    unpack_rank,
)
from marsad.dedup.neardup import Doc, NearDupConfig, bucket_keys, doc_fingerprints

RULE = Rule(threshold=0.5, min_pair=0.3)


def _members(*names: str) -> list[Member]:
    return [Member(name, rank_key(1, n, 100, name)) for n, name in enumerate(names)]


def _edges(pairs: dict[str, float]) -> list[Edge]:
    return [Edge(*key.split("-"), PairSimilarity(value, value)) for key, value in pairs.items()]


def _clusters(decided: dict[str, Status]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for doc_id, status in decided.items():
        groups.setdefault(status.cluster_id, set()).add(doc_id)
    return {frozenset(group) for group in groups.values()}


def test_the_odd_canonical_does_not_split_the_story():
    # "a" is published first but is the odd copy: a star around it loses c.
    members = _members("a", "b", "c")
    decided = decide(members, _edges({"a-b": 0.55, "b-c": 0.9, "a-c": 0.45}), RULE)
    assert _clusters(decided) == {frozenset("abc")}
    assert decided["c"].cluster_id == "a" and decided["c"].duplicate_of == "a"
    assert decided["c"].similarity == 0.45, "similarity to the canonical, even in the grey zone"


def test_a_pair_below_the_floor_never_shares_a_cluster():
    # The digest d links to both stories; the stories are different (0.02).
    members = _members("s1", "s2", "d")
    edges = _edges({"s1-d": 0.55, "s2-d": 0.52, "s1-s2": 0.02})
    decided = decide(members, edges, RULE)
    assert frozenset({"s1", "s2"}) not in {c & {"s1", "s2"} for c in _clusters(decided)}
    assert decided["d"].cluster_id == "s1", "it joins the story it is most linked to"


def test_a_pair_never_compared_counts_as_different():
    members = _members("a", "b", "c")
    decided = decide(members, _edges({"a-b": 0.8, "b-c": 0.8}), RULE)  # a-c not a candidate
    assert len(_clusters(decided)) == 2


def test_the_weaker_view_decides_compatibility_and_the_stronger_a_link():
    members = _members("a", "b", "c")
    edges = [
        Edge("a", "b", PairSimilarity(cleaned=0.7, published=0.45)),  # chrome differs: link
        Edge("a", "c", PairSimilarity(cleaned=0.6, published=0.25)),  # as published: different
    ]
    decided = decide(members, edges, RULE)
    assert decided["b"].cluster_id == "a"
    assert decided["c"].is_canonical, "clean bodies alike, pages as published different"


def test_most_links_win_and_every_cluster_stays_compatible():
    rng = random.Random(11)
    names = [f"d{i:02d}" for i in range(14)]
    pairs = {}
    for a, b in itertools.combinations(names, 2):
        value = rng.choice([0.0, 0.1, 0.35, 0.45, 0.55, 0.7, 0.9])
        if value >= 0.3:
            pairs[f"{a}-{b}"] = value
    decided = decide(_members(*names), _edges(pairs), RULE)
    for cluster in _clusters(decided):
        for a, b in itertools.combinations(sorted(cluster), 2):
            assert pairs.get(f"{a}-{b}", 0.0) >= 0.3, (a, b)
    shuffled = _edges(pairs)
    rng.shuffle(shuffled)
    assert decide(list(reversed(_members(*names))), shuffled, RULE) == decided


def test_fixed_clusters_take_members_but_never_merge():
    old1 = Member("o1", rank_key(0, 1, 100, "o1"), Status("o1", True, "o1"))
    old2 = Member("o2", rank_key(0, 2, 100, "o2"), Status("o2", True, "o2"))
    new = Member("n", rank_key(1, 3, 100, "n"))
    later = Member("m", rank_key(1, 0, 100, "m"))  # published before the stored rows
    edges = _edges({"o1-n": 0.8, "o2-n": 0.7, "o1-o2": 0.6, "n-m": 0.9, "o1-m": 0.85})
    decided = decide([old1, old2, new, later], edges, RULE)
    assert set(decided) == {"n", "m"}, "rows decided earlier are not decided again"
    assert decided["n"].cluster_id == decided["m"].cluster_id == "o1"
    assert not decided["m"].is_canonical, "a written cluster keeps its canonical"


def test_banding_makes_pairs_at_the_floor_candidates():
    bands, rows = choose_banding(0.3, 128)
    assert bands * rows <= 128
    assert 1 - (1 - 0.3**rows) ** bands >= 0.99
    assert 1 - (1 - 0.3**rows) ** (bands - 1) < 0.99, "no more bands than needed"


def test_packed_ranks_sort_like_ranks():
    ranks = [
        rank_key(1, 5, 300, "b"),
        rank_key(1, 5, 300, "a"),
        rank_key(1, 5, 900, "z"),
        rank_key(0, 9, 10, "old"),
        rank_key(1, None, 10, "undated"),
        rank_key(1, 4, 10, "عربي"),
    ]
    assert sorted(ranks) == [unpack_rank(p) for p in sorted(pack_rank(r) for r in ranks)]


def test_published_view_folds_only_lightly():
    assert published_tokens("أعلنت «الأمم المتحدة» ـ اليوم") == [
        "اعلنت",
        "الامم",
        "المتحده",
        "اليوم",
    ]
    assert published_tokens("رسوم_جمركية") == ["رسوم_جمركيه"], "one token, as the labels count it"


_ARABIC_AND_LATIN = st.text(
    alphabet=st.sampled_from("أإآاىيةه ـًٌٍَُِّْٰـ\nabcاعلنتالامم 123_,.«»"), max_size=200
)


@settings(max_examples=300, deadline=None)
@given(_ARABIC_AND_LATIN)
def test_published_view_folds_exactly_as_one_translation_table(text):
    """Five str.replace calls (the fast path) do what one str.translate table did."""
    table = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ى": "ي", "ة": "ه"})
    reference = fingerprint._WORD.findall(
        fingerprint._TASHKEEL_TATWEEL.sub("", text).translate(table)
    )
    assert published_tokens(text) == reference


def test_token_hashes_are_the_same_cold_warm_and_after_a_clear():
    tokens = ["the", "fox", "and", "the", "dog", "and", "the", "fox", "again"]
    want = [fingerprint._u64(token.encode("utf-8")) for token in tokens]
    fingerprint._TOKEN_CACHE.clear()
    assert fingerprint._token_hashes(tokens).tolist() == want  # every word new
    assert fingerprint._token_hashes(tokens).tolist() == want  # every word cached
    fingerprint._TOKEN_CACHE.pop("dog")
    assert fingerprint._token_hashes(tokens).tolist() == want  # one word new
    assert set(tokens) <= set(fingerprint._TOKEN_CACHE)


def test_minhash_in_chunks_equals_minhash_at_once():
    shingles = np.random.default_rng(3).integers(0, 2**32, 20_000, dtype=np.uint64)
    shingles = np.unique(shingles).astype(np.uint32)
    assert np.array_equal(
        minhash(shingles, 98, 7, chunk=1024), minhash(shingles, 98, 7, chunk=10**9)
    )


def test_a_long_one_line_text_is_fingerprinted_in_bounded_memory():
    # 1.5 MB of text on one line: all of it at once would be 98 hashes x 270k shingles
    # x 8 bytes = 210 MB for MinHash alone.
    rng = random.Random(5)
    text = " ".join(f"كلمة{rng.randrange(40_000)}" for _ in range(270_000))
    tracemalloc.start()
    [fp] = doc_fingerprints([Doc("long", text, "x", 0)], NearDupConfig())
    keys = bucket_keys(fp, NearDupConfig())
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert fp.compared and len(fp.cleaned) > 4 * 200_000 and len(keys) == 50
    assert peak < 120 * 2**20, f"peak {peak / 2**20:.0f} MB"
