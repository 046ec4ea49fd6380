"""StreamClusterDuplicates: near-duplicate clusters in streaming mode, kept in keyed state.

Batch clusters a finished set of articles (``ClusterNearDuplicates``); a stream never
finishes, so here history lives in state for ``ttl`` of event time and every article
is decided once, on arrival, against what arrived before it:

    Fingerprint   clean the text, MinHash it (``marsad.dedup.neardup``), one message per LSH
                  band key (and the exact content-hash key)
    BandIndex     key: band. Holds (id, 128-byte sketch) of the band's members for the
                  TTL; estimates the similarity of a newcomer to each member from the
                  sketches and reports the members at or above the threshold
    Gather        key: article id. Waits for every band's report, merges them
    Ledger        key: one. Decides: the newcomer joins the most similar earlier
                  *canonical* neighbour (so every member is similar to its canonical,
                  never chained), else it is canonical. Only ids and decisions live here:
                  O(neighbours) work per article, the heavy work stays keyed by band
    Apply         key: article id. Joins the decision back onto the article

Why a ledger: an article's decision depends on its neighbours' decisions, and Beam
graphs have no cycles, so the decisions must meet in one place. Bands can report in any
order; a neighbour not yet decided when the newcomer is decided records the newcomer
as pending, and sees it when it arrives itself (similarity is symmetric).

Similarity is estimated from 8-bit MinHash sketches (b-bit MinHash: 128 hashes, standard
error about 0.045 at 0.5), not the exact shingle Jaccard batch computes: state holds
128 bytes per article and band instead of its shingle set. Rows seeded from an earlier
output enter the band index and the ledger with the decisions they were written with.
"""

from __future__ import annotations

import dataclasses
import time

import apache_beam as beam
import numpy as np
from apache_beam import pvalue
from apache_beam.coders import PickleCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    BagStateSpec,
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)
from apache_beam.typehints import Any, Tuple
from apache_beam.utils.timestamp import Duration, Timestamp

from marsad.dedup.neardup import Fingerprint, NearDupConfig, Status, bucket_keys
from schemas.records import Article
from transforms.common import counter
from transforms.dedup_near import (
    STAGE,
    apply_decision,
    clean_and_fingerprint,
    stored_fingerprint,
    stored_status,
)
from transforms.stored_texts import StoredText

LEDGER_KEY = "ledger"
SEEDED = "\x00seeded"  # never an article id
_BANDS = "bands"
_DIRECT = "direct"


def sketch(fp: Fingerprint) -> bytes:
    """Low byte of each MinHash value; empty for texts matched only exactly."""
    if not fp.signature:
        return b""
    return (np.frombuffer(fp.signature, dtype=np.uint32) & 0xFF).astype(np.uint8).tobytes()


def estimated_similarity(a: bytes, b: bytes) -> float:
    """Jaccard estimate from two 8-bit sketches (equal low bytes by chance: 1/256)."""
    if not a or not b or len(a) != len(b):
        return 0.0
    equal = np.count_nonzero(np.frombuffer(a, np.uint8) == np.frombuffer(b, np.uint8))
    chance = 1 / 256
    return max(0.0, (equal / len(a) - chance) / (1 - chance))


@dataclasses.dataclass(frozen=True)
class BandMessage:
    doc_id: str
    sketch: bytes
    exact: bool  # the key is the content hash: members are identical texts
    expected: int  # how many band reports the article will get
    seeded_at_us: int = 0  # a seeded row's event time (its publication, else when read)
    seeded_status: Status | None = None  # the decision a seeded row was written with

    @property
    def seeded(self) -> bool:
        return self.seeded_at_us > 0


def _micros(ts: Timestamp) -> int:
    return int(ts.micros)


class _Fingerprint(beam.DoFn):
    """Article → cleaned Article keyed by id (main), band messages, or a direct decision."""

    def __init__(self, config: NearDupConfig) -> None:
        self.config = config

    def process(self, article: Article):
        config = self.config
        counter(STAGE, "in")
        # Event time orders the stream, so the rank's publication time is not used.
        article, _cleaned, fp = clean_and_fingerprint(article, (), config, published_us=None)
        yield article.article_id, article
        keys = bucket_keys(fp, *config.banding())
        if not keys:  # no text at all: nothing to compare
            yield pvalue.TaggedOutput(_DIRECT, (LEDGER_KEY, (fp.doc_id, [])))
            return
        mine = sketch(fp)
        for key in keys:
            exact = key[:1] == b"x"
            yield pvalue.TaggedOutput(
                _BANDS, (key.hex(), BandMessage(fp.doc_id, mine, exact, len(keys)))
            )


