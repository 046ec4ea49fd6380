"""ClusterNearDuplicates: exact and near-duplicate clusters across outlets and runs.

The stages of ``marsad.dedup.neardup`` as Beam steps, each keyed so that it scales out
(no all-pairs step, no global collect):

    CountOutletLines   (outlet, edge line) → pages; frequent ones become a side input
    Clean              boilerplate and repeated paragraphs out; text fingerprinted
    Buckets            keyed by LSH band (and content hash) → candidate pairs
    Verify             keyed by document id (two joins) → exact Jaccard, neighbours
    Resolve1..N        keyed by document id: each round, waiting documents learn the
                       decisions of their earlier neighbours (usually 1–3 rounds)
    Apply              keyed by article id → Article with the cluster fields

Rows of earlier runs (``StoredText``) take part with the decision they were
written with; they are never re-emitted. Every step is a function of its key's
values in a defined order, so the result does not depend on bundling.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.typehints import Any, Tuple

from marsad.dedup.neardup import (
    Fingerprint,
    NearDupConfig,
    Node,
    Status,
    bucket_keys,
    bucket_pairs,
    clean_for_matching,
    decide,
    fingerprint,
    is_exact_key,
    verified_neighbours,
)
from marsad.text.boilerplate import Cleaned, edge_lines
from schemas.records import Article
from transforms.common import counter
from transforms.stored_texts import StoredText

STAGE = "dedup_near"
_FINGERPRINTS = "fingerprints"
_DECIDED = "decided"


def _microseconds(article: Article) -> int | None:
    if article.published_at is None:
        return None
    return int(article.published_at.timestamp() * 1_000_000)


def clean_and_fingerprint(
    article: Article, outlet_lines, config: NearDupConfig, published_us: int | None
) -> tuple[Article, Cleaned, Fingerprint]:
    """Clean the article's text, fingerprint it, and store the cleaned text if configured."""
    cleaned = clean_for_matching(article.text or "", outlet_lines, config)
    fp = fingerprint(article.article_id, cleaned.tokens, config, published_us=published_us)
    if config.rewrite_text and cleaned.text != article.text:
        article = article.replace(
            text=cleaned.text, text_chars=len(cleaned.text), content_hash=fp.content_hash
        )
    return article, cleaned, fp


def stored_status(row: StoredText) -> Status:
    """The decision a row of an earlier run was written with."""
    return Status(
        row.article_id,
        row.is_canonical,
        row.cluster_id or row.article_id,
        "" if row.is_canonical else row.duplicate_of,
    )


def stored_fingerprint(row: StoredText, config: NearDupConfig, published_us: int | None):
    tokens = clean_for_matching(row.text, (), config).tokens if row.text else []
    return fingerprint(
        row.article_id,
        tokens,
        config,
        published_us=published_us,
        fixed=stored_status(row),
        content_hash=row.content_hash,
    )


def apply_decision(article: Article, status: Status, drop_duplicates: bool):
    """The article with its cluster fields, or None when duplicates are dropped."""
    counter(STAGE, "canonical" if status.is_canonical else "duplicate")
    if drop_duplicates and not status.is_canonical:
        counter(STAGE, "dropped")
        return None
    counter(STAGE, "out")
    return article.replace(
        cluster_id=status.cluster_id,
        is_duplicate=not status.is_canonical,
        is_canonical=status.is_canonical,
        duplicate_of=status.duplicate_of,
        duplicate_similarity=status.similarity,
    )


class _CleanAndFingerprint(beam.DoFn):
    """Article → cleaned Article (main) and its Fingerprint (tagged)."""

    def __init__(self, config: NearDupConfig) -> None:
        self.config = config

    def process(self, article: Article, outlet_lines):
        counter(STAGE, "in")
        article, cleaned, fp = clean_and_fingerprint(
            article, outlet_lines.get(article.source, ()), self.config, _microseconds(article)
        )
        if cleaned.repeats_removed:
            counter(STAGE, "cleaned.repeated_paragraphs")
        if cleaned.boilerplate_removed:
            counter(STAGE, "cleaned.boilerplate")
        yield article
        yield pvalue.TaggedOutput(_FINGERPRINTS, fp)


