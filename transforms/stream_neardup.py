"""StreamClusterDuplicates: near-duplicate clusters in streaming mode, kept in keyed state.

Batch clusters a finished set of articles (``ClusterNearDuplicates``); a stream never
finishes, so history lives in state for ``ttl`` of event time, and decisions wait a
short ``settle`` time so that copies arriving close together are decided together,
by the same rule and order as batch (``marsad.dedup.clusters``):

    Fingerprint   clean the text, fingerprint both views; one message per bucket key
    BandIndex     key: bucket. Members (id, event time) for the TTL; reports the
                  earlier members of a newcomer (its candidates)
    Gather        key: article id. Waits for every band's report and its own
                  fingerprint, then asks each candidate to compare
    Verify        key: article id. Holds the article's own fingerprint for the TTL and
                  compares it exactly with each later candidate that asks (both views)
    Ledger        key: one. Collects arrivals and verified pairs; when an article has
                  all its answers and has waited ``settle`` (event time), the articles
                  waiting are clustered with the clusters already written, and every
                  cluster holding a due article is decided and written
    Apply         key: article id. Joins the decision back onto the article

Why a ledger: decisions depend on each other and Beam graphs have no cycles, so they
meet in one place. Only ids, ranks, decisions and verified pairs live there; the
expensive work (bucketing, comparing shingle sets) stays keyed by bucket and by id.
Per article the ledger adds to a bag; the map of written decisions is read and
written once per timer firing (once per poll), not per article.

What still differs from batch, and why: a decision, once written, is final. A copy
that arrives after its cluster was written (later than ``settle``) joins it or starts
its own, but cannot make two written clusters one, nor take the canonical role from
a written row even if it was published earlier. Pairs further apart than the TTL are
never compared. ``benchmarks/dedup_stream.py`` measures the agreement.
"""

from __future__ import annotations

import dataclasses
import time

import apache_beam as beam
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
from apache_beam.utils.timestamp import Timestamp

from marsad.dedup.clusters import Status
from marsad.dedup.neardup import Fingerprint, NearDupConfig, bucket_keys
from marsad.dedup.streaming import (
    Answer,
    Arrival,
    Book,
    Seeded,
    answer,
    band_candidates,
    seeded_at,
    settle_and_decide,
)
from schemas.records import Article
from transforms.common import counter
from transforms.dedup_records import (
    STAGE,
    apply_decision,
    clean_and_fingerprint,
    published_micros,
    stored_fingerprint,
)
from transforms.stored_texts import StoredText

LEDGER_KEY = "ledger"
_BANDS = "bands"
_OWN = "own"
_LEDGER = "ledger"


@dataclasses.dataclass(frozen=True)
class BandMessage:
    doc_id: str
    event_us: int
    expected: int  # how many band reports the article will get (0 for a seeded row)


@dataclasses.dataclass(frozen=True)
class BandReport:
    candidates: tuple[str, ...]
    expected: int


@dataclasses.dataclass(frozen=True)
class CompareRequest:
    later: Fingerprint


def _micros(ts: Timestamp) -> int:
    return int(ts.micros)


class _Fingerprint(beam.DoFn):
    """Article → (id, cleaned Article) (main), band messages, its fingerprint, or a
    ledger arrival when it has no text to compare."""

    def __init__(self, config: NearDupConfig) -> None:
        self.config = config

    def process(self, article: Article, timestamp=beam.DoFn.TimestampParam):
        counter(STAGE, "in")
        article, _cleaned, fp = clean_and_fingerprint(
            article, (), self.config, published_micros(article)
        )
        yield article.article_id, article
        keys = bucket_keys(fp, self.config)
        now = _micros(timestamp)
        if not keys:  # no text at all: nothing to compare
            arrival = Arrival(fp.doc_id, fp.rank, now, 0, fp.compared)
            yield pvalue.TaggedOutput(_LEDGER, (LEDGER_KEY, arrival))
            return
        yield pvalue.TaggedOutput(_OWN, (fp.doc_id, fp))
        for key in keys:
            yield pvalue.TaggedOutput(_BANDS, (key.hex(), BandMessage(fp.doc_id, now, len(keys))))


_STARTED_US = int(time.time() * 1_000_000)


def seed_messages(row: StoredText, config: NearDupConfig):
    """Band messages, fingerprint and ledger entry of a row an earlier run wrote."""
    fp = stored_fingerprint(row, config, row.published_at_us or None)
    seen_us = seeded_at(fp, _STARTED_US)
    for key in bucket_keys(fp, config):
        yield pvalue.TaggedOutput(_BANDS, (key.hex(), BandMessage(fp.doc_id, seen_us, 0)))
    yield pvalue.TaggedOutput(_OWN, (fp.doc_id, fp))
    yield pvalue.TaggedOutput(_LEDGER, (LEDGER_KEY, Seeded(fp.member(), seen_us)))


