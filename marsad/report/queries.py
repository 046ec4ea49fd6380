"""The report's questions, each one SQL query over the ``Corpus`` views.

Every function returns plain rows (dicts of JSON-friendly values) so the charts
and tables need no DuckDB. Conventions:

- "articles" counts every row, syndicated copies included (an outlet carrying a
  story is coverage); "stories" counts clusters (``cluster_id``) once;
- the relevance share is of distinct stories, so one wire story carried by ten
  outlets counts once;
- time is binned by day, by week past ``DAY_BIN_MAX_DAYS`` of span and by month
  past ``WEEK_BIN_MAX_DAYS``, so a year still reads as bars, not hairlines.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from marsad.report.corpus import Corpus

DAY_BIN_MAX_DAYS = 120
WEEK_BIN_MAX_DAYS = 3 * 366
TOP_OUTLETS_IN_LEGEND = 11
RECENT_WINDOW_DAYS = 30
_NOT_DUP = "NOT coalesce(is_duplicate, false)"


@dataclass(frozen=True)
class Overview:
    first_day: date | None
    last_day: date | None
    articles: int
    stories: int
    relevant_stories: int
    outlets: int
    syndicated_stories: int
    failures: int
    runs: int
    bin: str  # day, week or month


def choose_bin(first: date | None, last: date | None) -> str:
    if first is None or last is None:
        return "day"
    span = (last - first).days
    if span <= DAY_BIN_MAX_DAYS:
        return "day"
    return "week" if span <= WEEK_BIN_MAX_DAYS else "month"


def overview(corpus: Corpus) -> Overview:
    row = corpus.rows(
        f"""
        SELECT min(published_date) AS first_day, max(published_date) AS last_day,
               count(*) AS articles,
               count(*) FILTER ({_NOT_DUP}) AS stories,
               count(*) FILTER ({_NOT_DUP} AND is_relevant) AS relevant_stories,
               count(DISTINCT source) AS outlets
        FROM articles
        """
    )[0]
    syndicated = corpus.scalar(
        "SELECT count(*) FROM (SELECT cluster_id FROM articles WHERE cluster_id IS NOT NULL "
        "GROUP BY cluster_id HAVING count(DISTINCT source) > 1)"
    )
    failures = corpus.scalar("SELECT count(*) FROM failures")
    return Overview(
        first_day=row["first_day"],
        last_day=row["last_day"],
        articles=row["articles"],
        stories=row["stories"],
        relevant_stories=row["relevant_stories"],
        outlets=row["outlets"],
        syndicated_stories=syndicated,
        failures=failures,
        runs=len(corpus.runs),
        bin=choose_bin(row["first_day"], row["last_day"]),
    )


def _bin_sql(column: str, bin_name: str) -> str:
    if bin_name == "day":
        return f"CAST({column} AS DATE)"
    return f"CAST(date_trunc('{bin_name}', {column}) AS DATE)"


def legend_outlets(corpus: Corpus) -> list[str]:
    """Outlets with the most articles, shown by name; the rest are grouped as 'Other'."""
    rows = corpus.rows(
        "SELECT source, count(*) AS n FROM articles GROUP BY source ORDER BY n DESC, source "
        f"LIMIT {TOP_OUTLETS_IN_LEGEND + 1}"
    )
    names = [r["source"] or "(unknown)" for r in rows]
    return names if len(names) <= TOP_OUTLETS_IN_LEGEND + 1 else names[:TOP_OUTLETS_IN_LEGEND]


def articles_over_time(corpus: Corpus, bin_name: str, shown: list[str]) -> list[dict[str, Any]]:
    """Articles per time bin and outlet; outlets outside ``shown`` are summed as 'Other'."""
    rows = corpus.rows(
        f"""
        SELECT {_bin_sql("published_date", bin_name)} AS bin,
               coalesce(source, '(unknown)') AS outlet, count(*) AS articles,
               count(*) FILTER (is_relevant) AS relevant
        FROM articles GROUP BY ALL ORDER BY bin, outlet
        """
    )
    others = {r["outlet"] for r in rows} - set(shown)
    other_label = f"Other outlets ({len(others)})"
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        outlet = r["outlet"] if r["outlet"] in shown else other_label
        key = (r["bin"].isoformat(), outlet)
        entry = merged.setdefault(
            key, {"bin": key[0], "outlet": outlet, "articles": 0, "relevant": 0}
        )
        entry["articles"] += r["articles"]
        entry["relevant"] += r["relevant"]
    return list(merged.values())


def relevance_over_time(corpus: Corpus, bin_name: str) -> list[dict[str, Any]]:
    """Per bin: distinct stories, relevant stories and their share."""
    rows = corpus.rows(
        f"""
        SELECT {_bin_sql("published_date", bin_name)} AS bin, count(*) AS stories,
               count(*) FILTER (is_relevant) AS relevant
        FROM articles WHERE {_NOT_DUP} GROUP BY ALL ORDER BY bin
        """
    )
    found = {r["bin"]: r for r in rows}
    filled = []
    for day in bins_between(min(found), max(found), bin_name) if found else []:
        r = found.get(day, {"stories": 0, "relevant": 0})
        filled.append(
            {
                "bin": day.isoformat(),
                "stories": r["stories"],
                "relevant": r["relevant"],
                # None, not 0, for a period without stories: the line breaks there.
                "share": round(r["relevant"] / r["stories"], 4) if r["stories"] else None,
            }
        )
    return filled


def bins_between(first: date, last: date, bin_name: str) -> list[date]:
    """Every bin start from ``first`` to ``last`` (both already bin starts)."""
    days, current = [], first
    while current <= last:
        days.append(current)
        if bin_name == "day":
            current += timedelta(days=1)
        elif bin_name == "week":
            current += timedelta(days=7)
        else:
            current = date(current.year + current.month // 12, current.month % 12 + 1, 1)
    return days


def relevant_by(corpus: Corpus, column: str) -> list[dict[str, Any]]:
    """Relevant stories by ``language`` or ``source_country``."""
    assert column in ("language", "source_country")
    return corpus.rows(
        f"""
        SELECT coalesce(nullif({column}, ''), '?') AS key, count(*) AS stories
        FROM articles WHERE is_relevant AND {_NOT_DUP}
        GROUP BY ALL ORDER BY stories DESC, key
        """
    )


def top_outlets(corpus: Corpus, limit: int = 25) -> list[dict[str, Any]]:
    """Per outlet: articles, relevant ones, copies of others' stories, stories it broke first."""
    return corpus.rows(
        f"""
        WITH firsts AS (
            SELECT cluster_id, arg_min(source, coalesce(published_at, fetched_at)) AS first_source
            FROM articles WHERE cluster_id IS NOT NULL
            GROUP BY cluster_id HAVING count(DISTINCT source) > 1
        ),
        broke AS (SELECT first_source AS source, count(*) AS first_n FROM firsts GROUP BY 1),
        fails AS (SELECT source, count(*) AS failures FROM failures GROUP BY 1)
        SELECT a.source AS outlet, any_value(a.source_country) AS country,
               count(*) AS articles, count(*) FILTER (a.is_relevant) AS relevant,
               count(*) FILTER (coalesce(a.is_duplicate, false)) AS copies,
               coalesce(any_value(b.first_n), 0) AS broke_first,
               max(a.published_date) AS last_day,
               coalesce(any_value(f.failures), 0) AS failures
        FROM articles a LEFT JOIN broke b USING (source) LEFT JOIN fails f USING (source)
        GROUP BY a.source ORDER BY articles DESC, outlet LIMIT {int(limit)}
        """
    )


