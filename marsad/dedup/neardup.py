"""Near-duplicate clustering, as explicit stages that know nothing of Beam.

    text ─► cleaned + published views ─► shingles ─► MinHash ─► LSH band keys ─► buckets
         ─► candidate pairs ─► exact comparison in both views ─► edges
         ─► components of linked pairs ─► constrained agglomeration ─► decisions

* Views and shingles: ``marsad.dedup.fingerprint`` (why two views, bounded MinHash).
* LSH: the cleaned view's signature is cut into ``bands`` bands of ``rows`` rows;
  two texts sharing any band, or the same content hash, are a candidate pair. The
  banding is chosen for ``min_pair`` (0.3), not the threshold: a pair must be
  *compared* to be allowed in one cluster, so pairs at 0.3 must be candidates with
  probability >= 0.99 (128 hashes: 49 bands of 2 rows; a pair at 0.5 is then missed
  with probability 1e-7).
* Clusters: ``marsad.dedup.clusters`` (links, compatibility, agglomeration, canonical).

``cluster`` is the in-memory reference of the Beam transform (``ClusterNearDuplicates``)
and of the streaming one once the stream has settled; both call the same functions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from marsad.dedup.clusters import Edge, Member, Rule, Status, decide
from marsad.dedup.fingerprint import (
    IDENTICAL,
    TIER_NEW,
    TIER_STORED,
    PairSimilarity,
    Rank,
    band_keys,
    choose_banding,
    exact_key,
    is_exact_key,
    jaccard,
    minhash,
    published_tokens,
    rank_key,
    shingle_ids,
)
from marsad.text import normalize as textnorm
from marsad.text.boilerplate import Cleaned, article_key, clean_article, edge_lines

__all__ = [
    "Doc",
    "Edge",
    "Fingerprint",
    "Member",
    "NearDupConfig",
    "Status",
    "choose_banding",
    "cluster",
    "cluster_docs",
    "jaccard",
    "shingle_ids",
]


@dataclasses.dataclass(frozen=True)
class NearDupConfig:
    """How near duplicates are found. Defaults are the ones ``docs/dedup.md`` measures."""

    threshold: float = 0.5  # a link: word 5-gram Jaccard at least this = the same story
    min_pair: float = 0.3  # every pair in a cluster at least this (below: different stories)
    shingle_size: int = 5  # words per shingle
    num_perm: int = 128  # MinHash hashes available for banding
    bands: int = 0  # LSH bands; 0 = derived from min_pair and num_perm (see module doc)
    rows: int = 0  # rows per band; 0 = derived
    min_tokens: int = 10  # shorter texts only match exactly (content hash)
    max_bucket_pairs: int = 100  # in one bucket, a document is paired with the N first-ranked
    seed: int = 20240128  # of the MinHash hash functions; changing it changes signatures
    lookback_days: int = 30  # partitions of earlier runs that take part in clustering
    drop_duplicates: bool = False  # drop rows flagged is_duplicate from the output
    strip_boilerplate: bool = True  # clean texts (marsad.text.boilerplate) before matching
    rewrite_text: bool = True  # store the cleaned text (else only match on it)
    min_outlet_pages: int = 5  # articles of one outlet an edge line needs to be boilerplate

    @property
    def pair_floor(self) -> float:
        """``min_pair``, never above the threshold (a link must be allowed in a cluster)."""
        return min(self.min_pair, self.threshold)

    def rule(self) -> Rule:
        return Rule(self.threshold, self.pair_floor)

    def banding(self) -> tuple[int, int]:
        """(bands, rows) used for LSH."""
        if self.bands and self.rows:
            if self.bands * self.rows > self.num_perm:
                raise ValueError("bands * rows must not exceed num_perm")
            return self.bands, self.rows
        return choose_banding(self.pair_floor, self.num_perm)


# --- fingerprints -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Fingerprint:
    """What clustering needs of one document; ``fixed`` is set for rows decided earlier."""

    doc_id: str
    rank: Rank
    cleaned: bytes  # sorted unique uint32 shingle ids of the cleaned view
    published: bytes  # the same for the published view
    content_hash: str  # of the cleaned, normalised text
    compared: bool  # long enough to be compared (else it matches only exactly)
    fixed: Status | None = None

    @property
    def is_new(self) -> bool:
        return self.rank[0] == TIER_NEW

    def member(self) -> Member:
        return Member(self.doc_id, self.rank, self.fixed, self.compared)


def fingerprint(
    doc_id: str,
    cleaned_tokens: list[str],
    published_text: str,
    config: NearDupConfig,
    *,
    published_us: int | None,
    fixed: Status | None = None,
    content_hash: str = "",
) -> Fingerprint:
    """Fingerprint of a document from its cleaned, normalised tokens and its text as given.

    ``content_hash`` is used only for a stored row known by its hash alone (no text).
    """
    tier = TIER_NEW if fixed is None else TIER_STORED
    if cleaned_tokens:
        content_hash = hashlib.sha256(" ".join(cleaned_tokens).encode("utf-8")).hexdigest()[:32]
    compared = len(cleaned_tokens) >= config.min_tokens
    cleaned = shingle_ids(cleaned_tokens, config.shingle_size) if compared else _EMPTY
    published = (
        shingle_ids(published_tokens(published_text), config.shingle_size) if compared else _EMPTY
    )
    return Fingerprint(
        doc_id,
        rank_key(tier, published_us, len(cleaned_tokens), doc_id),
        cleaned.tobytes(),
        published.tobytes(),
        content_hash,
        compared and cleaned.size > 0,
        fixed,
    )


_EMPTY = np.empty(0, dtype=np.uint32)


def pack_fingerprint(fp: Fingerprint) -> bytes:
    """``fp`` as compact bytes for shuffles: the published view is stored as its
    difference from the cleaned view (they share ~85% of their shingles)."""
    cleaned = np.frombuffer(fp.cleaned, dtype=np.uint32)
    published = np.frombuffer(fp.published, dtype=np.uint32)
    added = np.setdiff1d(published, cleaned, assume_unique=True)
    removed = np.setdiff1d(cleaned, published, assume_unique=True)
    fixed = None if fp.fixed is None else dataclasses.astuple(fp.fixed)
    state = (fp.doc_id, fp.rank, fp.content_hash, fp.compared, fixed)
    return pickle.dumps((state, fp.cleaned, added.tobytes(), removed.tobytes()), protocol=5)


def unpack_fingerprint(packed: bytes) -> Fingerprint:
    (doc_id, rank, content_hash, compared, fixed), cleaned, added, removed = pickle.loads(packed)
    kept = np.setdiff1d(
        np.frombuffer(cleaned, dtype=np.uint32),
        np.frombuffer(removed, dtype=np.uint32),
        assume_unique=True,
    )
    published = np.union1d(kept, np.frombuffer(added, dtype=np.uint32)).astype(np.uint32)
    status = None if fixed is None else Status(*fixed)
    return Fingerprint(
        doc_id, tuple(rank), cleaned, published.tobytes(), content_hash, compared, status
    )


def bucket_keys(fp: Fingerprint, config: NearDupConfig) -> list[bytes]:
    """LSH band keys of the cleaned view, plus the exact-content key."""
    keys = [exact_key(fp.content_hash)] if fp.content_hash else []
    if fp.compared:
        bands, rows = config.banding()
        shingles = np.frombuffer(fp.cleaned, dtype=np.uint32)
        keys.extend(band_keys(minhash(shingles, bands * rows, config.seed), bands, rows))
    return keys


def bucket_pairs(members: Iterable[Rank], cap: int) -> Iterator[tuple[str, str]]:
    """(earlier_id, later_id) pairs of one bucket; a later document must be new.

    Each member is paired with at most the ``cap`` first-ranked members before it,
    which bounds the work in a bucket of boilerplate-only pages.
    """
    ordered = sorted(set(members))
    for index, later in enumerate(ordered):
        if later[0] != TIER_NEW:
            continue
        for earlier in ordered[: min(index, cap)]:
            if earlier[3] != later[3]:
                yield earlier[3], later[3]


def compare(earlier: Fingerprint, later: Fingerprint, exact: bool) -> PairSimilarity | None:
    """Exact similarity of a candidate pair in both views; None when it cannot be compared."""
    if earlier.compared and later.compared:
        return PairSimilarity(
            1.0 if exact else jaccard(earlier.cleaned, later.cleaned),
            jaccard(earlier.published, later.published),
        )
    return IDENTICAL if exact else None


def verified_edge(earlier: Fingerprint, later: Fingerprint, exact: bool, rule: Rule) -> Edge | None:
    """The pair as an edge when it is compatible (the only pairs clustering needs)."""
    similarity = compare(earlier, later, exact)
    if similarity is None or not rule.compatible(similarity):
        return None
    return Edge(earlier.doc_id, later.doc_id, similarity)


def candidate_pairs(fps: Iterable[Fingerprint], config: NearDupConfig):
    """{(earlier, later): exact?} over all buckets, and the size of the largest bucket."""
    buckets: dict[bytes, list[Rank]] = defaultdict(list)
    for fp in fps:
        for key in bucket_keys(fp, config):
            buckets[key].append(fp.rank)
    pairs: dict[tuple[str, str], bool] = {}
    largest = 0
    for key, ranks in buckets.items():
        largest = max(largest, len(ranks))
        if len(ranks) < 2:
            continue
        for pair in bucket_pairs(ranks, config.max_bucket_pairs):
            pairs[pair] = pairs.get(pair, False) or is_exact_key(key)
    return pairs, largest


def cluster(fingerprints: Iterable[Fingerprint], config: NearDupConfig) -> dict[str, Status]:
    """In-memory reference of the Beam transform: a decision per new fingerprint."""
    by_id: dict[str, Fingerprint] = {}
    for fp in fingerprints:  # a stored row wins an id clash, as in the Beam join
        if fp.doc_id not in by_id or fp.rank < by_id[fp.doc_id].rank:
            by_id[fp.doc_id] = fp
    rule = config.rule()
    pairs, _largest = candidate_pairs(by_id.values(), config)
    edges = []
    for (earlier, later), exact in pairs.items():
        edge = verified_edge(by_id[earlier], by_id[later], exact, rule)
        if edge is not None:
            edges.append(edge)
    members = [fp.member() for fp in by_id.values()]
    return {k: s for k, s in decide(members, edges, rule).items() if by_id[k].is_new}


# --- the whole stage in memory (reference for the Beam transform, evaluation) -------


@dataclasses.dataclass(frozen=True)
class Doc:
    """A document to cluster; ``fixed`` marks a row decided by an earlier run."""

    doc_id: str
    text: str
    source: str = ""
    published_us: int | None = None
    fixed: Status | None = None
    content_hash: str = ""  # only for an earlier run's row known by its hash alone
    title: str = ""  # pages with one title count as one article for outlet lines
    sitename: str = ""  # ... unless the title is only the outlet's name


def outlet_line_sets(docs: Iterable[Doc], min_pages: int) -> dict[str, frozenset[str]]:
    """Edge lines seen on at least ``min_pages`` articles of one outlet (new documents
    only; pages with one title are one article: ``boilerplate.article_key``)."""
    articles: dict[tuple[str, str], set[bytes]] = defaultdict(set)
    for doc in docs:
        if doc.fixed is None:
            key = article_key(doc.title, doc.doc_id, doc.sitename)
            for line in edge_lines(doc.text):
                keys = articles[(doc.source, line)]
                if len(keys) < min_pages:  # enough to decide: memory stays bounded
                    keys.add(key)
    found: dict[str, set[str]] = defaultdict(set)
    for (source, line), keys in articles.items():
        if len(keys) >= min_pages:
            found[source].add(line)
    return {source: frozenset(lines) for source, lines in found.items()}


def clean_for_matching(text: str, outlet_lines: Iterable[str], config: NearDupConfig) -> Cleaned:
    """The text as clustering sees it: cleaned (``marsad.text.boilerplate``) unless turned off."""
    if not config.strip_boilerplate:
        return Cleaned(text, textnorm.tokens(text))
    return clean_article(text, outlet_lines)


def doc_fingerprint(
    doc: Doc, outlet_lines: Mapping[str, frozenset[str]], config: NearDupConfig
) -> Fingerprint:
    lines = outlet_lines.get(doc.source, frozenset()) if doc.fixed is None else frozenset()
    tokens = clean_for_matching(doc.text, lines, config).tokens if doc.text else []
    return fingerprint(
        doc.doc_id,
        tokens,
        doc.text,
        config,
        published_us=doc.published_us,
        fixed=doc.fixed,
        content_hash=doc.content_hash,
    )


def doc_fingerprints(docs: list[Doc], config: NearDupConfig) -> list[Fingerprint]:
    lines = outlet_line_sets(docs, config.min_outlet_pages)
    return [doc_fingerprint(doc, lines, config) for doc in docs]


def cluster_docs(docs: list[Doc], config: NearDupConfig) -> dict[str, Status]:
    """Decisions for the new documents among ``docs``, as ClusterNearDuplicates makes them."""
    return cluster(doc_fingerprints(docs, config), config)
