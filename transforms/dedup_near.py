"""ClusterNearDuplicates: exact and near-duplicate clusters across outlets and runs.

The stages of ``marsad.dedup.neardup`` as Beam steps, each keyed so that it scales out
(no all-pairs step):

    CountOutletLines   (outlet, edge line) → pages; frequent ones become a side input
    Clean              boilerplate and repeated paragraphs out; both views fingerprinted;
                       one (bucket key, rank) per LSH band and content hash
    Buckets            keyed by bucket → candidate pairs (earlier, later)
    Verify             keyed by document id (two joins) → exact similarity in both
                       views; compatible pairs become edges
    Components         linked pairs and fixed clusters → union-find (a combine: ids of
                       documents with a link, not texts) → component of each document
    Decide             keyed by component: constrained agglomeration
                       (``marsad.dedup.clusters``) → a decision per new document
    Apply              keyed by article id → Article with the cluster fields (an article
                       in no component is canonical)

Rows of earlier runs (``StoredText``) take part with the decision they were written
with; they are never re-emitted. Every step is a function of its key's values, so the
result does not depend on bundling or input order, and equals ``neardup.cluster``.
"""

from __future__ import annotations

from collections import defaultdict

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics
from apache_beam.typehints import Any, Tuple

from marsad.dedup.clusters import Status, UnionFind, decide, fixed_unit
from marsad.dedup.fingerprint import (
    pack_bucket_entry,
    pack_rank,
    shard_of,
    split_bucket_entry,
    unpack_rank,
)
from marsad.dedup.neardup import (
    Fingerprint,
    NearDupConfig,
    bucket_keys,
    bucket_pairs,
    clean_for_matching,
    fingerprint,
    is_exact_key,
    verified_edge,
)
from marsad.text.boilerplate import Cleaned, edge_lines
from schemas.records import Article
from transforms.common import METRICS_NAMESPACE, counter
from transforms.stored_texts import StoredText

STAGE = "dedup_near"
_FINGERPRINTS = "fingerprints"
_KEYS = "keys"


def _microseconds(article: Article) -> int | None:
    if article.published_at is None:
        return None
    return int(article.published_at.timestamp() * 1_000_000)


def clean_and_fingerprint(
    article: Article, outlet_lines, config: NearDupConfig, published_us: int | None
) -> tuple[Article, Cleaned, Fingerprint]:
    """Clean the article's text, fingerprint it, and store the cleaned text if configured."""
    text = article.text or ""
    cleaned = clean_for_matching(text, outlet_lines, config)
    fp = fingerprint(article.article_id, cleaned.tokens, text, config, published_us=published_us)
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
        row.text,
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


def _with_keys(fp: Fingerprint, config: NearDupConfig):
    rank = pack_rank(fp.rank)
    for key in bucket_keys(fp, config):
        yield pvalue.TaggedOutput(_KEYS, (shard_of(key), pack_bucket_entry(key, rank)))


class _CleanAndFingerprint(beam.DoFn):
    """Article → cleaned Article (main), its Fingerprint and its bucket keys (tagged)."""

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
        yield from _with_keys(fp, self.config)


class _FingerprintStored(beam.DoFn):
    def __init__(self, config: NearDupConfig) -> None:
        self.config = config

    def process(self, row: StoredText):
        fp = stored_fingerprint(row, self.config, row.published_at_us or None)
        yield fp
        yield from _with_keys(fp, self.config)


class _PairsOfShard(beam.DoFn):
    """A shard of bucket entries → the candidate pairs of each of its buckets."""

    def __init__(self, cap: int) -> None:
        self.cap = cap

    def setup(self) -> None:
        self.sizes = Metrics.distribution(METRICS_NAMESPACE, f"{STAGE}.bucket_size")

    def process(self, element):
        _shard, entries = element
        buckets: dict[bytes, list] = defaultdict(list)
        for entry in entries:
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


def _candidates(element):
    """Join on the earlier document: (later id, (earlier fingerprint, exact?))."""
    _doc_id, grouped = element
    fps = sorted(grouped["fp"], key=lambda fp: fp.rank)  # a stored row wins an id clash
    if not fps:
        return
    for later, exact in grouped["later"]:
        yield later, (fps[0], exact)


