"""What clustering compares: two shingle views of a text, MinHash band keys, exact Jaccard.

Two views of every text, both word 5-gram shingles hashed to 32 bits:

* ``cleaned``: the text after ``marsad.text.boilerplate`` (repeated paragraphs and
  outlet chrome removed), folded by ``marsad.text.normalize``. Two outlets' copies of
  one wire story differ in chrome; here they do not.
* ``published``: the text as it came, lightly normalised the way the labels of
  syndicated pairs are defined (tashkeel and tatweel removed, أ/إ/آ → ا, ى → ي,
  ة → ه, tokens are runs of word characters). Stripping can remove lines two pages
  share (an outlet's recurring credit), and the heavier folding can join tokens the
  label keeps apart; this view is what "the same text" means to a reader of the
  published pages.

Candidates come from MinHash LSH over the cleaned view; every candidate pair is then
compared exactly in both views (``PairSimilarity``). MinHash is computed over the
shingles in chunks, so memory stays linear in the text with a small constant,
whatever its length (not ``num_perm`` × shingles).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

import numpy as np

TIER_STORED, TIER_NEW = 0, 1
UNKNOWN_TIME = 2**62  # sorts after every real timestamp
Rank = tuple[int, int, int, str]  # (tier, published_us, -tokens, doc_id)
MINHASH_CHUNK = 4096  # shingles per step: the step's matrix is num_perm × this × 8 bytes


def rank_key(tier: int, published_us: int | None, n_tokens: int, doc_id: str) -> Rank:
    """Canonical order: stored rows first, then earliest published, most words, smallest id."""
    return (tier, published_us if published_us is not None else UNKNOWN_TIME, -n_tokens, doc_id)


# --- the published view's tokens ------------------------------------------------------

_TASHKEEL_TATWEEL = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
# Single letters to single letters, no output among the inputs: one str.replace each is
# the same as str.translate and some forty times faster (translate looks every
# character of the text up in a dict: 4.4 ms for a 22,000-letter Arabic text).
_ALEF_FORMS = (("أ", "ا"), ("إ", "ا"), ("آ", "ا"), ("ى", "ي"), ("ة", "ه"))
_WORD = re.compile(r"\w+")


def published_tokens(text: str) -> list[str]:
    """Tokens of the published view (see module doc)."""
    if not text:
        return []
    text = _TASHKEEL_TATWEEL.sub("", text)
    for old, new in _ALEF_FORMS:
        text = text.replace(old, new)
    return _WORD.findall(text)


# --- shingles -------------------------------------------------------------------------

_MIX = np.uint64(0x9E3779B97F4A7C15)


def _u64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


_TOKEN_CACHE: dict[str, int] = {}  # words repeat across documents (Zipf): hash each once
_TOKEN_CACHE_SIZE = 1 << 20


def _token_hashes(tokens: list[str]) -> np.ndarray:
    cache = _TOKEN_CACHE
    if len(cache) > _TOKEN_CACHE_SIZE:
        cache.clear()
    hashes = list(map(cache.get, tokens))  # a C loop; misses are rare once warm
    if None in hashes:  # also a C loop: only the new words are visited in Python
        for token in set(tokens).difference(cache):
            cache[token] = _u64(token.encode("utf-8"))
        hashes = list(map(cache.__getitem__, tokens))
    return np.array(hashes, dtype=np.uint64)


_POSITION_WEIGHTS = np.array([_u64(b"pos%d" % i) | 1 for i in range(64)], dtype=np.uint64)


def shingle_ids(tokens: list[str], size: int) -> np.ndarray:
    """Sorted unique 32-bit ids of the word ``size``-grams of ``tokens`` (a shorter text: one)."""
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


def jaccard(a: bytes, b: bytes) -> float:
    """Exact Jaccard index of two shingle sets (sorted unique uint32 bytes)."""
    left, right = np.frombuffer(a, dtype=np.uint32), np.frombuffer(b, dtype=np.uint32)
    if not left.size or not right.size:
        return 0.0
    common = np.intersect1d(left, right, assume_unique=True).size
    return common / (left.size + right.size - common)


# --- MinHash and LSH ------------------------------------------------------------------


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """Probability that two texts of this Jaccard similarity share at least one band."""
    return 1.0 - (1.0 - similarity**rows) ** bands


@functools.cache
def choose_banding(similarity: float, num_perm: int, recall: float = 0.99) -> tuple[int, int]:
    """(bands, rows): the longest bands, then the fewest of them, that still make a pair
    at ``similarity`` a candidate with probability >= ``recall``."""
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if candidate_probability(similarity, bands, rows) >= recall:
            while bands > 1 and candidate_probability(similarity, bands - 1, rows) >= recall:
                bands -= 1
            best = (bands, rows)
    return best


def _permutations(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    a = [_u64(b"a%d:%d" % (seed, i)) | 1 for i in range(count)]
    b = [_u64(b"b%d:%d" % (seed, i)) for i in range(count)]
    return np.array(a, dtype=np.uint64)[:, None], np.array(b, dtype=np.uint64)[:, None]


_PERMUTATIONS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def minhash(shingles: np.ndarray, count: int, seed: int, chunk: int = MINHASH_CHUNK) -> np.ndarray:
    """MinHash signature (uint32, ``count`` values) of a non-empty shingle set.

    Hash i of shingle x is ``(a_i * x + b_i) mod 2^64 >> 32`` (multiply-add-shift);
    the shingles are taken ``chunk`` at a time, so a 5 MB text costs a few MB here.
    """
    key = (count, seed)
    if key not in _PERMUTATIONS:
        _PERMUTATIONS[key] = _permutations(count, seed)
    a, b = _PERMUTATIONS[key]
    result = np.full(count, np.iinfo(np.uint64).max, dtype=np.uint64)
    for start in range(0, shingles.size, chunk):
        part = shingles[start : start + chunk].astype(np.uint64)[None, :]
        np.minimum(result, ((a * part + b) >> np.uint64(32)).min(axis=1), out=result)
    return result.astype(np.uint32)


def band_keys(signature: np.ndarray, bands: int, rows: int) -> list[bytes]:
    """One key per band: band number and the band's MinHash values."""
    return [
        b"b" + band.to_bytes(2, "big") + signature[band * rows : (band + 1) * rows].tobytes()
        for band in range(bands)
    ]


