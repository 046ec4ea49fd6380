"""Precision, recall and F1 of near-duplicate clustering, on a benchmark built at run time.

    .venv/bin/python benchmarks/dedup_eval.py [--thresholds 0.3,0.5,...] [--beam] [--json-out F]
    marsad eval dedup [same options]

Built from ``../shared/eval/`` (relative to the project root; skipped with a
message when absent) plus the project's five seed articles:

Positives (pairs that must share a cluster)
  ant_mined      mined ANT pairs with jaccard5 >= 0.5 (same story re-published)
  syndicated     an ANT article and a syndicated copy: dateline, credit line,
                 a number changed, last paragraph cut (when it is at most 30% of the
                 words), outlet boilerplate around the body; a random mix of at
                 least two edits, a fifth of the originals copied twice
  seed_copy      each seed and a syndicated copy of it
Negatives (pairs that must not)
  same_day       two ANT articles of the same category and day that the miner did
                 not pair (different stories on the same subject)
  seeds          the five seeds pairwise: overlapping events, different articles
  digest         two stories a digest quotes in full (the digest itself unlabelled),
                 published before or after them: the case where transitive closure
                 merges unrelated stories

Pairs are scored on the clusters of the whole corpus (all 31,525 ANT articles plus
the synthetic ones), so every other article can cause a false merge. The same
figures for plain transitive closure of the verified pairs are printed beside.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import re
import sys
import time
from collections import defaultdict
from datetime import UTC
from email.utils import parsedate_to_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pyarrow.parquet as pq  # noqa: E402

from marsad.dedup import neardup  # noqa: E402
from marsad.dedup.neardup import Doc, NearDupConfig  # noqa: E402

EVAL_DIR = ROOT.parent / "shared" / "eval"
SEEDS_DIR = ROOT / "marsad" / "samplesite" / "content" / "seeds"
DEFAULT_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
HOUR_US = 3_600_000_000
DIGESTS = 150

DATELINES = ["بغداد - (رويترز) - ", "واشنطن (أ ف ب) - ", "دبي - العربية.نت: ", "القاهرة - وكالات: "]
CREDITS = [
    "(إعداد محمد علي للنشرة العربية - تحرير سامح الخطيب)",
    "المصدر: وكالات",
    "ترجمة وتحرير: نون بوست",
    "المصدر: فرانس برس",
]
HEADERS = ["الرئيسية » أخبار » الشرق الأوسط", "آخر تحديث: منذ ساعتين"]
FOOTERS = [
    "شارك الخبر",
    "تابعنا على تويتر وفيسبوك",
    "الرابط المختصر https://example.net/?p=1234",
    "جميع الحقوق محفوظة © 2018",
]
_NUMBER = re.compile(r"\d+")


@dataclasses.dataclass
class Benchmark:
    docs: list[Doc]
    positives: list[tuple[str, str, str]]  # (id, id, kind)
    negatives: list[tuple[str, str, str]]


def _paragraphs(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def syndicate(text: str, rng: random.Random, edits: set[str] | None = None) -> str:
    """A syndicated copy of ``text`` with a random mix of realistic edits."""
    names = ["dateline", "credit", "number", "cut", "boilerplate"]
    if edits is None:
        edits = {name for name in names if rng.random() < 0.6}
        while len(edits) < 2:
            edits.add(rng.choice(names))
    paragraphs = _paragraphs(text)
    words = [len(p.split()) for p in paragraphs]
    if "cut" in edits and len(paragraphs) >= 3 and words[-1] <= 0.3 * sum(words):
        paragraphs = paragraphs[:-1]
    if "number" in edits:
        spots = [(i, m) for i, p in enumerate(paragraphs) for m in _NUMBER.finditer(p)]
        if spots:
            i, match = rng.choice(spots)
            changed = str(int(match.group()) + rng.randint(1, 9))
            paragraphs[i] = paragraphs[i][: match.start()] + changed + paragraphs[i][match.end() :]
    if "dateline" in edits:
        paragraphs[0] = rng.choice(DATELINES) + paragraphs[0]
    if "credit" in edits:
        paragraphs.append(rng.choice(CREDITS))
    if "boilerplate" in edits:
        paragraphs = HEADERS + paragraphs + rng.sample(FOOTERS, 3)
    return "\n".join(paragraphs)


def _load_ant(eval_dir: Path) -> list[dict]:
    table = pq.read_table(
        eval_dir / "arabic_text" / "ant_multisource_v2.1.parquet",
        columns=["src", "cat", "time", "text"],
    )
    rows = table.to_pylist()
    for row in rows:
        try:
            moment = parsedate_to_datetime(row["time"]).astimezone(UTC)
            row["published_us"] = int(moment.timestamp() * 1_000_000)
            row["day"] = moment.date().isoformat()
        except (TypeError, ValueError):
            row["published_us"], row["day"] = None, ""
    return rows


def build_benchmark(eval_dir: Path, seed: int = 7, copies: int = 600, negatives: int = 3000):
    rng = random.Random(seed)
    ant = _load_ant(eval_dir)
    docs = [
        Doc(f"ant{i}", r["text"] or "", r["src"] or "", r["published_us"])
        for i, r in enumerate(ant)
    ]
    mined = pq.read_table(eval_dir / "neardup" / "ant_pairs.parquet").to_pylist()
    mined_pairs = {frozenset((p["doc_a"], p["doc_b"])) for p in mined}
    positives = [
        (f"ant{p['doc_a']}", f"ant{p['doc_b']}", "ant_mined") for p in mined if p["jaccard5"] >= 0.5
    ]
    long_enough = [i for i, r in enumerate(ant) if len((r["text"] or "").split()) >= 60]
    for n, i in enumerate(rng.sample(long_enough, copies)):
        made = []
        for c in range(2 if n % 5 == 0 else 1):
            copy_id = f"syn{i}-{c}"
            published = (ant[i]["published_us"] or 0) + rng.randint(1, 48) * HOUR_US
            text = syndicate(ant[i]["text"], rng)
            docs.append(Doc(copy_id, text, f"syndicator-{rng.randint(1, 4)}", published))
            positives.append((f"ant{i}", copy_id, "syndicated"))
            made.append(copy_id)
        if len(made) == 2:
            positives.append((made[0], made[1], "syndicated"))
    seeds = sorted(SEEDS_DIR.glob("*.txt"))
    start = 1_706_000_000_000_000
    seed_ids = []
    for n, path in enumerate(seeds):
        text = path.read_text(encoding="utf-8")
        docs.append(Doc(f"seed{n}", text, f"seed-outlet-{n}", start + n * 24 * HOUR_US))
        copy = syndicate(text, rng, {"dateline", "credit", "number", "boilerplate"})
        docs.append(Doc(f"seed{n}-copy", copy, "syndicator-1", start + (n * 24 + 5) * HOUR_US))
        positives.append((f"seed{n}", f"seed{n}-copy", "seed_copy"))
        seed_ids.append(f"seed{n}")
    negative_pairs = [(a, b, "seeds") for i, a in enumerate(seed_ids) for b in seed_ids[i + 1 :]]
    by_day = defaultdict(list)
    for i, r in enumerate(ant):
        if r["day"] and len((r["text"] or "").split()) >= 30:
            by_day[(r["cat"], r["day"])].append(i)
    groups = sorted(g for g in by_day.values() if len(g) >= 2)
    chosen: set[frozenset] = set()
    while len(chosen) < negatives + DIGESTS:
        a, b = rng.sample(rng.choice(groups), 2)
        if frozenset((a, b)) not in mined_pairs:
            chosen.add(frozenset((a, b)))
    pairs = sorted(tuple(sorted(p)) for p in chosen)
    rng.shuffle(pairs)
    same_day, digested = pairs[:negatives], pairs[negatives:]
    negative_pairs += [(f"ant{a}", f"ant{b}", "same_day") for a, b in same_day]
    for n, (a, b) in enumerate(digested):
        text = "نشرة اليوم\n" + ant[a]["text"] + "\n" + ant[b]["text"]
        first = min(ant[a]["published_us"] or 0, ant[b]["published_us"] or 0)
        when = first - HOUR_US if n % 2 else first + 12 * HOUR_US
        docs.append(Doc(f"digest{n}", text, "digest-outlet", when))
        negative_pairs.append((f"ant{a}", f"ant{b}", "digest"))
    return Benchmark(docs, positives, negative_pairs)


def similar_pairs(fps, config: NearDupConfig) -> list[tuple[str, str]]:
    """The verified pairs ClusterNearDuplicates sees (for the transitive-closure baseline)."""
    bands, rows = config.banding()
    buckets = defaultdict(list)
    for fp in fps:
        for key in neardup.bucket_keys(fp, bands, rows):
            buckets[key].append(fp.rank)
    by_id = {fp.doc_id: fp for fp in fps}
    pairs = {p for m in buckets.values() if len(m) > 1 for p in neardup.bucket_pairs(m, 10**9)}
    return [
        (a, b)
        for a, b in pairs
        if neardup.jaccard(by_id[a].shingles, by_id[b].shingles) >= config.threshold
        or by_id[a].content_hash == by_id[b].content_hash != ""
    ]


def transitive_closure(ids, pairs) -> dict[str, str]:
    parent = {i: i for i in ids}

    def root(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {i: root(i) for i in ids}


def score(cluster_of: dict[str, str], bench: Benchmark) -> dict:
    """Pairwise precision / recall / F1 over the labelled pairs, with a breakdown by kind."""
    kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # kind → [same cluster, pairs]
    for a, b, kind in bench.positives + bench.negatives:
        kinds[kind][0] += cluster_of[a] == cluster_of[b]
        kinds[kind][1] += 1
    positive_kinds = {k for _, _, k in bench.positives}
    tp = sum(v[0] for k, v in kinds.items() if k in positive_kinds)
    fn = sum(v[1] - v[0] for k, v in kinds.items() if k in positive_kinds)
    fp = sum(v[0] for k, v in kinds.items() if k not in positive_kinds)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    breakdown = {
        k: f"{v[0]}/{v[1]} same cluster" for k, v in sorted(kinds.items(), key=lambda kv: kv[0])
    }
    return {"precision": precision, "recall": recall, "f1": f1, "pairs": breakdown}


def evaluate(eval_dir: Path, thresholds, use_beam: bool = False) -> dict:
    started = time.perf_counter()
    bench = build_benchmark(eval_dir)
    base = NearDupConfig()
    fps = neardup.doc_fingerprints(bench.docs, base)
    report = {
        "documents": len(bench.docs),
        "positives": len(bench.positives),
        "negatives": len(bench.negatives),
        "default_threshold": base.threshold,
        "thresholds": {},
    }
    ids = [fp.doc_id for fp in fps]
    for threshold in thresholds:
        config = dataclasses.replace(base, threshold=threshold)
        statuses = neardup.cluster(fps, config)
        star = score({i: s.cluster_id for i, s in statuses.items()}, bench)
        closure = score(transitive_closure(ids, similar_pairs(fps, config)), bench)
        star["banding"] = list(config.banding())
        star["transitive_closure"] = {k: closure[k] for k in ("precision", "recall", "f1")}
        star["transitive_closure_digest"] = closure["pairs"]["digest"]
        report["thresholds"][str(threshold)] = star
    if use_beam:
        report["beam_matches_reference"] = _beam_matches(bench, base)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def _beam_matches(bench: Benchmark, config: NearDupConfig) -> bool:
    """Run ClusterNearDuplicates on the benchmark; True when it agrees with ``cluster``."""
    from pipeline.dedup_cmd import articles_from_rows, cluster_with_beam

    rows = [
        {"id": d.doc_id, "text": d.text, "source": d.source, "published_us": d.published_us}
        for d in bench.docs
    ]
    expected = neardup.cluster_docs(bench.docs, config)
    got = cluster_with_beam(articles_from_rows(rows), config)
    return {k: dataclasses.astuple(v) for k, v in expected.items()} == {
        key: (key, d["is_canonical"], d["cluster_id"], d["duplicate_of"], d["duplicate_similarity"])
        for key, d in got.items()
    }


def format_report(report: dict) -> str:
    lines = [
        f"documents {report['documents']}  positive pairs {report['positives']}  "
        f"negative pairs {report['negatives']}  (default threshold {report['default_threshold']})",
        "",
        f"{'threshold':>9} {'bands':>7} {'P':>7} {'R':>7} {'F1':>7}   "
        f"{'closure P':>9} {'R':>7} {'F1':>7}",
    ]
    for threshold, r in report["thresholds"].items():
        c = r["transitive_closure"]
        lines.append(
            f"{threshold:>9} {'x'.join(map(str, r['banding'])):>7} {r['precision']:7.4f} "
            f"{r['recall']:7.4f} {r['f1']:7.4f}   {c['precision']:9.4f} {c['recall']:7.4f} "
            f"{c['f1']:7.4f}"
        )
    for threshold, r in report["thresholds"].items():
        detail = ", ".join(f"{k} {v}" for k, v in r["pairs"].items())
        lines.append(f"  {threshold}: {detail}; closure digest {r['transitive_closure_digest']}")
    if "beam_matches_reference" in report:
        lines.append(
            f"Beam transform agrees with the reference: {report['beam_matches_reference']}"
        )
    lines.append(f"({report['seconds']} s)")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--thresholds",
        default=",".join(map(str, DEFAULT_THRESHOLDS)),
        help="Comma-separated Jaccard thresholds to score (default %(default)s).",
    )
    parser.add_argument("--eval-dir", default=str(EVAL_DIR), help="Default: ../shared/eval.")
    parser.add_argument(
        "--beam", action="store_true", help="Also run the Beam transform and compare."
    )
    parser.add_argument("--json-out", help="Also write the report as JSON to this file.")


def run(args: argparse.Namespace) -> int:
    eval_dir = Path(args.eval_dir)
    needed = [
        eval_dir / "arabic_text" / "ant_multisource_v2.1.parquet",
        eval_dir / "neardup" / "ant_pairs.parquet",
    ]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        print(f"skipped: evaluation data not found: {', '.join(missing)}")
        return 0
    thresholds = [float(t) for t in args.thresholds.split(",") if t.strip()]
    report = evaluate(eval_dir, thresholds, args.beam)
    print(format_report(report))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(cli)
    sys.exit(run(cli.parse_args()))