class _Verify(beam.DoFn):
    """Join on the later (new) document: compare exactly, keep the compatible pairs."""

    def __init__(self, config: NearDupConfig) -> None:
        self.rule = config.rule()

    def process(self, element):
        _doc_id, grouped = element
        fps = [fp for fp in grouped["fp"] if fp.is_new]
        if not fps:
            return
        for earlier, exact in grouped["candidates"]:
            counter(STAGE, "candidate_pairs")
            edge = verified_edge(earlier, fps[0], exact, self.rule)
            if edge is not None:
                counter(
                    STAGE, "linked_pairs" if self.rule.linked(edge.similarity) else "grey_pairs"
                )
                yield edge


class _UnionFindFn(beam.CombineFn):
    """Components of linked pairs and fixed clusters: item → root."""

    def create_accumulator(self):
        return UnionFind()

    def add_input(self, found, pair):
        found.union(*pair)
        return found

    def merge_accumulators(self, accumulators):
        accumulators = iter(accumulators)
        merged = next(accumulators)
        for other in accumulators:
            merged.merge(other)
        return merged

    def extract_output(self, found):
        return found.roots()


def _links(edge, rule):
    if rule.linked(edge.similarity):
        yield edge.a, edge.b


def _fixed_links(fp: Fingerprint):
    if fp.fixed is not None:
        yield fp.doc_id, fixed_unit(fp.fixed)


def _in_component(item, roots):
    """(root, member or edge) for items of a component (keyed by the member / earlier id)."""
    doc_id, value = item
    root = roots.get(doc_id)
    if root is not None:  # else in no component: canonical by default
        yield root, value


class _Decide(beam.DoFn):
    def __init__(self, config: NearDupConfig) -> None:
        self.rule = config.rule()

    def setup(self) -> None:
        self.sizes = Metrics.distribution(METRICS_NAMESPACE, f"{STAGE}.component_size")

    def process(self, element):
        _root, parts = element
        members, edges = [], []
        for part in parts:
            (edges if hasattr(part, "similarity") else members).append(part)
        if all(m.fixed is not None for m in members):
            return
        self.sizes.update(len(members))
        earlier_clusters = {m.fixed.cluster_id for m in members if m.fixed is not None}
        for status in decide(members, edges, self.rule).values():
            if not status.is_canonical and status.cluster_id in earlier_clusters:
                counter(STAGE, "joined_earlier_run")
            yield status


class _Apply(beam.DoFn):
    def __init__(self, drop_duplicates: bool) -> None:
        self.drop_duplicates = drop_duplicates

    def process(self, element):
        doc_id, grouped = element
        statuses = list(grouped["status"])
        status = statuses[0] if statuses else Status(doc_id, True, doc_id)
        for article in grouped["article"]:
            applied = apply_decision(article, status, self.drop_duplicates)
            if applied is not None:
                yield applied


def _keyed(label: str, pcoll, key):
    return pcoll | label >> beam.Map(lambda x: (key(x), x)).with_output_types(Tuple[str, Any])


def _ids_of_pair(element):
    (earlier, later), _exact = element
    yield earlier, True
    yield later, True