def syndication_clusters(corpus: Corpus, limit: int = 12) -> list[dict[str, Any]]:
    """The clusters carried by the most outlets, each with its members in publication order."""
    clusters = corpus.rows(
        f"""
        SELECT cluster_id, count(*) AS copies, count(DISTINCT source) AS outlets,
               min(coalesce(published_at, fetched_at)) AS first_at
        FROM articles WHERE cluster_id IS NOT NULL
        GROUP BY cluster_id HAVING count(DISTINCT source) > 1
        ORDER BY outlets DESC, copies DESC, first_at DESC LIMIT {int(limit)}
        """
    )
    if not clusters:
        return []
    members = corpus.rows(
        f"""
        SELECT cluster_id, article_id, source, title, language, coalesce(final_url, url) AS url,
               coalesce(published_at, fetched_at) AS seen_at, coalesce(is_duplicate, false) AS is_duplicate,
               duplicate_similarity, is_relevant
        FROM articles WHERE cluster_id IN ({", ".join("?" for _ in clusters)})
        ORDER BY cluster_id, seen_at, is_duplicate, source
        """,
        [c["cluster_id"] for c in clusters],
    )
    by_cluster: dict[str, list[dict[str, Any]]] = {}
    for m in members:
        m["seen_at"] = _iso(m["seen_at"])
        by_cluster.setdefault(m["cluster_id"], []).append(m)
    for c in clusters:
        c["first_at"] = _iso(c["first_at"])
        c["members"] = by_cluster.get(c["cluster_id"], [])
        canonical = next((m for m in c["members"] if not m["is_duplicate"]), c["members"][0])
        c["title"] = canonical["title"]
        c["language"] = canonical["language"]
        c["first_outlet"] = c["members"][0]["source"]
        c["tied_first"] = sum(1 for m in c["members"] if m["seen_at"] == c["first_at"])
    return clusters


