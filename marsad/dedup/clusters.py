"""Clusters from verified pairs: join copies of a story, never two different stories.

Every candidate pair is compared exactly (``PairSimilarity``: both views). Then:

* a pair is **linked** (the same story) when its stronger view reaches ``threshold``
  (0.5) and its weaker view reaches ``min_pair`` (0.3);
* a pair is **compatible** when its weaker view reaches ``min_pair``; a pair never
  compared (not an LSH candidate: almost surely far below ``min_pair``) is not.

A cluster is a set of documents in which **every pair is compatible**, grown along
links. Star clustering (every member similar to one canonical) splits a story
whenever the canonical is the odd copy out (a dateline, a cut paragraph); transitive
closure of links chains a digest to the stories it quotes. Here clusters are built
by *constrained agglomeration*: start from single documents (and the clusters fixed
earlier: rows of earlier runs, rows a stream already wrote); repeatedly merge the two
clusters joined by the **most links** (then the strongest link, then the earliest
documents) among the pairs of clusters that are compatible throughout and not both
fixed. Maximising links kept together is the objective itself (pairs of one story
in one cluster), and the compatibility constraint is what keeps digests, follow-ups
and round-ups out: a digest quoting two stories is incompatible with one of them.
``docs/dedup.md`` compares this rule with star clustering, re-attachment, average
link and closure on real syndicated pairs.

Links only matter inside a connected component of the link graph, so the work is
done per component (``components``), each independent of the others.

The canonical row of a cluster is its fixed canonical if it has one, else its
first-ranked member (earliest published, then most words, then smallest id); every
other member names it as ``duplicate_of``, with their similarity (the stronger view;
every pair inside a cluster is compared, so it is known unless the canonical is a row
of an earlier run outside the look-back).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from marsad.dedup.fingerprint import PairSimilarity, Rank


@dataclass(frozen=True)
class Status:
    """A clustering decision. Canonical rows have ``cluster_id == doc_id``."""

    doc_id: str
    is_canonical: bool
    cluster_id: str
    duplicate_of: str = ""
    similarity: float | None = None


@dataclass(frozen=True)
class Member:
    """A document of a component. ``fixed``: decided before (an earlier run, a written
    stream row), so it keeps its cluster. ``compared``: its text takes part in
    verification; a row known only by its content hash, or a text too short to
    shingle meaningfully, joins by identity and is not checked against the rest."""

    doc_id: str
    rank: Rank
    fixed: Status | None = None
    compared: bool = True


@dataclass(frozen=True)
class Edge:
    """A verified pair (ids in any order) that is at least compatible."""

    a: str
    b: str
    similarity: PairSimilarity


@dataclass(frozen=True)
class Rule:
    threshold: float  # a link: the stronger view at least this
    min_pair: float  # every pair of a cluster: the weaker view at least this

    def linked(self, similarity: PairSimilarity) -> bool:
        return similarity.strongest >= self.threshold and similarity.weakest >= self.min_pair

    def compatible(self, similarity: PairSimilarity) -> bool:
        return similarity.weakest >= self.min_pair


class UnionFind:
    """Components of the link graph (path halving; the smaller root wins, so roots are stable)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        parent = self.parent
        parent.setdefault(item, item)
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            low, high = (ra, rb) if ra < rb else (rb, ra)
            self.parent[high] = low

    def merge(self, other: UnionFind) -> UnionFind:
        for item, parent in other.parent.items():
            self.union(item, parent)
        return self

    def roots(self) -> dict[str, str]:
        return {item: self.find(item) for item in list(self.parent)}


def fixed_unit(status: Status) -> str:
    """The union-find node standing for a fixed cluster (never an article id)."""
    return "\x00cluster:" + status.cluster_id


def components(members: Iterable[Member], edges: Iterable[Edge], rule: Rule) -> list[list[str]]:
    """Connected components (lists of ids) of links and fixed clusters; singletons included."""
    found = UnionFind()
    for member in members:
        found.find(member.doc_id)
        if member.fixed is not None:
            found.union(member.doc_id, fixed_unit(member.fixed))
    for edge in edges:
        if rule.linked(edge.similarity):
            found.union(edge.a, edge.b)
    groups: dict[str, list[str]] = defaultdict(list)
    for item, root in found.roots().items():
        if not item.startswith("\x00"):
            groups[root].append(item)
    return list(groups.values())