class BandIndexFn(beam.DoFn):
    """(bucket key, BandMessage) → (article id, BandReport) for new articles."""

    MEMBERS = ReadModifyWriteStateSpec("members", PickleCoder())
    EXPIRE = TimerSpec("expire", TimeDomain.WATERMARK)

    def __init__(self, ttl_seconds: float, cap: int) -> None:
        self.ttl_us = int(ttl_seconds * 1_000_000)
        self.cap = cap

    def process(
        self,
        element,
        members_state=beam.DoFn.StateParam(MEMBERS),
        expire=beam.DoFn.TimerParam(EXPIRE),
    ):
        _key, message = element
        earlier, members = band_candidates(
            members_state.read() or [], message.doc_id, message.event_us, self.ttl_us, self.cap
        )
        if message.expected:  # a new article, not a seeded row
            yield message.doc_id, BandReport(earlier, message.expected)
        members_state.write(members)
        expire.set(Timestamp(micros=max(m[1] for m in members) + self.ttl_us))

    @on_timer(EXPIRE)
    def on_expire(self, members_state=beam.DoFn.StateParam(MEMBERS)):
        members_state.clear()


class GatherFn(beam.DoFn):
    """(id, fingerprint | BandReport) → a compare request to each candidate, and the
    article's arrival at the ledger, once every band reported."""

    PARTS = BagStateSpec("parts", PickleCoder())

    def process(self, element, parts_state=beam.DoFn.StateParam(PARTS)):
        _doc_id, part = element
        parts_state.add(part)
        parts = list(parts_state.read())
        fps = [p for p in parts if isinstance(p, Fingerprint)]
        reports = [p for p in parts if isinstance(p, BandReport)]
        if not fps or not reports or len(reports) < reports[0].expected:
            return
        parts_state.clear()
        fp = fps[0]
        candidates = sorted({c for report in reports for c in report.candidates})
        for candidate in candidates:
            yield candidate, CompareRequest(fp)
        arrival = Arrival(fp.doc_id, fp.rank, 0, len(candidates), fp.compared)
        yield pvalue.TaggedOutput(_LEDGER, (LEDGER_KEY, arrival))


class VerifyFn(beam.DoFn):
    """(id, own fingerprint | CompareRequest) → (LEDGER_KEY, Answer) per request."""

    OWN = ReadModifyWriteStateSpec("own", PickleCoder())
    WAITING = BagStateSpec("waiting", PickleCoder())
    UNTIL = ReadModifyWriteStateSpec("until", PickleCoder())
    EXPIRE = TimerSpec("expire", TimeDomain.WATERMARK)

    def __init__(self, config: NearDupConfig, ttl_seconds: float) -> None:
        self.rule = config.rule()
        self.ttl_us = int(ttl_seconds * 1_000_000)

    def process(
        self,
        element,
        timestamp=beam.DoFn.TimestampParam,
        own_state=beam.DoFn.StateParam(OWN),
        waiting=beam.DoFn.StateParam(WAITING),
        until_state=beam.DoFn.StateParam(UNTIL),
        expire=beam.DoFn.TimerParam(EXPIRE),
    ):
        _doc_id, part = element
        seen = _micros(timestamp)
        if isinstance(part, Fingerprint):
            if part.fixed is not None:  # a seeded row: its own time, not the read's
                seen = seeded_at(part, _STARTED_US)
            own_state.write(part)
            for request in waiting.read():
                yield self._answer(part, request)
            waiting.clear()
        else:
            own = own_state.read()
            if own is None:  # the request overtook the article's own fingerprint
                waiting.add(part)
            else:
                yield self._answer(own, part)
        until = max(seen + self.ttl_us, until_state.read() or 0)
        until_state.write(until)
        expire.set(Timestamp(micros=until))

    def _answer(self, own: Fingerprint, request: CompareRequest):
        return LEDGER_KEY, answer(own, request.later, self.rule, _STARTED_US)

    @on_timer(EXPIRE)
    def on_expire(
        self,
        own_state=beam.DoFn.StateParam(OWN),
        waiting=beam.DoFn.StateParam(WAITING),
        until_state=beam.DoFn.StateParam(UNTIL),
    ):
        for request in waiting.read():  # never came (not expected): answer, not hang
            yield LEDGER_KEY, Answer(request.later.doc_id, "", None)
        waiting.clear()
        own_state.clear()
        until_state.clear()


