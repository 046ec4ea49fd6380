"""Topic tagger: speed (articles per second on one core) and dev-set figures.

    .venv/bin/python benchmarks/topic_bench.py [--topic T.yaml] [--threshold X] [--limit N]
        [--errors] [--sweep]

Speed: every ANT article (``../shared/eval/arabic_text/``, ~31.5k Arabic news
articles, median ~210 words) plus synthetic ~400-word Arabic and English articles, all
tagged in this process (one core). When ``../shared/eval`` is absent only the synthetic
texts are timed.

Dev set (``tests/data/topic_dev_*.jsonl``): hand-labelled ANT ids (texts read from the
ANT Parquet at run time; skipped with a message when absent), the five seed articles
(``marsad/samplesite/content/seeds``), and written cases stored in full. Prints
precision, recall and F1 per language (detected from the text) and, with ``--sweep``,
the same figures for a range of thresholds (how the default was chosen).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from marsad.topic.tagger import load_tagger  # noqa: E402
from pipeline.topic_cmd import _prf, evaluate, format_report, load_labelled  # noqa: E402

ANT = ROOT.parent / "shared" / "eval" / "arabic_text" / "ant_multisource_v2.1.parquet"
SEEDS = ROOT / "marsad" / "samplesite" / "content" / "seeds"
DATA = ROOT / "tests" / "data"

_AR_TEXT = (
    "قال مصدر حكومي إن الحكومة العراقية بحثت مع الجانب الأمريكي في بغداد ملف القوات "
    "وأضاف أن الاجتماع تناول الوضع الأمني والاقتصادي في المحافظات الغربية والشمالية "
    "وأكد المتحدث أن العلاقات الثنائية تشهد تطورا ملحوظا في مجالات الطاقة والكهرباء "
    "والتعليم والصحة فيما تستمر المحادثات بشأن انسحاب قوات التحالف الدولي"
)
_EN_TEXT = (
    "officials in baghdad said the talks with washington covered security and the economy "
    "while lawmakers debated the budget and the presence of us troops in iraq the ministry "
    "said electricity and water shortages remain a concern in southern provinces and the "
    "coalition said its advisers would continue to support iraqi forces"
)


def synthetic(count: int, words: list[str], seed: int) -> list[dict]:
    """News-length (~400 words, 4 paragraphs) texts drawn from a topical vocabulary."""
    rng = random.Random(seed)
    rows = []
    for number in range(count):
        paragraphs = []
        for _ in range(4):
            sentences = [" ".join(rng.choices(words, k=20)) + "." for _ in range(5)]
            paragraphs.append(" ".join(sentences))
        rows.append({"id": f"s{number}", "title": " ".join(rng.choices(words, k=9)),
                     "text": "\n".join(paragraphs)})  # fmt: skip
    return rows


def throughput(tagger, rows: list[dict]) -> tuple[float, float]:
    """Articles per second and mean words per article, after one warm-up pass."""
    for row in rows[:200]:
        tagger.tag(row["title"], row["text"])
    start = time.perf_counter()
    for row in rows:
        tagger.tag(row["title"], row["text"])
    elapsed = time.perf_counter() - start
    words = sum(len(row["text"].split()) for row in rows) / max(len(rows), 1)
    return len(rows) / elapsed, words


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topic")
    parser.add_argument("--threshold", type=float)
    parser.add_argument("--limit", type=int, default=0, help="ANT articles to time (0: all).")
    parser.add_argument("--errors", action="store_true", help="List misclassified items.")
    parser.add_argument("--sweep", action="store_true", help="P/R/F1 for several thresholds.")
    args = parser.parse_args(argv)
    tagger = load_tagger(args.topic, args.threshold)

    print("== speed (one core)")
    corpora = [
        ("synthetic ar ~400w", synthetic(3000, _AR_TEXT.split(), 1)),
        ("synthetic en ~400w", synthetic(3000, _EN_TEXT.split(), 2)),
    ]
    ant_rows = None
    if ANT.exists():
        import pyarrow.parquet as pq

        ant_rows = pq.read_table(ANT, columns=["docno", "title", "text"]).to_pylist()
        typical = [r for r in ant_rows if 350 <= len(r["text"].split()) <= 450]
        corpora.append(("ANT 350-450 words", typical))
        corpora.append(("ANT (all categories)", ant_rows[: args.limit or None]))
    else:
        print(f"  {ANT} absent: timing synthetic texts only")
    for name, rows in corpora:
        rate, words = throughput(tagger, rows)
        print(
            f"  {name:22s} {len(rows):6d} articles  {words:5.0f} words/article  {rate:7.0f} art/s"
        )

    print("\n== dev set")
    label_files = [str(DATA / "topic_dev_written.jsonl"), str(DATA / "topic_dev_seeds.jsonl")]
    texts = [str(SEEDS)]
    if ant_rows is not None:
        label_files.append(str(DATA / "topic_dev_ant.jsonl"))
        texts.append(str(ANT))
    else:
        print("  ANT absent: evaluating written cases and seeds only")
    items = load_labelled(label_files, texts)
    result = evaluate(items, tagger)
    report = format_report(result, tagger.definition.name, tagger.threshold)
    if not args.errors:
        report = report.split("\nmisclassified")[0] + f"\nmisclassified: {len(result['errors'])}"
    print(report)
    if args.sweep:
        print("\n== threshold sweep (all languages; ar | en)")
        for threshold in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7):
            swept = evaluate(items, load_tagger(args.topic, threshold))["counts"]
            cells = []
            for language in ("all", "ar", "en"):
                p, r, f = _prf(swept.get(language) or Counter())
                cells.append(f"{language} P {p:.3f} R {r:.3f} F1 {f:.3f}")
            print(f"  {threshold:.2f}  " + " | ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
