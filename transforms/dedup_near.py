"""ClusterNearDuplicates: exact and near-duplicate clusters across outlets and runs.

The stages of ``marsad.dedup.neardup`` as Beam steps, each keyed so that it scales out
(no all-pairs step):

    CountOutletLines   (outlet, edge line) → pages; frequent ones become a side input
    Clean              boilerplate and repeated paragraphs out; both views fingerprinted;
                       one (bucket key, rank) per LSH band and content hash, gathered
                       per shard for the whole bundle (one record per shard touched)
    Buckets            keyed by bucket → candidate pairs (earlier, later)
    Verify             keyed by document id (two joins) → exact similarity in both
                       views; compatible pairs become edges (``transforms/dedup_pairs.py``)
    Components         linked pairs and fixed clusters → union-find (a combine: ids of
                       documents with a link, not texts) → component of each document
    Decide             keyed by component: constrained agglomeration
                       (``marsad.dedup.clusters``) → a decision per new document
    Apply              each cleaned Article with its decision (a side input by article
                       id; an article in no component is canonical) → the cluster fields

Rows of earlier runs (``StoredText``) take part with the decision they were written
with; they are never re-emitted. Every step is a function of its key's values, so the
result does not depend on bundling or input order, and equals ``neardup.cluster``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics
from apache_beam.typehints import Any, Tuple
from apache_beam.utils.windowed_value import WindowedValue

from marsad.dedup.clusters import Status, UnionFind, decide, fixed_unit
from marsad.dedup.fingerprint import (
    pack_bucket_entry,
    pack_rank,
    shard_of,
)
from marsad.dedup.neardup import (
    Fingerprint,
    NearDupConfig,
    bucket_keys,
    pack_fingerprint,
)
from marsad.text.boilerplate import article_key, edge_lines
from schemas.records import Article
from transforms.common import METRICS_NAMESPACE, counter
from transforms.dedup_pairs import (
    ConcatEntries,
    PairsOfShard,
    ShardBlobs,
    Verify,
    ask_record,
    candidate_records,
    ids_of_pair,
    own_if_paired,
)
from transforms.dedup_records import (
    STAGE,
    apply_decision,
    clean_and_fingerprint,
    published_micros,
    stored_fingerprint,
)
from transforms.pooled import InOrderPool
from transforms.stored_texts import StoredText

_FINGERPRINTS = "fingerprints"
_MEMBERS = "members"
_KEYS = "keys"


def _bucket_entries(fp: Fingerprint, config: NearDupConfig) -> list[tuple]:
    """One compact (shard, entry) per bucket key of the fingerprint."""
    rank = pack_rank(fp.rank)
    return [(shard_of(key), pack_bucket_entry(key, rank)) for key in bucket_keys(fp, config)]


def _outputs(fp: Fingerprint):
    """The fingerprint as the shuffles carry it: packed (for verification) and as a small
    ``Member`` (for components). Its bucket entries leave with the bundle's
    (``_shard_outputs``)."""
    yield pvalue.TaggedOutput(_FINGERPRINTS, (fp.doc_id, pack_fingerprint(fp)))
    yield pvalue.TaggedOutput(_MEMBERS, (fp.doc_id, fp.member()))


def _shard_outputs(gathered: ShardBlobs):
    for window, record in gathered.drain():
        yield pvalue.TaggedOutput(_KEYS, WindowedValue(record, window.max_timestamp(), (window,)))


def _gather(gathered: ShardBlobs, entries: list[tuple], window):
    """Add a document's bucket entries; what was gathered leaves early once at the cap."""
    gathered.add(entries, window)
    if gathered.full:
        yield from _shard_outputs(gathered)


def _clean_article(
    element: tuple[Article, frozenset],
    config: NearDupConfig,
    after: Callable[[Article], Article] | None = None,
):
    """(article, edge lines of its outlet) → (cleaned article, what was removed, its
    fingerprint, its bucket entries): a pure function, run in a worker process.
    ``after`` runs on the cleaned article in the same call (see ClusterNearDuplicates)."""
    article, lines = element
    article, cleaned, fp = clean_and_fingerprint(article, lines, config, published_micros(article))
    entries = _bucket_entries(fp, config)
    if after is not None:
        article = after(article)
    return article, cleaned.repeats_removed, cleaned.boilerplate_removed, fp, entries