class _Units:
    """Clusters being merged, with link and compatibility counts between pairs of them."""

    def __init__(self, members: list[Member], edges: list[Edge], rule: Rule) -> None:
        self.by_id = {m.doc_id: m for m in members}
        self.unit: dict[str, str] = {}
        self.members: dict[str, list[str]] = defaultdict(list)
        for member in sorted(members, key=lambda m: m.rank):
            label = fixed_unit(member.fixed) if member.fixed else member.doc_id
            self.unit[member.doc_id] = label
            self.members[label].append(member.doc_id)
        self.fixed = {u: self.by_id[ids[0]].fixed is not None for u, ids in self.members.items()}
        self.first = {u: self.by_id[ids[0]].rank for u, ids in self.members.items()}
        self.compared = {
            u: sum(self.by_id[i].compared for i in ids) for u, ids in self.members.items()
        }
        # (u, v) with u < v -> [links, compatible compared pairs, strongest link]
        self.between: dict[tuple[str, str], list] = {}
        self.neighbours: dict[str, set[str]] = defaultdict(set)
        for edge in edges:
            if edge.a not in self.unit or edge.b not in self.unit:
                continue
            u, v = self.unit[edge.a], self.unit[edge.b]
            if u == v:
                continue
            stats = self._stats(u, v)
            if rule.linked(edge.similarity):
                stats[0] += 1
                stats[2] = max(stats[2], edge.similarity.strongest)
            if self.by_id[edge.a].compared and self.by_id[edge.b].compared:
                stats[1] += rule.compatible(edge.similarity)

    def _stats(self, u: str, v: str) -> list:
        key = (u, v) if u < v else (v, u)
        if key not in self.between:
            self.between[key] = [0, 0, 0.0]
            self.neighbours[u].add(v)
            self.neighbours[v].add(u)
        return self.between[key]

    def mergeable(self, u: str, v: str) -> bool:
        links, compatible, _ = self.between[(u, v) if u < v else (v, u)]
        whole = compatible == self.compared[u] * self.compared[v]
        return links > 0 and whole and not (self.fixed[u] and self.fixed[v])

    def priority(self, u: str, v: str) -> tuple:
        links, _, strongest = self.between[(u, v) if u < v else (v, u)]
        early, late = sorted((self.first[u], self.first[v]))
        return (-links, -strongest, early, late)

    def merge(self, u: str, v: str) -> str:
        """Merge the two units; the one with the fixed or first-ranked canonical stays."""
        if self.fixed[v] or (not self.fixed[u] and self.first[v] < self.first[u]):
            u, v = v, u
        for doc_id in self.members[v]:
            self.unit[doc_id] = u
        self.members[u].extend(self.members.pop(v))
        self.fixed[u] = self.fixed[u] or self.fixed.pop(v)
        self.first[u] = min(self.first[u], self.first.pop(v))
        self.compared[u] += self.compared.pop(v)
        del self.between[(u, v) if u < v else (v, u)]
        self.neighbours[u].discard(v)
        self.neighbours[v].discard(u)
        for other in self.neighbours.pop(v):
            self.neighbours[other].discard(v)
            moved = self.between.pop((v, other) if v < other else (other, v))
            stats = self._stats(u, other)
            stats[0] += moved[0]
            stats[1] += moved[1]
            stats[2] = max(stats[2], moved[2])
        return u


def agglomerate(members: list[Member], edges: list[Edge], rule: Rule) -> dict[str, str]:
    """Unit label per document after constrained agglomeration (see module doc)."""
    units = _Units(members, edges, rule)
    heap: list = []
    version: dict[tuple[str, str], int] = defaultdict(int)

    def push(u: str, v: str) -> None:
        key = (u, v) if u < v else (v, u)
        version[key] += 1
        if units.mergeable(u, v):
            heapq.heappush(heap, (*units.priority(u, v), version[key], key))

    for u, v in list(units.between):
        push(u, v)
    while heap:
        *_, stamp, (u, v) = heapq.heappop(heap)
        if stamp != version[(u, v)] or u not in units.members or v not in units.members:
            continue  # stale: one of them merged since, or the counts changed
        kept = units.merge(u, v)
        for other in list(units.neighbours[kept]):
            push(kept, other)
    return dict(units.unit)


def decide_component(members: list[Member], edges: list[Edge], rule: Rule) -> dict[str, Status]:
    """Statuses of the component's members that are not fixed."""
    unit_of = agglomerate(members, edges, rule)
    by_id = {m.doc_id: m for m in members}
    similar: dict[str, dict[str, float]] = defaultdict(dict)
    for edge in edges:
        similar[edge.a][edge.b] = similar[edge.b][edge.a] = edge.similarity.strongest
    by_unit: dict[str, list[Member]] = defaultdict(list)
    for doc_id, unit in unit_of.items():
        by_unit[unit].append(by_id[doc_id])
    decided = {}
    for group in by_unit.values():
        group.sort(key=lambda m: m.rank)
        fixed = next((m.fixed for m in group if m.fixed is not None), None)
        canonical = fixed.cluster_id if fixed else group[0].doc_id
        for member in group:
            if member.fixed is not None:
                continue
            if member.doc_id == canonical:
                decided[member.doc_id] = Status(member.doc_id, True, canonical)
            else:
                similarity = similar[member.doc_id].get(canonical)  # None: not loaded
                decided[member.doc_id] = Status(
                    member.doc_id, False, canonical, canonical, similarity
                )
    return decided


def decide(members: Iterable[Member], edges: Iterable[Edge], rule: Rule) -> dict[str, Status]:
    """Statuses of every member that is not fixed, component by component."""
    members = list(members)
    unique: dict[frozenset, Edge] = {}
    for edge in edges:
        unique.setdefault(frozenset((edge.a, edge.b)), edge)
    edges = list(unique.values())
    by_id = {m.doc_id: m for m in members}
    edges_of: dict[str, list[Edge]] = defaultdict(list)
    for edge in edges:
        edges_of[edge.a].append(edge)
    decided: dict[str, Status] = {}
    for group in components(members, edges, rule):
        if len(group) == 1:
            member = by_id[group[0]]
            if member.fixed is None:
                decided[member.doc_id] = Status(member.doc_id, True, member.doc_id)
            continue
        inside = set(group)
        own = [e for doc_id in group for e in edges_of[doc_id] if e.b in inside]
        decided.update(decide_component([by_id[i] for i in group], own, rule))
    return decided
