"""Clustering rules compared in ``dedup_eval.py``, all over the same verified pairs.

Each rule takes the documents' ranks and the candidate pairs with their exact
similarity in both views (``PairSimilarity``) and returns a cluster label per document.
Only ``constrained_most_links`` is the product's rule (``marsad.dedup.clusters``); the
others are the alternatives ``docs/dedup.md`` weighs it against.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from marsad.dedup.clusters import Edge, Member, Rule, UnionFind, decide
from marsad.dedup.fingerprint import PairSimilarity, Rank

Pairs = dict[tuple[str, str], PairSimilarity]  # (earlier, later) -> similarity
Labels = dict[str, str]


def _adjacency(pairs: Pairs) -> dict[str, dict[str, PairSimilarity]]:
    adjacent: dict[str, dict[str, PairSimilarity]] = defaultdict(dict)
    for (a, b), similarity in pairs.items():
        adjacent[a][b] = adjacent[b][a] = similarity
    return adjacent


def star(ranks: dict[str, Rank], pairs: Pairs, rule: Rule, view: str = "cleaned") -> Labels:
    """The previous rule: in rank order, join the most similar earlier canonical at or
    above the threshold (``view``: "cleaned" as shipped before, or "both" = link)."""

    def linked(s: PairSimilarity) -> float:
        if view == "cleaned":
            return s.cleaned if s.cleaned >= rule.threshold else -1.0
        return s.strongest if rule.linked(s) else -1.0

    adjacent = _adjacency(pairs)
    label: Labels = {}
    for doc_id in sorted(ranks, key=ranks.get):
        options = [
            (-linked(s), ranks[other], other)
            for other, s in adjacent[doc_id].items()
            if other in label and label[other] == other and linked(s) >= 0
        ]
        label[doc_id] = min(options)[2] if options else doc_id
    return label


def _compatible_with_all(doc_id, members, adjacent, rule) -> bool:
    row = adjacent[doc_id]
    return all(m in row and rule.compatible(row[m]) for m in members)


def reattach(ranks: dict[str, Rank], pairs: Pairs, rule: Rule, rounds: int = 3) -> Labels:
    """Star clustering, then each member moves to the cluster it has most links into,
    if compatible with all of it (re-attachment after a first pass)."""
    adjacent = _adjacency(pairs)
    label = star(ranks, pairs, rule, view="both")
    members: dict[str, set[str]] = defaultdict(set)
    for doc_id, cluster in label.items():
        members[cluster].add(doc_id)
    for _ in range(rounds):
        moved = False
        for doc_id in sorted(ranks, key=ranks.get):
            row = adjacent[doc_id]
            here = members[label[doc_id]] - {doc_id}
            best = (sum(1 for m in here if m in row and rule.linked(row[m])), label[doc_id])
            for cluster in sorted({label[o] for o, s in row.items() if rule.linked(s)}):
                group = members[cluster]
                if cluster == label[doc_id] or not _compatible_with_all(
                    doc_id, group, adjacent, rule
                ):
                    continue
                links = sum(1 for m in group if rule.linked(row[m]))
                if links > best[0]:
                    best = (links, cluster)
            if best[1] != label[doc_id]:
                members[label[doc_id]].discard(doc_id)
                members[best[1]].add(doc_id)
                label[doc_id] = best[1]
                moved = True
        if not moved:
            break
    return _relabel(label, ranks)


def merge_stars(ranks: dict[str, Rank], pairs: Pairs, rule: Rule) -> Labels:
    """Star clustering, then stars whose canonicals are linked merge when every pair of
    the two stars is compatible."""
    adjacent = _adjacency(pairs)
    label = star(ranks, pairs, rule, view="both")
    members: dict[str, list[str]] = defaultdict(list)
    for doc_id, cluster in label.items():
        members[cluster].append(doc_id)
    links = sorted(
        (-s.strongest, ranks[a], ranks[b], a, b)
        for (a, b), s in pairs.items()
        if rule.linked(s) and label[a] == a and label[b] == b
    )
    for *_, a, b in links:
        ka, kb = label[a], label[b]
        if ka == kb or not all(
            _compatible_with_all(x, members[kb], adjacent, rule) for x in members[ka]
        ):
            continue
        keep, gone = (ka, kb) if ranks[ka] < ranks[kb] else (kb, ka)
        for doc_id in members.pop(gone):
            label[doc_id] = keep
            members[keep].append(doc_id)
    return label


def agglomerate(ranks: dict[str, Rank], pairs: Pairs, rule: Rule, linkage: str) -> Labels:
    """Constrained agglomeration with another merge order: "single" (strongest link
    first) or "average" (highest mean similarity over all cross pairs, at least the
    threshold: verified average link). Both keep every pair compatible."""
    adjacent = _adjacency(pairs)
    found = UnionFind()
    for (a, b), s in pairs.items():
        if rule.linked(s):
            found.union(a, b)
    label: Labels = {doc_id: doc_id for doc_id in ranks}
    groups: dict[str, list[str]] = defaultdict(list)
    for doc_id, root in found.roots().items():
        groups[root].append(doc_id)
    for group in groups.values():
        units = {doc_id: [doc_id] for doc_id in group}
        while True:
            best = None
            keys = sorted(units, key=ranks.get)
            for i, u in enumerate(keys):
                for v in keys[i + 1 :]:
                    cross = [(x, y) for x in units[u] for y in units[v]]
                    sims = [adjacent[x].get(y) for x, y in cross]
                    if any(s is None or not rule.compatible(s) for s in sims):
                        continue
                    linked = [s.strongest for s in sims if rule.linked(s)]
                    if not linked:
                        continue
                    if linkage == "single":
                        score = max(linked)
                    else:
                        score = sum(s.strongest for s in sims) / len(sims)
                        if score < rule.threshold:
                            continue
                    key = (-score, ranks[u], ranks[v])
                    if best is None or key < best[0]:
                        best = (key, u, v)
            if best is None:
                break
            _, u, v = best
            units[u].extend(units.pop(v))
        for unit in units.values():
            for doc_id in unit:
                label[doc_id] = unit[0]
    return _relabel(label, ranks)


def closure(ranks: dict[str, Rank], pairs: Pairs, rule: Rule) -> Labels:
    """Transitive closure of links (no compatibility check)."""
    found = UnionFind()
    for doc_id in ranks:
        found.find(doc_id)
    for (a, b), s in pairs.items():
        if rule.linked(s):
            found.union(a, b)
    return _relabel(found.roots(), ranks)


def containment_links(
    ranks: dict[str, Rank], pairs: Pairs, rule: Rule, containment: dict[tuple[str, str], float]
) -> Labels:
    """The product's rule with one more kind of link: a truncated copy (at least 80% of
    the shorter text inside the longer) when the longer is at most twice as long (the
    guard against a digest, which contains whole stories but is much longer)."""
    boosted = dict(pairs)
    for key, value in containment.items():
        s = pairs[key]
        if value >= 0.8 and rule.compatible(s) and not rule.linked(s):
            boosted[key] = PairSimilarity(max(s.cleaned, rule.threshold), s.published)
    return constrained_most_links(ranks, boosted, rule)


def constrained_most_links(ranks: dict[str, Rank], pairs: Pairs, rule: Rule) -> Labels:
    """The product's rule (``marsad.dedup.clusters.decide``)."""
    members = [Member(doc_id, rank) for doc_id, rank in ranks.items()]
    edges = [Edge(a, b, s) for (a, b), s in pairs.items() if rule.compatible(s)]
    return {doc_id: status.cluster_id for doc_id, status in decide(members, edges, rule).items()}