class LedgerFn(beam.DoFn):
    """(LEDGER_KEY, Arrival | Answer | Seeded) → (id, Status), in settled groups.

    Messages go to a bag (cheap). The book is read, settled and written when event
    time passes the earliest due article: on the first message stamped at or after it
    (decisions then carry that message's timestamp), or on the timer when no message
    comes (Dataflow holds the watermark for the timer; the local direct runner does
    not, so there a timer's decisions can reach windows downstream late).
    """

    INBOX = BagStateSpec("inbox", PickleCoder())
    BOOK = ReadModifyWriteStateSpec("book", PickleCoder())
    NEXT = ReadModifyWriteStateSpec("next", PickleCoder())
    SETTLE = TimerSpec("settle", TimeDomain.WATERMARK)

    def __init__(self, config: NearDupConfig, ttl_seconds: float, settle_seconds: float) -> None:
        self.rule = config.rule()
        self.ttl_us = int(ttl_seconds * 1_000_000)
        self.settle_us = int(settle_seconds * 1_000_000)

    def process(
        self,
        element,
        timestamp=beam.DoFn.TimestampParam,
        inbox=beam.DoFn.StateParam(INBOX),
        book_state=beam.DoFn.StateParam(BOOK),
        next_state=beam.DoFn.StateParam(NEXT),
        settle=beam.DoFn.TimerParam(SETTLE),
    ):
        _key, message = element
        now = _micros(timestamp)
        if isinstance(message, Arrival):  # stamped here: the ledger's clock is event time
            message = dataclasses.replace(message, event_us=now)
        inbox.add(message)
        scheduled = next_state.read()
        if isinstance(message, Arrival) and (scheduled is None or now + self.settle_us < scheduled):
            scheduled = now + self.settle_us
            next_state.write(scheduled)
            settle.set(Timestamp(micros=scheduled))
        if scheduled is not None and now >= scheduled:
            yield from self._settle(now, inbox, book_state, next_state, settle)

    @on_timer(SETTLE)
    def on_settle(
        self,
        fired=beam.DoFn.TimestampParam,
        inbox=beam.DoFn.StateParam(INBOX),
        book_state=beam.DoFn.StateParam(BOOK),
        next_state=beam.DoFn.StateParam(NEXT),
        settle=beam.DoFn.TimerParam(SETTLE),
    ):
        yield from self._settle(_micros(fired), inbox, book_state, next_state, settle)

    def _settle(self, now, inbox, book_state, next_state, settle):
        book = book_state.read() or Book()
        for message in inbox.read():
            book.receive(message)
        inbox.clear()
        for status in settle_and_decide(book, now, self.settle_us, self.rule):
            if book.joins_earlier_run(status):
                counter(STAGE, "joined_earlier_run")
            yield status.doc_id, status
        book.forget_before(now - self.ttl_us)
        book_state.write(book)
        following = book.next_due(self.settle_us)
        if following is None:
            next_state.clear()
        else:
            # An article already due but still missing answers keeps ``next`` in the
            # past: each message that comes is then a chance to settle it.
            next_state.write(following)
            settle.set(Timestamp(micros=max(following, now + 1)))


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


def _typed(label: str, pcoll):
    return pcoll | label >> beam.Map(lambda kv: kv).with_output_types(Tuple[str, Any])


class StreamClusterDuplicates(beam.PTransform):
    """Articles (global window) → articles with cluster fields; ``seeds``: ``StoredText``.

    ``settle_seconds`` of event time pass between an article's arrival and its
    decision, so copies arriving within it are decided together as batch would.
    """

    def __init__(
        self, config: NearDupConfig, ttl_seconds: float, seeds=None, settle_seconds: float = 0.0
    ) -> None:
        super().__init__()
        self.config = config
        self.ttl = ttl_seconds
        self.seeds = seeds
        self.settle = settle_seconds

    def expand(self, articles):
        config = self.config
        parts = articles | "Fingerprint" >> beam.ParDo(_Fingerprint(config)).with_outputs(
            _BANDS, _OWN, _LEDGER, main="articles"
        )
        bands, own, ledger = [parts[_BANDS]], [parts[_OWN]], [parts[_LEDGER]]
        if self.seeds is not None:
            seeded = self.seeds | "SeedMessages" >> beam.FlatMap(
                seed_messages, config
            ).with_outputs(_BANDS, _OWN, _LEDGER)
            bands.append(seeded[_BANDS])
            own.append(seeded[_OWN])
            ledger.append(seeded[_LEDGER])
        reports = _typed(
            "TypedReports",
            _typed("TypedBands", tuple(bands) | "AllBandMessages" >> beam.Flatten())
            | "BandIndex" >> beam.ParDo(BandIndexFn(self.ttl, config.max_bucket_pairs)),
        )
        new_own = parts[_OWN]
        gathered = _typed(
            "TypedGather", (new_own, reports) | "OwnAndReports" >> beam.Flatten()
        ) | "Gather" >> beam.ParDo(GatherFn()).with_outputs(_LEDGER, main="requests")
        answers = _typed(
            "TypedVerify",
            (*own, gathered.requests) | "FingerprintsAndRequests" >> beam.Flatten(),
        ) | "Verify" >> beam.ParDo(VerifyFn(config, self.ttl))
        decisions = _typed(
            "TypedLedger",
            (*ledger, gathered[_LEDGER], answers) | "ToLedger" >> beam.Flatten(),
        ) | "Ledger" >> beam.ParDo(LedgerFn(config, self.ttl, self.settle))
        return _typed(
            "TypedApply", (parts.articles, decisions) | "ArticlesAndDecisions" >> beam.Flatten()
        ) | "Apply" >> beam.ParDo(ApplyFn(config.drop_duplicates))
