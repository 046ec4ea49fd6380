"""Topic tagger speed (articles per second on one core) and the normaliser beside its
reference, measured side by side in one run.

    .venv/bin/python benchmarks/topic_bench.py [--topic T.yaml] [--limit N]

Tagging is timed as the pipeline's Tag stage calls it (``tag(title, text)``, language
already known) on: ANT articles of 350–450 words (``../shared/eval/arabic_text/``, real
Arabic news, the headline figure), every ANT article, the English excerpts of the
labelled corpus (``data/topic/labelled.jsonl``, real news, shorter), and synthetic
~400-word Arabic and English texts drawn from a topical vocabulary — every sentence
dense in terms, a worst case for matching. When the ANT file is absent only the other
sets are timed.

The normaliser (``marsad.text.normalize``, shared with dedup) is timed beside the
table-driven reference it replaced (``tests/test_textnorm.py``, which checks that both
give the same output) on the same ANT texts: the ratio is the speed-up.

Times are CPU time of this process (``time.process_time``), so that other work on a
shared machine slows the figures less than wall-clock time would (it still competes for
caches). Accuracy is not measured here: ``marsad eval topic`` prints the cross-validated and
held-out figures of the labelled corpus.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from marsad.text.normalize import normalize_for_matching  # noqa: E402
from marsad.topic.corpus import DEFAULT_CORPUS, default_ant_path  # noqa: E402
from marsad.topic.tagger import load_tagger  # noqa: E402
from tests.test_textnorm import _reference_normalize  # noqa: E402

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
        tagger.tag(row["title"], row["text"], detect_language=False)
    start = time.process_time()
    for row in rows:
        tagger.tag(row["title"], row["text"], detect_language=False)
    elapsed = time.process_time() - start
    words = sum(len(row["text"].split()) for row in rows) / max(len(rows), 1)
    return len(rows) / elapsed, words


def per_text(function, texts: list[str]) -> float:
    """Microseconds per text."""
    start = time.process_time()
    for text in texts:
        function(text)
    return (time.process_time() - start) / max(len(texts), 1) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topic")
    parser.add_argument("--limit", type=int, default=0, help="ANT articles to time (0: all).")
    args = parser.parse_args(argv)
    tagger = load_tagger(args.topic)

    print("== tagging speed (one core, as the pipeline's Tag stage calls it)")
    corpora = []
    ant = default_ant_path()
    ant_rows: list[dict] = []
    if ant.exists():
        import pyarrow.parquet as pq

        ant_rows = pq.read_table(ant, columns=["docno", "title", "text"]).to_pylist()
        typical = [r for r in ant_rows if 350 <= len(r["text"].split()) <= 450]
        corpora.append(("ANT 350-450 words", typical))
        corpora.append(("ANT (all categories)", ant_rows[: args.limit or None]))
    else:
        print(f"  {ant} absent: ANT sets skipped")
    english = [
        row
        for row in map(json.loads, DEFAULT_CORPUS.read_text(encoding="utf-8").splitlines())
        if row.get("language") == "en" and row.get("text")
    ]
    if english:
        corpora.append(
            ("corpus excerpts (en)", [{"title": r.get("title") or "", **r} for r in english])
        )
    corpora.append(("synthetic ar ~400w", synthetic(3000, _AR_TEXT.split(), 1)))
    corpora.append(("synthetic en ~400w", synthetic(3000, _EN_TEXT.split(), 2)))
    for name, rows in corpora:
        rate, words = throughput(tagger, rows)
        print(
            f"  {name:22s} {len(rows):6d} articles  {words:5.0f} words/article  {rate:7.0f} art/s"
        )

    print("\n== normaliser beside the table-driven reference (same texts, same output)")
    texts = [f"{r['title']}\n{r['text']}" for r in (ant_rows[:3000] or corpora[-2][1])]
    assert all(normalize_for_matching(t) == _reference_normalize(t) for t in texts[:300])
    _reference_normalize("warm the reference table")
    fast, reference = per_text(normalize_for_matching, texts), per_text(_reference_normalize, texts)
    chars = sum(map(len, texts)) / len(texts)
    print(f"  {len(texts)} texts, {chars:.0f} characters each")
    print(
        f"  reference {reference:7.1f} µs/text   fast {fast:7.1f} µs/text   ratio {reference / fast:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