def recent_relevant(corpus: Corpus, last_day: date | None, limit: int = 30) -> list[dict[str, Any]]:
    """The highest-scoring relevant stories among the recent ones.

    Recent: published in the period's last ``RECENT_WINDOW_DAYS`` days, or among the
    ``limit`` newest relevant stories (so a quiet month still shows something).
    """
    if last_day is None:
        return []
    rows = corpus.rows(
        f"""
        WITH relevant AS (
            SELECT article_id, title, source, language, coalesce(final_url, url) AS url,
                   coalesce(published_at, fetched_at) AS seen_at, published_date,
                   coalesce(topic_score, 0.0) AS topic_score,
                   subtopics, matched_terms AS terms,
                   row_number() OVER (ORDER BY coalesce(published_at, fetched_at) DESC) AS recency
            FROM articles WHERE is_relevant AND {_NOT_DUP}
        )
        SELECT * EXCLUDE (recency, published_date) FROM relevant
        WHERE recency <= {int(limit)}
           OR published_date > CAST(? AS DATE) - INTERVAL {RECENT_WINDOW_DAYS} DAY
        ORDER BY topic_score DESC, seen_at DESC LIMIT {int(limit)}
        """,
        [last_day.isoformat()],
    )
    for r in rows:
        r["seen_at"] = _iso(r["seen_at"])
        terms = sorted(r.pop("terms") or [], key=lambda t: (-(t.get("count") or 0), t.get("term")))
        r["terms"] = [{"term": t["term"], "count": t.get("count") or 0} for t in terms[:6]]
        r["subtopics"] = list(r["subtopics"] or [])
    return rows


def failures_over_time(corpus: Corpus, bin_name: str) -> list[dict[str, Any]]:
    """Failures per outlet and bin, with the commonest stage:reason of the cell."""
    rows = corpus.rows(
        f"""
        SELECT {_bin_sql("failed_date", bin_name)} AS bin, coalesce(nullif(source, ''), '(no outlet)') AS outlet,
               count(*) AS failures,
               mode(stage || ': ' || reason) AS commonest,
               count(DISTINCT stage || reason) AS kinds
        FROM failures GROUP BY ALL ORDER BY bin, outlet
        """
    )
    for r in rows:
        r["bin"] = r["bin"].isoformat()
    return rows


def failure_reasons(corpus: Corpus, limit: int = 40) -> list[dict[str, Any]]:
    """Failures by outlet, stage and reason, with when they were first and last seen."""
    rows = corpus.rows(
        f"""
        SELECT coalesce(nullif(source, ''), '(no outlet)') AS outlet, stage, reason,
               count(*) AS failures, count(DISTINCT run_id) AS runs,
               min(failed_at) AS first_at, max(failed_at) AS last_at,
               arg_max(message, failed_at) AS last_message, arg_max(url, failed_at) AS last_url
        FROM failures GROUP BY ALL ORDER BY failures DESC, last_at DESC LIMIT {int(limit)}
        """
    )
    for r in rows:
        r["first_at"], r["last_at"] = _iso(r["first_at"]), _iso(r["last_at"])
    return rows


def run_rows(corpus: Corpus, limit: int = 60) -> list[dict[str, Any]]:
    """One row per run manifest, newest first: counts, accounting and timings."""
    rows = []
    for m in corpus.runs[-limit:][::-1]:
        counts = m.get("counts") if isinstance(m.get("counts"), dict) else {}
        acc = m.get("accounting") if isinstance(m.get("accounting"), dict) else {}
        timings = m.get("timings") if isinstance(m.get("timings"), dict) else {}
        stages = timings.get("stages") if isinstance(timings.get("stages"), dict) else {}
        failures = sum(v for k, v in counts.items() if ".failed." in k and isinstance(v, int))
        rows.append(
            {
                "run_id": str(m.get("run_id", "?")),
                "started_at": str(m.get("started_at") or m.get("committed_at") or ""),
                "mode": str(m.get("mode", "")),
                "status": str(m.get("status", "")),
                "wall_s": timings.get("wall_s"),
                "entries": acc.get("entries"),
                "articles": counts.get("write_articles.rows"),
                "duplicates": acc.get("duplicates"),
                "already_stored": acc.get("already_stored"),
                "failures": failures,
                "balanced": acc.get("balanced"),
                "stages": {
                    name: s.get("total_s")
                    for name, s in stages.items()
                    if isinstance(s, dict) and isinstance(s.get("total_s"), int | float)
                },
            }
        )
    return rows


def _iso(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return "" if value is None else str(value)