class NearDuplicateDecisions(beam.PTransform):
    """(articles, stored texts) → ``{"decisions": Status, "articles": cleaned Article}``.

    ``decisions`` holds a ``Status`` for each new article that has a compatible
    neighbour; an article without one is canonical (``Status(id, True, id)``).
    ``ClusterNearDuplicates`` joins the two; ``marsad dedup`` needs only the decisions,
    so the articles are never shuffled there.
    """

    def __init__(self, config: NearDupConfig | None = None) -> None:
        super().__init__()
        self.config = config or NearDupConfig()

    def expand(self, inputs):
        config = self.config
        rule = config.rule()
        articles, stored = inputs if isinstance(inputs, tuple) else (inputs, None)

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
        ).with_outputs(_FINGERPRINTS, _KEYS, main="articles")
        fps, keys = [cleaned[_FINGERPRINTS]], [cleaned[_KEYS]]
        if stored is not None:
            old = stored | "FingerprintStored" >> beam.ParDo(
                _FingerprintStored(config)
            ).with_outputs(_KEYS, main="fingerprints")
            fps.append(old.fingerprints)
            keys.append(old[_KEYS])
        all_fps = tuple(fps) | "AllFingerprints" >> beam.Flatten()

        pairs = (
            tuple(keys)
            | "AllBucketEntries" >> beam.Flatten()
            | "TypedEntries" >> beam.Map(lambda kv: kv).with_output_types(Tuple[int, bytes])
            | "GroupByShard" >> beam.GroupByKey()
            | "BucketPairs"
            >> beam.ParDo(_PairsOfShard(config.max_bucket_pairs)).with_output_types(
                Tuple[Tuple[str, str], bool]
            )
            | "DistinctPairs" >> beam.CombinePerKey(any)
        )
        # Only documents of some candidate pair are shuffled to be compared.
        paired = beam.pvalue.AsDict(
            pairs
            | "PairedIds" >> beam.FlatMap(_ids_of_pair).with_output_types(Tuple[str, bool])
            | "DistinctIds" >> beam.CombinePerKey(any)
        )
        compared_fps = all_fps | "OnlyPaired" >> beam.Filter(
            lambda fp, ids: fp.doc_id in ids, paired
        )
        by_earlier = pairs | "ByEarlier" >> beam.MapTuple(
            lambda pair, exact: (pair[0], (pair[1], exact))
        ).with_output_types(Tuple[str, Tuple[str, bool]])
        candidates = (
            {
                "fp": _keyed("FingerprintById", compared_fps, lambda fp: fp.doc_id),
                "later": by_earlier,
            }
            | "JoinEarlier" >> beam.CoGroupByKey()
            | "Candidates" >> beam.FlatMap(_candidates).with_output_types(Tuple[str, Any])
        )
        new_compared = compared_fps | "NewOnly" >> beam.Filter(lambda fp: fp.is_new)
        edges = (
            {"fp": _keyed("NewById", new_compared, lambda fp: fp.doc_id), "candidates": candidates}
            | "JoinLater" >> beam.CoGroupByKey()
            | "Verify" >> beam.ParDo(_Verify(config))
        )

        links = (
            edges | "Links" >> beam.FlatMap(_links, rule),
            all_fps | "FixedLinks" >> beam.FlatMap(_fixed_links),
        ) | "AllLinks" >> beam.Flatten()
        roots = beam.pvalue.AsSingleton(
            links | "Components" >> beam.CombineGlobally(_UnionFindFn())
        )
        members = all_fps | "Members" >> beam.Map(
            lambda fp: (fp.doc_id, fp.member())
        ).with_output_types(Tuple[str, Any])
        keyed_edges = _keyed("EdgeByEarlier", edges, lambda e: e.a)
        decisions = (
            (
                members | "MemberComponent" >> beam.FlatMap(_in_component, roots),
                keyed_edges | "EdgeComponent" >> beam.FlatMap(_in_component, roots),
            )
            | "ComponentParts" >> beam.Flatten()
            | "TypedParts" >> beam.Map(lambda kv: kv).with_output_types(Tuple[str, Any])
            | "GroupByComponent" >> beam.GroupByKey()
            | "Decide" >> beam.ParDo(_Decide(config))
        )
        return {"decisions": decisions, "articles": cleaned.articles}


class ClusterNearDuplicates(beam.PTransform):
    """(articles, stored texts) → articles with cluster_id, is_canonical, is_duplicate,
    duplicate_of and duplicate_similarity set (see ``marsad.dedup.clusters`` for the rule).

    ``inputs`` is ``(articles, stored)`` where ``stored`` is a PCollection of
    ``StoredText`` (``ReadStoredTexts``), or just ``articles``. With
    ``config.drop_duplicates`` flagged rows are counted (``dedup_near.dropped``)
    and left out.
    """

    def __init__(self, config: NearDupConfig | None = None) -> None:
        super().__init__()
        self.config = config or NearDupConfig()

    def expand(self, inputs):
        parts = inputs | "Decisions" >> NearDuplicateDecisions(self.config)
        return (
            {
                "article": _keyed("ArticleById", parts["articles"], lambda a: a.article_id),
                "status": _keyed("DecisionById", parts["decisions"], lambda s: s.doc_id),
            }
            | "JoinDecisions" >> beam.CoGroupByKey()
            | "Apply" >> beam.ParDo(_Apply(self.config.drop_duplicates))
        )