def _pairs_of_bucket(element, cap: int):
    key, ranks = element
    ranks = list(ranks)
    if len(ranks) < 2:  # nearly every bucket: nothing collides
        return
    exact = is_exact_key(key)
    for pair in bucket_pairs(ranks, cap):
        yield pair, exact


def _candidates(element):
    """Join on the earlier document: (later id, (earlier fingerprint, exact?))."""
    _doc_id, grouped = element
    fps = sorted(grouped["fp"], key=lambda fp: fp.rank)  # a stored row wins an id clash
    if not fps:
        return
    for later, exact in grouped["later"]:
        yield later, (fps[0], exact)


class _Verify(beam.DoFn):
    """Join on the later (new) document: verify candidates, decide when possible."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def process(self, element):
        _doc_id, grouped = element
        fps = [fp for fp in grouped["fp"] if fp.is_new]
        if not fps:
            return
        candidates = sorted(grouped["candidates"], key=lambda c: c[0].rank)
        for _ in candidates:
            counter(STAGE, "candidate_pairs")
        neighbours = verified_neighbours(fps[0], candidates, self.threshold)
        for _ in neighbours:
            counter(STAGE, "similar_pairs")
        yield from _decided_or_waiting(Node(fps[0].doc_id, neighbours), final=False)


def _decided_or_waiting(node: Node, final: bool):
    status = decide(node, final)
    if status is None:
        yield node
        return
    if final and node.unknown():
        counter(STAGE, "unresolved")
    if not status.is_canonical and any(
        n.fixed for n in node.neighbours if n.doc_id == status.duplicate_of
    ):
        counter(STAGE, "joined_earlier_run")
    yield pvalue.TaggedOutput(_DECIDED, status)


def _requests(node: Node):
    for neighbour_id in node.unknown():
        yield neighbour_id, node.doc_id


def _answers(element):
    _doc_id, grouped = element
    for status in grouped["status"]:
        for asker in grouped["asked"]:
            yield asker, status


class _Round(beam.DoFn):
    def __init__(self, final: bool) -> None:
        self.final = final

    def process(self, element):
        _doc_id, grouped = element
        for node in grouped["node"]:
            known = dict(node.known)
            known.update({s.doc_id: s for s in grouped["answers"]})
            yield from _decided_or_waiting(Node(node.doc_id, node.neighbours, known), self.final)


class _Apply(beam.DoFn):
    def __init__(self, drop_duplicates: bool) -> None:
        self.drop_duplicates = drop_duplicates

    def process(self, element):
        _doc_id, grouped = element
        statuses = list(grouped["status"])
        for article in grouped["article"]:
            applied = apply_decision(article, statuses[0], self.drop_duplicates)
            if applied is not None:
                yield applied


def _keyed(label: str, pcoll, key):
    return pcoll | label >> beam.Map(lambda x: (key(x), x)).with_output_types(Tuple[str, Any])


class ClusterNearDuplicates(beam.PTransform):
    """(articles, stored texts) → articles with cluster_id, is_canonical, is_duplicate,
    duplicate_of and duplicate_similarity set (see ``marsad.dedup.neardup`` for the rule).

    ``inputs`` is ``(articles, stored)`` where ``stored`` is a PCollection of
    ``StoredText`` (``ReadStoredTexts``), or just ``articles``. With
    ``config.drop_duplicates`` flagged rows are counted (``dedup_near.dropped``)
    and left out.
    """

    def __init__(self, config: NearDupConfig | None = None) -> None:
        super().__init__()
        self.config = config or NearDupConfig()

    def expand(self, inputs):
        config = self.config
        articles, stored = inputs if isinstance(inputs, tuple) else (inputs, None)
        bands, rows = config.banding()

        outlet_lines = (
            articles
            | "EdgeLines"
            >> beam.FlatMap(
                lambda a: [((a.source, line), 1) for line in edge_lines(a.text or "")]
            ).with_output_types(Tuple[Tuple[str, str], int])
            | "CountOutletLines" >> beam.CombinePerKey(sum)
            | "FrequentLines" >> beam.Filter(lambda kv: kv[1] >= config.min_outlet_pages)
            | "BySource"
            >> beam.MapTuple(lambda key, _count: key).with_output_types(Tuple[str, str])
            | "GroupBySource" >> beam.GroupByKey()
            | "LineSets" >> beam.MapTuple(lambda source, lines: (source, frozenset(lines)))
        )
        cleaned = articles | "Clean" >> beam.ParDo(
            _CleanAndFingerprint(config), beam.pvalue.AsDict(outlet_lines)
        ).with_outputs(_FINGERPRINTS, main="articles")
        new_fps = cleaned[_FINGERPRINTS]
        fps = [new_fps]
        if stored is not None:
            fps.append(
                stored
                | "FingerprintStored"
                >> beam.Map(
                    lambda row: stored_fingerprint(row, config, row.published_at_us or None)
                )
            )
        all_fps = tuple(fps) | "AllFingerprints" >> beam.Flatten()

        pairs = (
            all_fps
            | "BucketKeys"
            >> beam.FlatMap(
                lambda fp: [(key, fp.rank) for key in bucket_keys(fp, bands, rows)]
            ).with_output_types(Tuple[bytes, Tuple[int, int, int, str]])
            | "GroupByBucket" >> beam.GroupByKey()
            | "BucketPairs"
            >> beam.FlatMap(_pairs_of_bucket, config.max_bucket_pairs).with_output_types(
                Tuple[Tuple[str, str], bool]
            )
            | "DistinctPairs" >> beam.CombinePerKey(any)
            | "ByEarlier"
            >> beam.MapTuple(lambda pair, exact: (pair[0], (pair[1], exact))).with_output_types(
                Tuple[str, Tuple[str, bool]]
            )
        )
        candidates = (
            {"fp": _keyed("FingerprintById", all_fps, lambda fp: fp.doc_id), "later": pairs}
            | "JoinEarlier" >> beam.CoGroupByKey()
            | "Candidates" >> beam.FlatMap(_candidates).with_output_types(Tuple[str, Any])
        )
        verified = (
            {"fp": _keyed("NewById", new_fps, lambda fp: fp.doc_id), "candidates": candidates}
            | "JoinLater" >> beam.CoGroupByKey()
            | "Verify"
            >> beam.ParDo(_Verify(config.threshold)).with_outputs(_DECIDED, main="waiting")
        )
        decided, fresh, waiting = [verified[_DECIDED]], verified[_DECIDED], verified.waiting
        for number in range(1, config.max_rounds + 1):
            fresh, waiting = _resolve_round(number, fresh, waiting, number == config.max_rounds)
            decided.append(fresh)
        statuses = tuple(decided) | "AllDecisions" >> beam.Flatten()

        return (
            {
                "article": _keyed("ArticleById", cleaned.articles, lambda a: a.article_id),
                "status": _keyed("DecisionById", statuses, lambda s: s.doc_id),
            }
            | "JoinDecisions" >> beam.CoGroupByKey()
            | "Apply" >> beam.ParDo(_Apply(config.drop_duplicates))
        )


def _resolve_round(number: int, fresh, waiting, final: bool):
    """One round: waiting nodes ask for their unknown neighbours' fresh decisions."""
    asked = waiting | f"Ask{number}" >> beam.FlatMap(_requests).with_output_types(Tuple[str, str])
    answers = (
        {"status": _keyed(f"Fresh{number}", fresh, lambda s: s.doc_id), "asked": asked}
        | f"Answer{number}" >> beam.CoGroupByKey()
        | f"Answers{number}" >> beam.FlatMap(_answers).with_output_types(Tuple[str, Any])
    )
    step = (
        {"node": _keyed(f"Waiting{number}", waiting, lambda n: n.doc_id), "answers": answers}
        | f"Resolve{number}" >> beam.CoGroupByKey()
        | f"Decide{number}" >> beam.ParDo(_Round(final)).with_outputs(_DECIDED, main="waiting")
    )
    return step[_DECIDED], step.waiting
