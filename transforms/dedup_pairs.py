"""Candidate pairs and their verification, the middle steps of ``ClusterNearDuplicates``
(``transforms/dedup_near.py``): bucket entries of a shard → candidate pairs; a join on
the earlier document (plain bytes); the exact comparison of each candidate pair."""

from __future__ import annotations

from collections import defaultdict

import apache_beam as beam
from apache_beam.metrics import Metrics

from marsad.dedup.fingerprint import split_bucket_entry, unpack_rank
from marsad.dedup.neardup import (
    NearDupConfig,
    bucket_pairs,
    is_exact_key,
    unpack_fingerprint,
    verified_edge,
)
from transforms.common import METRICS_NAMESPACE, counter
from transforms.dedup_records import STAGE

# Bucket entries a step gathers before it sends them on (about 25 bytes an entry, 50
# entries an article: some 6,000 articles' worth).
MAX_GATHERED_BYTES = 8 << 20


class ShardBlobs:
    """Bucket entries gathered per (window, shard) as concatenated framed entries.

    A bundle's articles emit one record per shard they touch instead of one per bucket
    key: the runner encodes, decodes and combines each record it carries (tens of
    microseconds apiece in the pipeline process), and an article has one bucket key per
    LSH band, while the shards are bounded (``marsad.dedup.fingerprint.shard_of``).

    What a bundle holds is bounded too: once ``max_bytes`` are gathered, ``full`` is
    true and the step drains early (a runner may hand one worker a bundle of any size);
    more records for the same shards, the same pairs.
    """

    def __init__(self, max_bytes: int | None = None) -> None:
        self._blobs: dict[object, dict[int, bytearray]] = {}
        self.max_bytes = MAX_GATHERED_BYTES if max_bytes is None else max_bytes
        self.size = 0

    def add(self, entries: list[tuple[int, bytes]], window: object = None) -> None:
        blobs = self._blobs.setdefault(window, {})
        for shard, entry in entries:
            blob = blobs.get(shard)
            if blob is None:
                blob = blobs[shard] = bytearray()
            blob += len(entry).to_bytes(2, "big")
            blob += entry
            self.size += 2 + len(entry)

    @property
    def full(self) -> bool:
        return self.size >= self.max_bytes

    def drain(self):
        """``(window, (shard, blob))`` for every shard gathered; then empty."""
        blobs, self._blobs, self.size = self._blobs, {}, 0
        for window, shards in blobs.items():
            for shard, blob in shards.items():
                yield window, (shard, bytes(blob))


class ConcatEntries(beam.CombineFn):
    """The blobs of framed bucket entries of a shard (``ShardBlobs``) as one blob:
    combined before the shuffle, many small records become a few thousand compact ones."""

    def create_accumulator(self):
        return bytearray()

    def add_input(self, blob, framed):
        blob += framed
        return blob

    def merge_accumulators(self, blobs):
        merged = bytearray()
        for blob in blobs:
            merged += blob
        return merged

    def extract_output(self, blob):
        return bytes(blob)


def _entries(blob: bytes):
    position = 0
    while position < len(blob):
        length = int.from_bytes(blob[position : position + 2], "big")
        yield blob[position + 2 : position + 2 + length]
        position += 2 + length


class PairsOfShard(beam.DoFn):
    """A shard of bucket entries → the candidate pairs of each of its buckets."""

    def __init__(self, cap: int) -> None:
        self.cap = cap

    def setup(self) -> None:
        self.sizes = Metrics.distribution(METRICS_NAMESPACE, f"{STAGE}.bucket_size")

    def process(self, element):
        _shard, blob = element
        buckets: dict[bytes, list] = defaultdict(list)
        for entry in _entries(blob):
            key, rank = split_bucket_entry(entry)
            buckets[key].append(rank)
        for key, packed in buckets.items():
            if len(packed) < 2:  # nearly every bucket: nothing collides
                continue
            self.sizes.update(len(packed))
            ranks = [unpack_rank(rank) for rank in packed]
            exact = is_exact_key(key)
            for pair in bucket_pairs(ranks, self.cap):
                yield pair, exact


def _first_ranked(packed: list[bytes]) -> bytes:
    """The one fingerprint of an id; should an id come twice, the stored row wins."""
    if len(packed) == 1:
        return packed[0]
    return min(packed, key=lambda p: unpack_fingerprint(p).rank)


# The join on the earlier document is a plain GroupByKey of (id, bytes): a record is a
# fingerprint (``_OWN``) or a later id asking (``_ASKS``), told apart by its first
# byte; it emits candidates (``_CANDIDATE``). Bytes stay bytes in a shuffle; tagged
# CoGroupByKey values and dataclasses would cost several times their size in memory.
_OWN, _ASKS, _CANDIDATE = b"F", b"L", b"C"
_EXACT, _NEAR = b"\x01", b"\x00"


def own_if_paired(item, paired):
    """A fingerprint as its record in the join on the earlier document, if it is in
    some candidate pair."""
    doc_id, packed = item
    if doc_id in paired:
        yield doc_id, _OWN + packed


def ask_record(element):
    (earlier, later), exact = element
    return earlier, _ASKS + (_EXACT if exact else _NEAR) + later.encode("utf-8")


def candidate_records(element):
    """Grouped on the earlier document: (later id, exact flag + earlier's fingerprint)."""
    _doc_id, records = element
    own, asking = [], []
    for record in records:
        (own if record[:1] == _OWN else asking).append(record)
    if not own:
        return
    earlier = _first_ranked([record[1:] for record in own])
    for record in asking:
        yield record[2:].decode("utf-8"), _CANDIDATE + record[1:2] + earlier


class Verify(beam.DoFn):
    """(later id, candidate) → the verified pair, when compatible. The later (new)
    documents' fingerprints come as a side input: a shuffle grouping every candidate
    with its later document would hold all of them at once, twice, on a local runner."""

    def __init__(self, config: NearDupConfig) -> None:
        self.rule = config.rule()

    def process(self, element, later_fps):
        later_id, record = element
        packed = later_fps.get(later_id)
        if packed is None:
            return
        counter(STAGE, "candidate_pairs")
        later = unpack_fingerprint(packed)
        earlier = unpack_fingerprint(record[2:])
        edge = verified_edge(earlier, later, record[1:2] == _EXACT, self.rule)
        if edge is not None:
            counter(STAGE, "linked_pairs" if self.rule.linked(edge.similarity) else "grey_pairs")
            yield edge


def ids_of_pair(element):
    (earlier, later), _exact = element
    yield earlier, True
    yield later, True