class _CleanAndFingerprint(beam.DoFn):
    """Article → cleaned Article (main), its Fingerprint and its bucket keys (tagged).

    Cleaning, shingling and MinHash run in the worker processes (``marsad.workers``):
    this step waits for the whole extraction (its side input counts every page's edge
    lines), so in one process it would leave the other cores idle. With ``workers <= 1``
    the same function runs inline."""

    def __init__(self, config: NearDupConfig, workers: int = 1, after=None) -> None:
        self.config = config
        self.workers = workers
        self.after = after

    def setup(self) -> None:
        self._work = partial(_clean_article, config=self.config, after=self.after)
        self._pool = InOrderPool(self.workers)

    def start_bundle(self) -> None:
        self._pool.reset()
        self._entries = ShardBlobs()

    def process(
        self,
        article: Article,
        outlet_lines,
        timestamp=beam.DoFn.TimestampParam,
        window=beam.DoFn.WindowParam,
    ):
        counter(STAGE, "in")
        element = (article, outlet_lines.get(article.source, frozenset()))
        for result, (when, where) in self._pool.submit(self._work, element, (timestamp, window)):
            yield from self._outputs(result, when, where)

    def finish_bundle(self):
        for result, (when, where) in self._pool.drain():
            yield from self._outputs(result, when, where)
        yield from _shard_outputs(self._entries)

    def _outputs(self, result, timestamp, window):
        article, repeats_removed, boilerplate_removed, fp, entries = result
        if repeats_removed:
            counter(STAGE, "cleaned.repeated_paragraphs")
        if boilerplate_removed:
            counter(STAGE, "cleaned.boilerplate")
        # Results drained in finish_bundle need their element's timestamp and window.
        yield WindowedValue(article, timestamp, (window,))
        for output in _outputs(fp):
            yield pvalue.TaggedOutput(output.tag, WindowedValue(output.value, timestamp, (window,)))
        yield from _gather(self._entries, entries, window)


class _FingerprintStored(beam.DoFn):
    def __init__(self, config: NearDupConfig) -> None:
        self.config = config

    def start_bundle(self) -> None:
        self._entries = ShardBlobs()

    def process(self, row: StoredText, window=beam.DoFn.WindowParam):
        fp = stored_fingerprint(row, self.config, row.published_at_us or None)
        yield from _outputs(fp)
        yield from _gather(self._entries, _bucket_entries(fp, self.config), window)

    def finish_bundle(self):
        yield from _shard_outputs(self._entries)


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


def _fixed_links(item):
    doc_id, member = item
    if member.fixed is not None:
        yield doc_id, fixed_unit(member.fixed)


def _in_component(item, roots):
    """(root, member) for a member of a component."""
    doc_id, value = item
    root = roots.get(doc_id)
    if root is not None:  # else in no component: canonical by default
        yield root, value


def _edge_in_component(edge, roots):
    """(root, edge) for an edge of a component (found by its earlier document)."""
    root = roots.get(edge.a)
    if root is not None:
        yield root, edge


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
    """Article → the article with its decision (``decisions``: id → Status, for the
    articles that have a compatible neighbour; any other is canonical)."""

    def __init__(self, drop_duplicates: bool) -> None:
        self.drop_duplicates = drop_duplicates

    def process(self, article: Article, decisions):
        doc_id = article.article_id
        status = decisions.get(doc_id) or Status(doc_id, True, doc_id)
        applied = apply_decision(article, status, self.drop_duplicates)
        if applied is not None:
            yield applied


def _edge_lines_of(article: Article) -> list[tuple[tuple[str, str], bytes]]:
    """((outlet, edge line), which article) for each candidate outlet line of ``article``."""
    key = article_key(article.title, article.article_id, article.sitename or "")
    return [((article.source, line), key) for line in edge_lines(article.text or "")]


class CountDistinctUpTo(beam.CombineFn):
    """How many distinct values a key has, counted up to ``cap`` (all a threshold of
    ``cap`` needs to know): each accumulator holds at most ``cap`` values."""

    def __init__(self, cap: int) -> None:
        self.cap = max(1, cap)

    def create_accumulator(self) -> set:
        return set()

    def add_input(self, seen: set, value) -> set:
        if len(seen) < self.cap:
            seen.add(value)
        return seen

    def merge_accumulators(self, accumulators) -> set:
        merged: set = set()
        for seen in accumulators:
            for value in seen:
                if len(merged) >= self.cap:
                    return merged
                merged.add(value)
        return merged

    def extract_output(self, seen: set) -> int:
        return len(seen)


