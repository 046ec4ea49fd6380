"""Near-duplicate clustering, as explicit stages that know nothing of Beam.

    tokens ─► shingles ─► MinHash signature ─► LSH band keys ─► buckets
           ─► candidate pairs ─► verified pairs (exact Jaccard) ─► coherent clusters

* Shingles: every run of ``shingle_size`` consecutive normalised words, hashed to
  32 bits (a text shorter than that is one shingle).
* MinHash: ``num_perm`` multiply-add-shift hashes ``(a*x + b) mod 2^64 >> 32``
  (Dietzfelbinger), the minimum of each over the shingles.
* LSH: the signature is cut into ``bands`` bands of ``rows`` rows; two texts
  sharing any band, or the same content hash, are a candidate pair. By default
  ``rows`` is the largest for which a pair at the threshold is a candidate with
  probability >= 0.99 (128 hashes, threshold 0.5: 42 bands of 3 rows).
* Verification: a candidate pair is similar when the exact Jaccard index of the
  two shingle sets is >= ``threshold`` (1.0 for equal content hashes).
* Clusters: documents are taken in canonical order (``rank``: rows stored by an
  earlier run first, then earliest published, then most words, then smallest id).
  A document becomes a member of the most similar earlier *canonical* document it
  is similar to (ties: the earlier), else it is canonical itself. Every member is
  thus verified-similar to its canonical, never merely chained through others
  (greedy star clustering; the canonicals are the lexicographically first maximal
  independent set of the similarity graph). ``resolve`` computes the same result
  in parallel rounds, which is how the Beam transform runs it.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from marsad.text import normalize as textnorm
from marsad.text.boilerplate import Cleaned, clean_article, edge_lines

TIER_STORED, TIER_NEW = 0, 1
UNKNOWN_TIME = 2**62  # sorts after every real timestamp
Rank = tuple[int, int, int, str]  # (tier, published_us, -tokens, doc_id)


@dataclass(frozen=True)
class NearDupConfig:
    """How near duplicates are found. Defaults are the ones ``docs/dedup.md`` measures."""

    threshold: float = 0.5  # Jaccard of word-shingle sets; 0.5 = "same story re-published"
    shingle_size: int = 5  # words per shingle
    num_perm: int = 128  # MinHash hashes per document
    bands: int = 0  # LSH bands; 0 = derived from threshold and num_perm (see module doc)
    rows: int = 0  # rows per band; 0 = derived
    min_tokens: int = 10  # shorter texts only match exactly (content hash)
    max_bucket_pairs: int = 100  # in one bucket, a document is paired with the N first-ranked
    max_rounds: int = 6  # parallel rounds before undecided neighbours count as non-canonical
    seed: int = 20240128  # of the MinHash hash functions; changing it changes signatures
    lookback_days: int = 30  # partitions of earlier runs that take part in clustering
    drop_duplicates: bool = False  # drop rows flagged is_duplicate from the output
    strip_boilerplate: bool = True  # clean texts (marsad.text.boilerplate) before matching
    rewrite_text: bool = True  # store the cleaned text (else only match on it)
    min_outlet_pages: int = 5  # pages of one outlet an edge line needs to be boilerplate

    def banding(self) -> tuple[int, int]:
        """(bands, rows) used for LSH."""
        if self.bands and self.rows:
            if self.bands * self.rows > self.num_perm:
                raise ValueError("bands * rows must not exceed num_perm")
            return self.bands, self.rows
        return choose_banding(self.threshold, self.num_perm)


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """Probability that two texts of this Jaccard similarity share at least one band."""
    return 1.0 - (1.0 - similarity**rows) ** bands


def choose_banding(threshold: float, num_perm: int, recall: float = 0.99) -> tuple[int, int]:
    """Most selective (bands, rows) that still makes a pair at ``threshold`` a candidate."""
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if candidate_probability(threshold, bands, rows) >= recall:
            best = (bands, rows)
    return best


def rank_key(tier: int, published_us: int | None, n_tokens: int, doc_id: str) -> Rank:
    return (tier, published_us if published_us is not None else UNKNOWN_TIME, -n_tokens, doc_id)


# --- shingles and signatures -------------------------------------------------------

_MASK32 = np.uint64(0xFFFFFFFF)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _u64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


_TOKEN_CACHE: dict[str, int] = {}  # words repeat across documents (Zipf): hash each once
_TOKEN_CACHE_SIZE = 1 << 20


def _token_hashes(tokens: list[str]) -> np.ndarray:
    cache = _TOKEN_CACHE
    if len(cache) > _TOKEN_CACHE_SIZE:
        cache.clear()
    hashes = []
    for token in tokens:
        value = cache.get(token)
        if value is None:
            value = cache[token] = _u64(token.encode("utf-8"))
        hashes.append(value)
    return np.array(hashes, dtype=np.uint64)


_POSITION_WEIGHTS = np.array([_u64(b"pos%d" % i) | 1 for i in range(64)], dtype=np.uint64)


def shingle_ids(tokens: list[str], size: int) -> np.ndarray:
    """Sorted unique 32-bit ids of the word ``size``-grams of ``tokens``."""
    if not tokens:
        return np.empty(0, dtype=np.uint32)
    hashes = _token_hashes(tokens)
    width = min(size, len(tokens))
    count = len(tokens) - width + 1
    combined = np.zeros(count, dtype=np.uint64)
    for offset in range(width):  # uint64 arithmetic wraps: a polynomial hash mod 2^64
        combined += hashes[offset : offset + count] * _POSITION_WEIGHTS[offset]
    combined ^= combined >> np.uint64(31)
    combined *= _MIX
    return np.unique((combined >> np.uint64(32)).astype(np.uint32))


def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    a = [_u64(b"a%d:%d" % (seed, i)) | 1 for i in range(num_perm)]
    b = [_u64(b"b%d:%d" % (seed, i)) for i in range(num_perm)]
    return np.array(a, dtype=np.uint64)[:, None], np.array(b, dtype=np.uint64)[:, None]


_PERMUTATIONS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def minhash(shingles: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """MinHash signature (uint32, length ``num_perm``) of a non-empty shingle set."""
    key = (num_perm, seed)
    if key not in _PERMUTATIONS:
        _PERMUTATIONS[key] = _permutations(num_perm, seed)
    a, b = _PERMUTATIONS[key]
    values = (a * shingles.astype(np.uint64)[None, :] + b) >> np.uint64(32)
    return values.min(axis=1).astype(np.uint32)


@dataclass(frozen=True)
class Status:
    """A clustering decision. Canonical rows have ``cluster_id == doc_id``."""

    doc_id: str
    is_canonical: bool
    cluster_id: str
    duplicate_of: str = ""
    similarity: float | None = None


@dataclass(frozen=True)
class Fingerprint:
    """What clustering needs of one document; ``fixed`` is set for rows of earlier runs."""

    doc_id: str
    rank: Rank
    shingles: bytes  # sorted unique uint32
    signature: bytes  # uint32 MinHash values, empty for short or hash-only documents
    content_hash: str
    fixed: Status | None = None

    @property
    def is_new(self) -> bool:
        return self.rank[0] == TIER_NEW


def fingerprint(
    doc_id: str,
    tokens: list[str],
    config: NearDupConfig,
    *,
    published_us: int | None,
    fixed: Status | None = None,
    content_hash: str = "",
) -> Fingerprint:
    """Fingerprint of a document from its normalised ``tokens``.

    The content hash is ``textnorm.content_hash`` of the text the tokens came from;
    ``content_hash`` is used only for a stored row known by its hash alone (no tokens).
    """
    tier = TIER_NEW if fixed is None else TIER_STORED
    if tokens:
        content_hash = hashlib.sha256(" ".join(tokens).encode("utf-8")).hexdigest()[:32]
    shingles = shingle_ids(tokens, config.shingle_size)
    signature = b""
    if len(tokens) >= config.min_tokens and shingles.size:
        signature = minhash(shingles, config.num_perm, config.seed).tobytes()
    return Fingerprint(
        doc_id,
        rank_key(tier, published_us, len(tokens), doc_id),
        shingles.tobytes(),
        signature,
        content_hash,
        fixed,
    )


def bucket_keys(fp: Fingerprint, bands: int, rows: int) -> list[bytes]:
    """LSH band keys plus the exact-content key (prefix ``x``) of a fingerprint."""
    keys = [b"x" + fp.content_hash.encode()] if fp.content_hash else []
    if fp.signature:
        signature = np.frombuffer(fp.signature, dtype=np.uint32)
        for band in range(bands):
            chunk = signature[band * rows : (band + 1) * rows]
            keys.append(b"b" + band.to_bytes(2, "big") + chunk.tobytes())
    return keys


def is_exact_key(key: bytes) -> bool:
    return key[:1] == b"x"


def bucket_pairs(members: Iterable[Rank], cap: int) -> Iterator[tuple[str, str]]:
    """(earlier_id, later_id) pairs of one bucket; a later document must be new.

    Each member is paired with at most the ``cap`` first-ranked members before it:
    a member can only join a canonical ranked before it, and in a large bucket of
    copies the canonical is among the first.
    """
    ordered = sorted(set(members))
    for index, later in enumerate(ordered):
        if later[0] != TIER_NEW:
            continue
        for earlier in ordered[: min(index, cap)]:
            if earlier[3] != later[3]:
                yield earlier[3], later[3]


def jaccard(a: bytes, b: bytes) -> float:
    """Exact Jaccard index of two shingle sets (sorted unique uint32 bytes)."""
    left, right = np.frombuffer(a, dtype=np.uint32), np.frombuffer(b, dtype=np.uint32)
    if not left.size or not right.size:
        return 0.0
    common = np.intersect1d(left, right, assume_unique=True).size
    return common / (left.size + right.size - common)


# --- coherent clusters --------------------------------------------------------------


@dataclass(frozen=True)
class Neighbour:
    """An earlier document verified similar to a later one."""

    doc_id: str
    rank: Rank
    similarity: float
    fixed: Status | None = None


@dataclass
class Node:
    """A new document with verified earlier neighbours, waiting for their decisions."""

    doc_id: str
    neighbours: list[Neighbour]  # most preferred first: most similar, then earliest
    known: dict[str, Status] = field(default_factory=dict)

    def unknown(self) -> list[str]:
        return [n.doc_id for n in self.neighbours if n.doc_id not in self.known]


def verified_neighbours(
    later: Fingerprint, candidates: Iterable[tuple[Fingerprint, bool]], threshold: float
) -> list[Neighbour]:
    """Candidates (earlier fingerprint, exact?) that pass verification, most preferred first."""
    found = []
    for earlier, exact in candidates:
        similarity = 1.0 if exact else jaccard(earlier.shingles, later.shingles)
        if similarity >= threshold:
            found.append(Neighbour(earlier.doc_id, earlier.rank, similarity, earlier.fixed))
    return sorted(found, key=lambda n: (-n.similarity, n.rank))


def canonical(doc_id: str) -> Status:
    return Status(doc_id, True, doc_id)


def decide(node: Node, final: bool = False) -> Status | None:
    """The node's decision from its neighbours' known decisions, or None to wait.

    Walks neighbours from most to least preferred: the first canonical one is the
    node's canonical; an undecided one that comes first could still become it, so
    the node waits (``final``: it counts as non-canonical instead).
    """
    for neighbour in node.neighbours:
        status = neighbour.fixed or node.known.get(neighbour.doc_id)
        if status is None:
            if final:
                continue
            return None
        if status.is_canonical:
            return Status(
                node.doc_id, False, status.cluster_id, neighbour.doc_id, neighbour.similarity
            )
    return canonical(node.doc_id)


def resolve(nodes: Iterable[Node], decided: Mapping[str, Status], max_rounds: int) -> dict:
    """Decide every node in rounds, as the Beam transform does; return all decisions.

    ``decided`` holds documents already decided (no earlier neighbour). In round r
    each waiting node learns the decisions made in round r-1.
    """
    result = dict(decided)
    fresh = dict(decided)
    pending = list(nodes)
    for round_number in range(1, max_rounds + 1):
        final = round_number == max_rounds
        made: dict[str, Status] = {}
        waiting = []
        for node in pending:
            node.known.update({i: fresh[i] for i in node.unknown() if i in fresh})
            status = decide(node, final)
            if status is None:
                waiting.append(node)
            else:
                made[node.doc_id] = status
        result.update(made)
        fresh, pending = made, waiting
    return result


def cluster(fingerprints: Iterable[Fingerprint], config: NearDupConfig) -> dict[str, Status]:
    """In-memory reference of the Beam transform: a decision per new fingerprint."""
    bands, rows = config.banding()
    by_id = {fp.doc_id: fp for fp in fingerprints}
    buckets: dict[bytes, list[Rank]] = defaultdict(list)
    for fp in by_id.values():
        for key in bucket_keys(fp, bands, rows):
            buckets[key].append(fp.rank)
    pairs: dict[tuple[str, str], bool] = {}
    for key, members in buckets.items():
        for pair in bucket_pairs(members, config.max_bucket_pairs):
            pairs[pair] = pairs.get(pair, False) or is_exact_key(key)
    candidates: dict[str, list[tuple[Fingerprint, bool]]] = defaultdict(list)
    for (earlier, later), exact in pairs.items():
        candidates[later].append((by_id[earlier], exact))
    decided: dict[str, Status] = {}
    nodes = []
    for fp in by_id.values():
        if not fp.is_new:
            continue
        neighbours = verified_neighbours(fp, candidates.get(fp.doc_id, ()), config.threshold)
        node = Node(fp.doc_id, neighbours)
        status = decide(node)
        if status is None:
            nodes.append(node)
        else:
            decided[fp.doc_id] = status
    return resolve(nodes, decided, config.max_rounds)


# --- the whole stage in memory (reference for the Beam transform, evaluation) -------


@dataclass(frozen=True)
class Doc:
    """A document to cluster; ``fixed`` marks a row decided by an earlier run."""

    doc_id: str
    text: str
    source: str = ""
    published_us: int | None = None
    fixed: Status | None = None
    content_hash: str = ""  # only for an earlier run's row known by its hash alone


def outlet_line_sets(docs: Iterable[Doc], min_pages: int) -> dict[str, frozenset[str]]:
    """Edge lines seen on at least ``min_pages`` pages of one outlet (new documents only)."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for doc in docs:
        if doc.fixed is None:
            for line in edge_lines(doc.text):
                counts[(doc.source, line)] += 1
    found: dict[str, set[str]] = defaultdict(set)
    for (source, line), count in counts.items():
        if count >= min_pages:
            found[source].add(line)
    return {source: frozenset(lines) for source, lines in found.items()}


