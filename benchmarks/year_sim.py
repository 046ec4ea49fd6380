"""A year of hourly runs for 40 outlets, without fetching: how the output grows, and what
compaction does for readers.

Each simulated run writes what a real one does (``transforms/write.py``): for every
publication day its new articles fall on, one Parquet file (zstd, the articles
schema, rows sorted by id) named ``part-<run_id>-00000.parquet``, and one failures
file for the day it ran. Rows are synthetic (Arabic-like text from a fixed word
list, ~24 articles per outlet per day, 90% published the day of the run, the rest
up to ten days late; two failures per run). Then it measures, before and after
``marsad compact`` (``pipeline/compact.py``): files per partition, bytes, and the
wall time of the README's DuckDB query (median of repeats, a new connection each).

    python benchmarks/year_sim.py [--days 365] [--outlets 40] [--out /tmp/marsad-year]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pipeline.compact import compact_output, list_partitions
from schemas.tables import ARTICLES_SCHEMA, FAILURES_SCHEMA

README_QUERY = """
SELECT published_date, source, title, topic_score
FROM read_parquet('{out}/articles/*/*.parquet', hive_partitioning = true)
WHERE is_relevant AND NOT is_duplicate
ORDER BY published_at DESC
"""
WORDS = (  # noqa: SIM905 - a word list reads best as text
    "العراق القوات الأمريكية التحالف الدولي انسحاب بغداد الحكومة "
    "البرلمان الفصائل قاعدة عين الأسد حرير أربيل المستشارين مهمة "
    "إنهاء جدول زمني المفاوضات اللجنة العسكرية العليا الأمن "
    "الاستقرار الأنبار نينوى كردستان واشنطن البنتاغون السفارة "
    "الهجمات الطائرات المسيرة الاقتصاد النفط الموازنة الكهرباء "
    "المياه دجلة الفرات الزراعة الانتخابات المحافظات "
).split()


def _texts(rng: np.random.Generator, count: int, chars: int) -> list[str]:
    vocabulary = np.array(WORDS)
    per_text = max(8, chars // 7)
    return [" ".join(vocabulary[rng.integers(0, len(vocabulary), per_text)]) for _ in range(count)]


def _article_table(rows: list[dict]) -> pa.Table:
    columns = {name: [r.get(name) for r in rows] for name in ARTICLES_SCHEMA.names}
    return pa.Table.from_pydict(columns, schema=ARTICLES_SCHEMA)


def simulate(
    out: str, days: int, outlets: int, per_outlet_day: float, text_chars: int, seed: int
) -> dict:
    rng = np.random.default_rng(seed)
    pool = _texts(rng, 4000, text_chars)
    titles = _texts(rng, 4000, 60)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    names = [f"Outlet {n:02d}" for n in range(outlets)]
    number = 0
    for hour in range(days * 24):
        run_at = start + timedelta(hours=hour)
        run_id = run_at.strftime("%Y%m%dT%H%M%SZ") + f"-{hour:06x}"
        new = rng.poisson(per_outlet_day / 24, outlets)
        by_day: dict[str, list[dict]] = {}
        for outlet, count in enumerate(new):
            for _ in range(count):
                number += 1
                late = rng.random()
                lag = 0 if late < 0.9 else (1 if late < 0.99 else int(rng.integers(2, 11)))
                published = run_at - timedelta(days=lag, minutes=int(rng.integers(0, 60)))
                score = float(rng.random())
                text = pool[number % len(pool)]
                row = {
                    "article_id": f"a_{number:016x}",
                    "url": f"https://outlet{outlet}.example/news/{number}",
                    "canonical_url": f"https://outlet{outlet}.example/news/{number}",
                    "final_url": f"https://outlet{outlet}.example/news/{number}",
                    "source": names[outlet],
                    "source_country": "IQ",
                    "feed_url": f"https://outlet{outlet}.example/rss",
                    "also_listed_in": [],
                    "title": titles[number % len(titles)],
                    "summary": text[:200],
                    "text": text,
                    "language": "ar",
                    "published_at": published,
                    "published_from": "feed",
                    "fetched_at": run_at,
                    "http_status": 200,
                    "extraction_method": "trafilatura",
                    "text_chars": len(text),
                    "content_hash": f"{number:032x}",
                    "cluster_id": f"a_{number:016x}",
                    "is_duplicate": rng.random() < 0.08,
                    "is_canonical": True,
                    "topic_score": score,
                    "is_relevant": score > 0.7,
                    "subtopics": ["mission_end_talks"] if score > 0.7 else [],
                    "matched_terms": [{"term": "انسحاب", "concept": "withdrawal", "count": 2}],
                    "entities": [],
                    "run_id": run_id,
                }
                by_day.setdefault(published.strftime("%Y-%m-%d"), []).append(row)
        for day, rows in by_day.items():
            rows.sort(key=lambda r: r["article_id"])
            folder = os.path.join(out, "articles", f"published_date={day}")
            os.makedirs(folder, exist_ok=True)
            pq.write_table(
                _article_table(rows),
                os.path.join(folder, f"part-{run_id}-00000.parquet"),
                compression="zstd",
            )
        failures = [
            {
                "stage": "fetch_articles",
                "reason": "http_404",
                "message": "HTTP 404",
                "url": f"https://outlet{int(o)}.example/news/missing-{hour}",
                "source": names[int(o)],
                "feed_url": f"https://outlet{int(o)}.example/rss",
                "http_status": 404,
                "attempts": 1,
                "failed_at": run_at,
                "run_id": run_id,
            }
            for o in rng.integers(0, outlets, 2)
        ]
        folder = os.path.join(out, "failures", f"failed_date={run_at:%Y-%m-%d}")
        os.makedirs(folder, exist_ok=True)
        table = pa.Table.from_pylist(failures, schema=FAILURES_SCHEMA)
        pq.write_table(
            table, os.path.join(folder, f"part-{run_id}-00000.parquet"), compression="zstd"
        )
    return {"runs": days * 24, "articles": number}


def layout(out: str) -> dict:
    stats = {}
    for dataset in ("articles", "failures"):
        parts = {f: p for f, p in list_partitions(out, (dataset,)).items()}
        counts = [len(p) for p in parts.values()]
        stats[dataset] = {
            "partitions": len(parts),
            "files": sum(counts),
            "files_per_partition_mean": round(statistics.mean(counts), 1) if counts else 0,
            "files_per_partition_max": max(counts, default=0),
            "mb": round(sum(x.size for p in parts.values() for x in p) / 1e6, 1),
        }
    return stats


def time_query(out: str, repeats: int) -> dict:
    times, rows = [], 0
    for _ in range(repeats):
        con = duckdb.connect()
        started = time.perf_counter()
        rows = len(con.execute(README_QUERY.format(out=out)).fetchall())
        times.append(time.perf_counter() - started)
        con.close()
    return {
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "rows": rows,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--outlets", type=int, default=40)
    parser.add_argument("--per-outlet-day", type=float, default=24.0)
    parser.add_argument("--text-chars", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="/tmp/marsad-year")
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()

    shutil.rmtree(args.out, ignore_errors=True)
    started = time.perf_counter()
    sim = simulate(
        args.out, args.days, args.outlets, args.per_outlet_day, args.text_chars, args.seed
    )
    sim["simulate_s"] = round(time.perf_counter() - started, 1)
    before = {"layout": layout(args.out), "query": time_query(args.out, args.repeats)}
    started = time.perf_counter()
    report = compact_output(args.out)
    compact_s = round(time.perf_counter() - started, 1)
    after = {"layout": layout(args.out), "query": time_query(args.out, args.repeats)}
    assert after["query"]["rows"] == before["query"]["rows"], "compaction changed the answer"
    result = {
        "simulation": {**sim, "days": args.days, "outlets": args.outlets},
        "before": before,
        "compact": {"seconds": compact_s, "summary": report.summary()},
        "after": after,
        "query_speedup": round(before["query"]["median_s"] / after["query"]["median_s"], 1),
        "load": os.getloadavg(),
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