class NearDuplicateDecisions(beam.PTransform):
    """(articles, stored texts) → ``{"decisions": Status, "articles": cleaned Article}``.

    ``decisions`` holds a ``Status`` for each new article that has a compatible
    neighbour; an article without one is canonical (``Status(id, True, id)``).
    ``ClusterNearDuplicates`` joins the two; ``marsad dedup`` needs only the decisions,
    so the articles are never shuffled there.
    """

    def __init__(self, config: NearDupConfig | None = None, workers: int = 1, after=None) -> None:
        super().__init__()
        self.config = config or NearDupConfig()
        self.workers = workers
        self.after = after

    def expand(self, inputs):
        config = self.config
        rule = config.rule()
        articles, stored = inputs if isinstance(inputs, tuple) else (inputs, None)

        outlet_lines = (
            articles
            | "EdgeLines"
            >> beam.FlatMap(_edge_lines_of).with_output_types(Tuple[Tuple[str, str], bytes])
            | "CountOutletLines" >> beam.CombinePerKey(CountDistinctUpTo(config.min_outlet_pages))
            | "FrequentLines"
            >> beam.FlatMapTuple(
                lambda key, count: [key] if count >= config.min_outlet_pages else []
            ).with_output_types(Tuple[str, str])
            | "GroupBySource" >> beam.GroupByKey()
            | "LineSets" >> beam.MapTuple(lambda source, lines: (source, frozenset(lines)))
        )
        cleaned = articles | "Clean" >> beam.ParDo(
            _CleanAndFingerprint(config, self.workers, self.after), beam.pvalue.AsDict(outlet_lines)
        ).with_outputs(_FINGERPRINTS, _MEMBERS, _KEYS, main="articles")
        new_fps = cleaned[_FINGERPRINTS]
        fps, members, keys = [new_fps], [cleaned[_MEMBERS]], [cleaned[_KEYS]]
        if stored is not None:
            old = stored | "FingerprintStored" >> beam.ParDo(
                _FingerprintStored(config)
            ).with_outputs(_FINGERPRINTS, _MEMBERS, _KEYS)
            fps.append(old[_FINGERPRINTS])
            members.append(old[_MEMBERS])
            keys.append(old[_KEYS])
        all_fps = tuple(fps) | "AllFingerprints" >> beam.Flatten()
        all_members = tuple(members) | "AllMembers" >> beam.Flatten().with_output_types(
            Tuple[str, Any]
        )

        pairs = (
            tuple(keys)
            | "AllBucketEntries" >> beam.Flatten().with_output_types(Tuple[int, bytes])
            | "GroupByShard" >> beam.CombinePerKey(ConcatEntries())
            | "BucketPairs"
            >> beam.ParDo(PairsOfShard(config.max_bucket_pairs)).with_output_types(
                Tuple[Tuple[str, str], bool]
            )
            | "DistinctPairs" >> beam.CombinePerKey(any)
        )
        # Only documents of some candidate pair are shuffled to be compared, packed.
        paired = beam.pvalue.AsDict(
            pairs
            | "PairedIds" >> beam.FlatMap(ids_of_pair).with_output_types(Tuple[str, bool])
            | "DistinctIds" >> beam.CombinePerKey(any)
        )

        def only_paired(label, pcoll):
            return pcoll | label >> beam.Filter(lambda kv, ids: kv[0] in ids, paired)

        own = all_fps | "OwnEarlier" >> beam.FlatMap(own_if_paired, paired).with_output_types(
            Tuple[str, bytes]
        )
        asks = pairs | "Asks" >> beam.Map(ask_record).with_output_types(Tuple[str, bytes])
        candidates = (
            (own, asks)
            | "ToEarlier" >> beam.Flatten()
            | "JoinEarlier" >> beam.GroupByKey()
            | "Candidates" >> beam.FlatMap(candidate_records).with_output_types(Tuple[str, bytes])
        )
        later_fps = beam.pvalue.AsDict(only_paired("PairedNew", new_fps))
        edges = candidates | "Verify" >> beam.ParDo(Verify(config), later_fps)

        links = (
            edges | "Links" >> beam.FlatMap(_links, rule),
            all_members | "FixedLinks" >> beam.FlatMap(_fixed_links),
        ) | "AllLinks" >> beam.Flatten()
        # No links: no components (every article canonical).
        roots = beam.pvalue.AsSingleton(
            links | "Components" >> beam.CombineGlobally(_UnionFindFn()).without_defaults(),
            default_value={},
        )
        decisions = (
            (
                all_members | "MemberComponent" >> beam.FlatMap(_in_component, roots),
                edges | "EdgeComponent" >> beam.FlatMap(_edge_in_component, roots),
            )
            | "ComponentParts" >> beam.Flatten().with_output_types(Tuple[str, Any])
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
    and left out. ``after``: a pure function of a cleaned article, run in the cleaning
    step's worker call (the batch graph tags there, ``transforms/tag.py`` ``tag_ahead``,
    so that an article goes to a worker once after extraction, not twice).
    """

    def __init__(
        self,
        config: NearDupConfig | None = None,
        workers: int = 1,
        after: Callable[[Article], Article] | None = None,
    ) -> None:
        super().__init__()
        self.config = config or NearDupConfig()
        self.workers = workers
        self.after = after

    def expand(self, inputs):
        parts = inputs | "Decisions" >> NearDuplicateDecisions(
            self.config, self.workers, self.after
        )
        # The decisions (one per article with a neighbour, small) join the cleaned
        # articles as a side input: the articles are not keyed and shuffled again.
        decisions = beam.pvalue.AsDict(
            parts["decisions"]
            | "DecisionById"
            >> beam.Map(lambda status: (status.doc_id, status)).with_output_types(Tuple[str, Any])
        )
        return parts["articles"] | "Apply" >> beam.ParDo(
            _Apply(self.config.drop_duplicates), decisions
        )
