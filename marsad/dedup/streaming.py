"""The streaming decisions, without Beam: band index, ledger book, settling, and a replay.

``transforms/stream_neardup.py`` wires these into keyed-state DoFns; ``replay`` runs
the same functions over a whole corpus in one process, in the order the transform
sees it when arrivals come poll by poll and the watermark follows the polls. That is
how the agreement with batch is measured on corpora too large for the local direct
runner (which re-examines every key's state at each watermark step), and a test
checks the transform and the replay give the same decisions.

Settling. An article waits ``settle`` of event time before it is decided. At a
settle point ``now`` the ledger clusters every waiting article that has all its
verified pairs and arrived before ``now`` (or is due), together with the clusters
already written that they touch (``marsad.dedup.clusters.decide``: written clusters
keep their members and canonical, and two of them never merge); every cluster that
holds a due article is then written, all its waiting members with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from marsad.dedup.clusters import Edge, Member, Rule, Status, decide
from marsad.dedup.fingerprint import TIER_STORED, UNKNOWN_TIME, Rank
from marsad.dedup.neardup import Fingerprint, NearDupConfig, bucket_keys, verified_edge


@dataclasses.dataclass(frozen=True)
class Arrival:
    """An article known to the ledger: waits for ``answers`` verified pairs."""

    doc_id: str
    rank: Rank
    event_us: int
    answers: int
    compared: bool


@dataclasses.dataclass(frozen=True)
class Seeded:
    """A row an earlier run wrote, with the decision it was written with."""

    member: Member
    event_us: int


@dataclasses.dataclass(frozen=True)
class Answer:
    """A candidate's reply: the verified pair, or None (not compatible, or expired).
    A candidate seeded from an earlier run says so: the ledger may not have seen its
    own ``Seeded`` message yet (seeds and articles race)."""

    later: str
    earlier: str
    edge: Edge | None
    seeded: Seeded | None = None


def seeded_at(fp: Fingerprint, started_us: int) -> int:
    """Event time of a seeded row: its publication, else when the stream started."""
    published = fp.rank[1]
    return published if published != UNKNOWN_TIME else started_us


def band_candidates(
    members: list[tuple[str, int]], doc_id: str, event_us: int, ttl_us: int, cap: int
) -> tuple[tuple[str, ...], list[tuple[str, int]]]:
    """(earlier members a newcomer is compared with, the band's members after it joins).

    Members are (id, event µs), newest last, pruned by event time so a band stays
    bounded by the TTL; a newcomer is compared with the ``cap`` most recent.
    """
    horizon = event_us - ttl_us
    members = [m for m in members if m[1] >= horizon]
    earlier = tuple(m[0] for m in members[-cap:] if m[0] != doc_id)
    members.append((doc_id, event_us))
    return earlier, members


def answer(own: Fingerprint, later: Fingerprint, rule: Rule, started_us: int) -> Answer:
    """``own`` (the earlier article) compared with a later candidate that asked."""
    edge = verified_edge(own, later, own.content_hash == later.content_hash, rule)
    seeded = None
    if own.fixed is not None and edge is not None:
        seeded = Seeded(own.member(), seeded_at(own, started_us))
    return Answer(later.doc_id, own.doc_id, edge, seeded)


@dataclasses.dataclass
class Book:
    """The ledger's memory: written decisions (for the TTL) and articles still waiting."""

    written: dict[str, tuple[Member, int]] = dataclasses.field(default_factory=dict)
    clusters: dict[str, set[str]] = dataclasses.field(default_factory=dict)
    waiting: dict[str, Arrival] = dataclasses.field(default_factory=dict)
    answers: dict[str, list[Answer]] = dataclasses.field(default_factory=dict)

    def write(self, member: Member, event_us: int) -> None:
        self.written[member.doc_id] = (member, event_us)
        self.clusters.setdefault(member.fixed.cluster_id, set()).add(member.doc_id)

    def receive(self, message: Arrival | Answer | Seeded) -> None:
        if isinstance(message, Arrival):
            self.waiting[message.doc_id] = message
        elif isinstance(message, Answer):
            self.answers.setdefault(message.later, []).append(message)
            if message.seeded is not None and message.earlier not in self.written:
                self.write(message.seeded.member, message.seeded.event_us)
        else:
            self.write(message.member, message.event_us)

    def next_due(self, settle_us: int) -> int | None:
        due = [a.event_us + settle_us for a in self.waiting.values()]
        return min(due) if due else None

    def forget_before(self, horizon_us: int) -> None:
        for doc_id in [d for d, (_m, seen) in self.written.items() if seen < horizon_us]:
            member, _seen = self.written.pop(doc_id)
            cluster = self.clusters.get(member.fixed.cluster_id)
            if cluster is not None:
                cluster.discard(doc_id)
                if not cluster:
                    del self.clusters[member.fixed.cluster_id]

    def joins_earlier_run(self, status: Status) -> bool:
        cluster = self.clusters.get(status.cluster_id, ())
        return not status.is_canonical and any(
            self.written[d][0].rank[0] == TIER_STORED for d in cluster
        )


def _ready(book: Book, now_us: int, settle_us: int) -> dict[str, Arrival]:
    """Waiting articles that can be decided now: all answers in, arrived before ``now``
    (or due), and not compared with an article still waiting for its own answers."""
    ready = {
        doc_id: arrival
        for doc_id, arrival in book.waiting.items()
        if len(book.answers.get(doc_id, ())) >= arrival.answers
        and (arrival.event_us < now_us or arrival.event_us + settle_us <= now_us)
    }
    while True:
        blocked = [
            doc_id
            for doc_id in ready
            for reply in book.answers.get(doc_id, ())
            if reply.edge is not None
            and reply.earlier in book.waiting
            and reply.earlier not in ready
        ]
        if not blocked:
            return ready
        for doc_id in blocked:
            ready.pop(doc_id, None)


def settle_and_decide(book: Book, now_us: int, settle_us: int, rule: Rule) -> list[Status]:
    """Decide and write every cluster that holds an article due at ``now_us``."""
    ready = _ready(book, now_us, settle_us)
    if not any(a.event_us + settle_us <= now_us for a in ready.values()):
        return []
    edges = [
        reply.edge
        for doc_id in ready
        for reply in book.answers.get(doc_id, ())
        if reply.edge is not None and (reply.earlier in ready or reply.earlier in book.written)
    ]
    touched = {book.written[e.a][0].fixed.cluster_id for e in edges if e.a in book.written}
    members = [Member(a.doc_id, a.rank, None, a.compared) for a in ready.values()]
    members += [book.written[d][0] for c in touched for d in book.clusters.get(c, ())]
    decided = decide(members, edges, rule)
    due_clusters = {
        decided[d].cluster_id for d, a in ready.items() if a.event_us + settle_us <= now_us
    }
    out = []
    for doc_id, status in decided.items():
        if status.cluster_id not in due_clusters:
            continue
        arrival = book.waiting.pop(doc_id)
        book.answers.pop(doc_id, None)
        book.write(Member(doc_id, arrival.rank, status, arrival.compared), arrival.event_us)
        out.append(status)
    return out


def replay(
    arrivals: Iterable[tuple[int, Fingerprint]],
    config: NearDupConfig,
    ttl_us: int,
    settle_us: int,
) -> dict[str, Status]:
    """The streaming transform's decisions for articles found at the given event times
    (µs, poll by poll; the watermark reaches a poll once all its articles are in)."""
    rule = config.rule()
    bands: dict[bytes, list[tuple[str, int]]] = {}
    own: dict[str, tuple[Fingerprint, int]] = {}
    book = Book()
    decided: dict[str, Status] = {}
    polls: dict[int, list[Fingerprint]] = {}
    for event_us, fp in arrivals:
        polls.setdefault(event_us, []).append(fp)

    def settle(now_us: int) -> None:
        for status in settle_and_decide(book, now_us, settle_us, rule):
            decided[status.doc_id] = status
        book.forget_before(now_us - ttl_us)

    for poll in sorted(polls):
        due = book.next_due(settle_us)
        if due is not None and due <= poll:
            settle(poll)  # the poll's first message at the ledger passes the due time
        for fp in polls[poll]:
            keys = bucket_keys(fp, config)
            candidates: set[str] = set()
            for key in keys:
                earlier, bands[key] = band_candidates(
                    bands.get(key, []), fp.doc_id, poll, ttl_us, config.max_bucket_pairs
                )
                candidates.update(earlier)
            replies = [
                answer(own[c][0], fp, rule, 0)
                for c in sorted(candidates)
                if c in own and own[c][1] >= poll - ttl_us
            ]
            if keys:
                own[fp.doc_id] = (fp, poll)
            book.receive(Arrival(fp.doc_id, fp.rank, poll, len(replies), fp.compared))
            for reply in replies:
                book.receive(reply)
        if settle_us == 0:
            settle(poll)
    last = max(polls, default=0)
    while book.waiting:  # the end: timers fire as the watermark runs out
        before = len(book.waiting)
        last = max(book.next_due(settle_us), last + 1)
        settle(last)
        if len(book.waiting) == before and book.next_due(settle_us) < last:
            break  # nothing left that can be decided (cannot happen with all answers in)
    return decided