def _relabel(label: Labels, ranks: dict[str, Rank]) -> Labels:
    """Label each cluster by its first-ranked member (the canonical)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for doc_id, cluster in label.items():
        groups[cluster].append(doc_id)
    out: Labels = {}
    for group in groups.values():
        first = min(group, key=ranks.get)
        for doc_id in group:
            out[doc_id] = first
    return out


RULES: dict[str, Callable[..., Labels]] = {
    "star, cleaned view (before)": lambda r, p, rule, c: star(r, p, rule, "cleaned"),
    "star, both views": lambda r, p, rule, c: star(r, p, rule, "both"),
    "star + re-attach": lambda r, p, rule, c: reattach(r, p, rule),
    "star + merge near canonicals": lambda r, p, rule, c: merge_stars(r, p, rule),
    "transitive closure of links": lambda r, p, rule, c: closure(r, p, rule),
    "verified average link": lambda r, p, rule, c: agglomerate(r, p, rule, "average"),
    "constrained, strongest link first": lambda r, p, rule, c: agglomerate(r, p, rule, "single"),
    "constrained, most links + containment": lambda r, p, rule, c: containment_links(r, p, rule, c),
    "constrained, most links (chosen)": lambda r, p, rule, c: constrained_most_links(r, p, rule),
}