def seed_messages(row: StoredText, config: NearDupConfig):
    """Band messages and the ledger entry of a row an earlier run wrote."""
    fp = stored_fingerprint(row, config, published_us=None)
    mine = sketch(fp)
    seen_us = row.published_at_us or int(time.time() * 1_000_000)
    status = stored_status(row)
    for key in bucket_keys(fp, *config.banding()):
        message = BandMessage(row.article_id, mine, key[:1] == b"x", 0, seen_us, status)
        yield pvalue.TaggedOutput(_BANDS, (key.hex(), message))
    yield pvalue.TaggedOutput(_DIRECT, (LEDGER_KEY, (SEEDED, (status, seen_us))))


class BandIndexFn(beam.DoFn):
    """(band key, BandMessage) → (article id, (neighbours, expected)) for new articles."""

    MEMBERS = ReadModifyWriteStateSpec("members", PickleCoder())
    EXPIRE = TimerSpec("expire", TimeDomain.WATERMARK)

    def __init__(self, threshold: float, ttl_seconds: float, cap: int) -> None:
        self.threshold = threshold
        self.ttl = Duration(seconds=ttl_seconds)
        self.cap = cap

    def process(
        self,
        element,
        timestamp=beam.DoFn.TimestampParam,
        members_state=beam.DoFn.StateParam(MEMBERS),
        expire=beam.DoFn.TimerParam(EXPIRE),
    ):
        _key, message = element
        horizon = _micros(timestamp) - self.ttl.micros
        # (id, sketch, event time µs, seeded status); newest last. Pruned by event time so state stays
        # bounded by the TTL even when the band is busy and the timer keeps moving.
        members = [m for m in (members_state.read() or []) if m[2] >= horizon]
        if not message.seeded:
            neighbours = []
            for doc_id, other, _seen, seeded in members[-self.cap :]:
                if doc_id == message.doc_id:
                    continue
                similarity = 1.0 if message.exact else estimated_similarity(message.sketch, other)
                if similarity >= self.threshold:
                    neighbours.append((doc_id, round(similarity, 4), seeded))
            yield message.doc_id, (neighbours, message.expected)
        seen = message.seeded_at_us if message.seeded else _micros(timestamp)
        members.append((message.doc_id, message.sketch, seen, message.seeded_status))
        members_state.write(members)
        # Relative to the newest member's own event time: a seeded row read at start-up
        # carries its publication time, not the element's.
        expire.set(Timestamp(micros=max(m[2] for m in members)) + self.ttl)

    @on_timer(EXPIRE)
    def on_expire(self, members_state=beam.DoFn.StateParam(MEMBERS)):
        members_state.clear()


class GatherFn(beam.DoFn):
    """(article id, band report) → (LEDGER_KEY, (id, neighbours)) once every band reported."""

    REPORTS = BagStateSpec("reports", PickleCoder())

    def process(self, element, reports=beam.DoFn.StateParam(REPORTS)):
        doc_id, report = element
        reports.add(report)
        gathered = list(reports.read())
        if len(gathered) < report[1]:
            return
        reports.clear()
        best: dict[str, tuple[float, Status | None]] = {}
        for neighbours, _expected in gathered:
            for other, similarity, seeded in neighbours:
                if similarity >= best.get(other, (0.0, None))[0]:
                    best[other] = (similarity, seeded)
        yield LEDGER_KEY, (doc_id, sorted((k, s, st) for k, (s, st) in best.items()))


