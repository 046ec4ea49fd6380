"""Small marsad output folders for tests, written by the pipeline's own Parquet writer.

``write_corpus`` lays out ``articles/``, ``failures/`` and ``runs/`` exactly as a
run does (``transforms.write.write_parquet_file``: one file per partition and run,
temp name then rename), from ``Article`` and ``Failure`` records the test builds.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from schemas.records import Article, Failure
from schemas.tables import (
    ARTICLES_PARTITION,
    ARTICLES_SCHEMA,
    FAILURES_PARTITION,
    FAILURES_SCHEMA,
)
from transforms.write import write_parquet_file


def article(
    number: int,
    source: str,
    published_at: datetime,
    run_id: str,
    *,
    language: str = "ar",
    country: str = "IQ",
    relevant: bool = False,
    score: float | None = None,
    cluster_id: str = "",
    title: str = "",
) -> Article:
    article_id = f"a_{number:016x}"
    return Article(
        article_id=article_id,
        url=f"https://{_host(source)}/news/{number}",
        canonical_url=f"https://{_host(source)}/news/{number}",
        final_url=f"https://{_host(source)}/news/{number}",
        source=source,
        source_country=country,
        feed_url=f"https://{_host(source)}/rss",
        run_id=run_id,
        title=title
        or (
            f"خبر رقم {number} عن انسحاب القوات الأمريكية من العراق"
            if language == "ar"
            else f"Report {number} on the US troop withdrawal from Iraq"
        ),
        text=f"نص الخبر {number}. " * 20,
        language=language,
        published_at=published_at,
        fetched_at=published_at + timedelta(minutes=30),
        content_hash=f"{number:032x}",
        cluster_id=cluster_id or article_id,
        is_duplicate=bool(cluster_id) and cluster_id != article_id,
        is_canonical=not cluster_id or cluster_id == article_id,
        duplicate_of=cluster_id if cluster_id and cluster_id != article_id else "",
        duplicate_similarity=0.93 if cluster_id and cluster_id != article_id else None,
        topic_score=score if score is not None else (0.9 if relevant else 0.1),
        is_relevant=relevant,
        subtopics=["mission_end_talks"] if relevant else [],
        matched_terms=[
            {"term": "الانسحاب", "concept": "withdrawal", "count": 3},
            {"term": "القوات الأمريكية", "concept": "us_forces", "count": 2},
        ]
        if relevant
        else [],
    )


def failure(source: str, failed_at: datetime, run_id: str, reason: str = "http_503") -> Failure:
    return Failure(
        stage="fetch_feeds",
        reason=reason,
        message=f"HTTP 503 from https://{_host(source)}/rss",
        url=f"https://{_host(source)}/rss",
        run_id=run_id,
        source=source,
        feed_url=f"https://{_host(source)}/rss",
        http_status=503,
        failed_at=failed_at,
    )


def _host(source: str) -> str:
    return f"outlet-{abs(hash(source)) % 10_000}.example"


def write_corpus(
    output: str,
    articles: Iterable[Article],
    failures: Iterable[Failure] = (),
    manifests: Iterable[dict] = (),
) -> str:
    """Write the records as runs would; returns ``output``."""
    for dataset, records, schema, column in (
        ("articles", articles, ARTICLES_SCHEMA, ARTICLES_PARTITION),
        ("failures", failures, FAILURES_SCHEMA, FAILURES_PARTITION),
    ):
        groups: dict[tuple[str, str], list] = defaultdict(list)
        for record in records:
            groups[(record.partition_date, record.run_id)].append(record)
        for (day, run_id), group in sorted(groups.items()):
            name = f"part-{run_id}-00000.parquet"
            write_parquet_file(
                group,
                schema,
                os.path.join(output, dataset, f"{column}={day}", name),
                os.path.join(output, "_tmp", run_id, f"{dataset}-{day}-{name}"),
            )
    for manifest in manifests:
        os.makedirs(os.path.join(output, "runs"), exist_ok=True)
        with open(os.path.join(output, "runs", f"{manifest['run_id']}.json"), "w") as handle:
            json.dump(manifest, handle)
    return output


def manifest(run_id: str, started_at: datetime, articles: int, failures: int) -> dict:
    return {
        "run_id": run_id,
        "status": "DONE",
        "mode": "batch",
        "started_at": started_at.isoformat(),
        "timings": {
            "wall_s": 12.5,
            "stages": {"fetch_feeds": {"total_s": 1.5}, "extract": {"total_s": 4.0}},
        },
        "counts": {"write_articles.rows": articles, "fetch_feeds.failed.http_503": failures},
        "accounting": {
            "entries": articles + failures,
            "duplicates": 0,
            "already_stored": 0,
            "balanced": True,
        },
    }


OUTLETS = [
    # name, language, country
    ("شفق نيوز", "ar", "IQ"),
    ("الجزيرة", "ar", "QA"),
    ("Reuters", "en", "GB"),
    ("Rudaw", "en", "IQ"),
]
START = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
DAYS = 20
RUDAW_DIES_ON = 11  # day index from which Rudaw's feed answers 503 and no article comes


def newsroom(output: str) -> dict:
    """Four outlets over twenty days: one syndicated story, a feed that dies, three runs.

    Returns the facts the tests check against.
    """
    articles, failures = [], []
    number = 0
    per_day: dict[tuple[str, str], int] = defaultdict(int)
    for day in range(DAYS):
        for index, (name, language, country) in enumerate(OUTLETS):
            if name == "Rudaw" and day >= RUDAW_DIES_ON:
                moment = START + timedelta(days=day, hours=1)
                failures.append(failure(name, moment, f"run-{day:02d}"))
                continue
            for k in range(1 + (index + day) % 3):
                number += 1
                moment = START + timedelta(days=day, hours=2 + k, minutes=index)
                articles.append(
                    article(
                        number,
                        name,
                        moment,
                        f"run-{day:02d}",
                        language=language,
                        country=country,
                        relevant=number % 2 == 0,
                        score=0.5 + (number % 50) / 100 if number % 2 == 0 else 0.1,
                    )
                )
                per_day[(moment.date().isoformat(), name)] += 1
    # One story from Reuters, carried an hour and two hours later by the two Arabic outlets.
    wire_at = START + timedelta(days=9, hours=8)
    wire_id = "a_" + "f" * 16
    cluster = [
        article(
            0xFFFFFFFFFFFFFFFF,
            "Reuters",
            wire_at,
            "run-09",
            language="en",
            country="GB",
            relevant=True,
            score=0.97,
            cluster_id=wire_id,
            title="US and Iraq agree to end coalition mission",
        ),
        article(
            0xFFFFFFFFFFFFFFF1,
            "الجزيرة",
            wire_at + timedelta(hours=1),
            "run-09",
            country="QA",
            relevant=True,
            score=0.97,
            cluster_id=wire_id,
            title="اتفاق عراقي أمريكي على إنهاء مهمة التحالف",
        ),
        article(
            0xFFFFFFFFFFFFFFF2,
            "شفق نيوز",
            wire_at + timedelta(hours=2),
            "run-09",
            relevant=True,
            score=0.97,
            cluster_id=wire_id,
            title="اتفاق عراقي أمريكي على إنهاء مهمة التحالف",
        ),
    ]
    cluster[0].article_id = wire_id
    for a in cluster:
        per_day[(a.published_at.date().isoformat(), a.source)] += 1
    articles += cluster
    manifests = [
        manifest(f"run-{day:02d}", START + timedelta(days=day), 7, int(day >= RUDAW_DIES_ON))
        for day in (0, 9, 19)
    ]
    write_corpus(output, articles, failures, manifests)
    return {
        "articles": articles,
        "failures": failures,
        "per_day": dict(per_day),
        "wire_id": wire_id,
        "runs": len(manifests),
    }