def clean_for_matching(text: str, outlet_lines: Iterable[str], config: NearDupConfig) -> Cleaned:
    """The text as clustering sees it: cleaned (``marsad.text.boilerplate``) unless turned off."""
    if not config.strip_boilerplate:
        return Cleaned(text, textnorm.tokens(text))
    return clean_article(text, outlet_lines)


def doc_tokens(doc: Doc, outlet_lines: Mapping[str, frozenset[str]], config: NearDupConfig):
    """Normalised tokens of the cleaned text (stored rows: no outlet lines)."""
    lines = outlet_lines.get(doc.source, frozenset()) if doc.fixed is None else frozenset()
    return clean_for_matching(doc.text, lines, config).tokens


def doc_fingerprints(docs: list[Doc], config: NearDupConfig) -> list[Fingerprint]:
    lines = outlet_line_sets(docs, config.min_outlet_pages)
    return [
        fingerprint(
            doc.doc_id,
            doc_tokens(doc, lines, config) if doc.text else [],
            config,
            published_us=doc.published_us,
            fixed=doc.fixed,
            content_hash=doc.content_hash,
        )
        for doc in docs
    ]


def cluster_docs(docs: list[Doc], config: NearDupConfig) -> dict[str, Status]:
    """Decisions for the new documents among ``docs``, as ClusterNearDuplicates makes them."""
    return cluster(doc_fingerprints(docs, config), config)