class LedgerFn(beam.DoFn):
    """Decisions, in arrival order, for the TTL: (id, Status) per new article.

    Entries are (status, -1 for a seeded row else 0, event µs). The map is read and
    written whole for each article: about 0.25 s of pickling at 50,000 articles in the
    TTL, which a few dozen outlets (thousands of articles a day) never approach; a
    stream of hundreds of thousands of articles per TTL would want it cached in the
    DoFn instance behind a state version token.
    """

    DECIDED = ReadModifyWriteStateSpec("decided", PickleCoder())
    PENDING = ReadModifyWriteStateSpec("pending", PickleCoder())

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_micros = int(ttl_seconds * 1_000_000)

    def process(
        self,
        element,
        timestamp=beam.DoFn.TimestampParam,
        decided_state=beam.DoFn.StateParam(DECIDED),
        pending_state=beam.DoFn.StateParam(PENDING),
    ):
        _key, (doc_id, payload) = element
        now = _micros(timestamp)
        decided: dict[str, tuple[Status, int, int]] = decided_state.read() or {}
        pending: dict[str, list[tuple[str, float]]] = pending_state.read() or {}
        if doc_id == SEEDED:
            status, seen_us = payload
            decided.setdefault(status.doc_id, (status, -1, seen_us))
            decided_state.write(decided)
            return
        neighbours = {other: similarity for other, similarity, _seeded in payload}
        for other, _similarity, seeded in payload:
            if seeded is not None:  # the band knew the seeded row before the ledger did
                decided.setdefault(other, (seeded, -1, now))
        for other, similarity in pending.pop(doc_id, []):
            neighbours[other] = max(similarity, neighbours.get(other, 0.0))
        choices = []
        for other, similarity in neighbours.items():
            known = decided.get(other)
            if known is None:
                pending.setdefault(other, []).append((doc_id, similarity))
            elif known[0].is_canonical:
                # Most similar first; ties: the earlier event time, then the smaller id.
                choices.append((-similarity, known[2], other, known[0], known[1]))
        if choices:
            negative, _seen, other, canonical, order = min(choices)
            status = Status(doc_id, False, canonical.cluster_id, other, -negative)
            if order < 0:
                counter(STAGE, "joined_earlier_run")
        else:
            status = Status(doc_id, True, doc_id)
        decided[doc_id] = (status, 0, now)
        horizon = now - self.ttl_micros
        if any(seen < horizon for _s, _o, seen in decided.values()):
            decided = {k: v for k, v in decided.items() if v[2] >= horizon}
        decided_state.write(decided)
        pending_state.write({k: v for k, v in pending.items() if k not in decided})
        yield doc_id, status


class ApplyFn(beam.DoFn):
    """(id, Article | Status) → the article with its cluster fields, when both arrived."""

    HELD = BagStateSpec("held", PickleCoder())

    def __init__(self, drop_duplicates: bool) -> None:
        self.drop_duplicates = drop_duplicates

    def process(self, element, held=beam.DoFn.StateParam(HELD)):
        _doc_id, payload = element
        held.add(payload)
        parts = list(held.read())
        articles = [p for p in parts if isinstance(p, Article)]
        statuses = [p for p in parts if isinstance(p, Status)]
        if not articles or not statuses:
            return
        held.clear()
        applied = apply_decision(articles[0], statuses[0], self.drop_duplicates)
        if applied is not None:
            yield applied


class StreamClusterDuplicates(beam.PTransform):
    """Articles (global window) → articles with cluster fields; ``seeds``: ``StoredText``."""

    def __init__(self, config: NearDupConfig, ttl_seconds: float, seeds=None) -> None:
        super().__init__()
        self.config = config
        self.ttl = ttl_seconds
        self.seeds = seeds

    def expand(self, articles):
        config = self.config
        parts = articles | "Fingerprint" >> beam.ParDo(_Fingerprint(config)).with_outputs(
            _BANDS, _DIRECT, main="articles"
        )
        bands, direct = [parts[_BANDS]], [parts[_DIRECT]]
        if self.seeds is not None:
            seeded = self.seeds | "SeedMessages" >> beam.FlatMap(
                seed_messages, config
            ).with_outputs(_BANDS, _DIRECT)
            bands.append(seeded[_BANDS])
            direct.append(seeded[_DIRECT])
        reports = (
            tuple(bands)
            | "AllBandMessages" >> beam.Flatten()
            | "TypedBands" >> beam.Map(lambda kv: kv).with_output_types(Tuple[str, Any])
            | "BandIndex"
            >> beam.ParDo(BandIndexFn(config.threshold, self.ttl, config.max_bucket_pairs))
            | "TypedReports" >> beam.Map(lambda kv: kv).with_output_types(Tuple[str, Any])
            | "Gather" >> beam.ParDo(GatherFn())
        )
        decisions = (
            (reports, *direct)
            | "ToLedger" >> beam.Flatten()
            | "TypedLedger" >> beam.Map(lambda kv: kv).with_output_types(Tuple[str, Any])
            | "Ledger" >> beam.ParDo(LedgerFn(self.ttl))
        )
        return (
            (parts.articles, decisions)
            | "ArticlesAndDecisions" >> beam.Flatten()
            | "TypedApply" >> beam.Map(lambda kv: kv).with_output_types(Tuple[str, Any])
            | "Apply" >> beam.ParDo(ApplyFn(config.drop_duplicates))
        )