def exact_key(content_hash: str) -> bytes:
    """The bucket of identical normalised texts."""
    return b"x" + content_hash.encode()


def is_exact_key(key: bytes) -> bool:
    return key[:1] == b"x"


SHARD_BITS = 8  # bucket keys are grouped by (band, first value byte): 256 shards per band


def shard_of(key: bytes) -> int:
    """A small integer grouping bucket keys, so a shuffle carries one compact record per
    key rather than one group per key (most buckets hold a single document)."""
    if is_exact_key(key):
        return (0xFFFF << SHARD_BITS) | int(key[1:3] or b"0", 16)
    return (int.from_bytes(key[1:3], "big") << SHARD_BITS) | key[3]


def pack_rank(rank: Rank) -> bytes:
    """``rank`` as bytes that sort like it: tier, publication time, tokens (most first), id."""
    tier, published, negative_tokens, doc_id = rank
    return (
        bytes([tier])
        + max(0, published).to_bytes(8, "big")
        + (0xFFFFFFFF - min(-negative_tokens, 0xFFFFFFFF)).to_bytes(4, "big")
        + doc_id.encode("utf-8")
    )


def unpack_rank(packed: bytes) -> Rank:
    tokens = 0xFFFFFFFF - int.from_bytes(packed[9:13], "big")
    return (packed[0], int.from_bytes(packed[1:9], "big"), -tokens, packed[13:].decode("utf-8"))


def pack_bucket_entry(key: bytes, packed_rank: bytes) -> bytes:
    """One bucket membership: the key (length-prefixed) and the member's packed rank."""
    return bytes([len(key)]) + key + packed_rank


def split_bucket_entry(entry: bytes) -> tuple[bytes, bytes]:
    """(key, packed rank) of a bucket entry."""
    length = entry[0]
    return entry[1 : 1 + length], entry[1 + length :]


# --- a pair ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PairSimilarity:
    """Exact Jaccard of a pair in both views (identical texts: 1.0 in both)."""

    cleaned: float
    published: float

    @property
    def strongest(self) -> float:
        return max(self.cleaned, self.published)

    @property
    def weakest(self) -> float:
        return min(self.cleaned, self.published)


IDENTICAL = PairSimilarity(1.0, 1.0)
