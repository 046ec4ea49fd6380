"""Counts per stage from Beam metrics, the accounting identity, and the printed summary."""

from __future__ import annotations

import sys
from collections import defaultdict
from contextlib import contextmanager

from apache_beam.metrics.metric import MetricsFilter

from pipeline.outcome import sentence
from transforms.common import METRICS_NAMESPACE

STAGES = [
    "discover",
    "fetch_feeds",
    "parse_feeds",
    "canonicalize",
    "dedup_urls",
    "fetch_articles",
    "extract",
    "dedup_near",
    "tag",
    "write_articles",
    "write_failures",
    "failure_ledger",
    "read_stored",
]
ENTRY_STAGES = ("canonicalize", "fetch_articles", "extract", "tag")


@contextmanager
def _deep_recursion(limit: int = 50_000):
    # Beam's metric consolidation (monitoring_infos.consolidate) overflowed the default
    # recursion limit after a streaming run of ~10 polls on the FnApiRunner (many small
    # bundles per stage); the query itself is correct given more depth.
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def query_metrics(result) -> dict:
    with _deep_recursion():
        return result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))


def collect_counts(result) -> dict[str, int]:
    """Flat ``{"stage.outcome": n}`` from a finished pipeline result."""
    query = query_metrics(result)
    counts: dict[str, int] = defaultdict(int)
    for counter in query["counters"]:
        counts[counter.key.metric.name] += int(counter.committed or counter.attempted or 0)
    return dict(sorted(counts.items()))


def collect_timings(result) -> dict[str, dict[str, float]]:
    query = query_metrics(result)
    timings: dict[str, dict[str, float]] = {}
    for dist in query["distributions"]:
        value = dist.committed or dist.attempted
        if value is None or not value.count:
            continue
        stage = dist.key.metric.name.removesuffix(".ms")
        timings[stage] = {
            "elements": value.count,
            "total_s": round(value.sum / 1000, 3),
            "mean_ms": round(value.sum / value.count, 1),
            "max_ms": value.max,
        }
    return timings


def by_stage(counts: dict[str, int]) -> dict[str, dict[str, object]]:
    stages: dict[str, dict[str, object]] = {}
    for name, value in counts.items():
        stage, _, outcome = name.partition(".")
        entry = stages.setdefault(stage, {"failed": {}})
        if outcome.startswith("failed."):
            entry["failed"][outcome.removeprefix("failed.")] = value  # type: ignore[index]
        else:
            entry[outcome] = value
    return stages


def accounting(counts: dict[str, int]) -> dict[str, int | bool]:
    """Where every feed entry went. ``balanced`` is the invariant the tests check:

    entries = articles + duplicates + already_stored + failures + known_failures

    ``failures`` are entries that failed in this run (a row is written the first time
    only: ``failure_rows_not_repeated`` counts the repeats); ``known_failures`` are
    entries the failure ledger held back unfetched (failed for good, or awaiting a
    retry). ``articles + duplicates`` together are the rows written plus dropped copies.
    """
    entries = counts.get("parse_feeds.entries", 0)
    entry_failures = sum(
        value
        for name, value in counts.items()
        if (name.startswith(tuple(f"{s}.failed." for s in ENTRY_STAGES)))
        or name.startswith("parse_feeds.failed.entry_")
    )
    rows = counts.get("write_articles.rows", 0)
    flagged = counts.get("dedup_near.duplicate", 0)
    dropped = counts.get("dedup_near.dropped", 0)
    url_dups = counts.get("dedup_urls.duplicate_url", 0)
    stored = counts.get("dedup_urls.already_stored", 0)
    known = counts.get("dedup_urls.known_failure", 0)
    return {
        "identity": "entries = articles + duplicates + already_stored + failures + known_failures",
        "entries": entries,
        "articles": rows - flagged + dropped,
        "duplicates": flagged + url_dups,
        "already_stored": stored,
        "failures": entry_failures,
        "known_failures": known,
        "failure_rows_not_repeated": counts.get("failure_ledger.repeat", 0),
        "dropped_duplicates": dropped,
        "balanced": entries == rows + dropped + url_dups + stored + entry_failures + known,
    }


def format_summary(manifest: dict) -> str:
    counts = manifest["counts"]
    stages = by_stage(counts)
    lines = [
        f"marsad run {manifest['run_id']}  status={manifest['status']}  "
        f"wall={manifest['timings']['wall_s']}s",
        f"output: {manifest['output']}",
        "",
        f"{'stage':<16}{'in':>7}{'out':>7}{'failed':>8}  details",
    ]
    for stage in STAGES:
        info = stages.get(stage)
        if not info:
            continue
        failed = info.get("failed", {})
        details = [f"{k}={v}" for k, v in info.items() if k not in ("in", "out", "failed")]
        details += [f"{reason}={n}" for reason, n in sorted(failed.items())]  # type: ignore[union-attr]
        lines.append(
            f"{stage:<16}{info.get('in', ''):>7}{info.get('out', ''):>7}"
            f"{sum(failed.values()) or '':>8}  {', '.join(details)}"  # type: ignore[union-attr]
        )
    acc = manifest["accounting"]
    lines += [
        "",
        f"entries {acc['entries']} = articles {acc['articles']} + duplicates {acc['duplicates']}"
        f" + already stored {acc['already_stored']} + failures {acc['failures']}"
        f" + known failures {acc.get('known_failures', 0)}"
        f"  [{'balanced' if acc['balanced'] else 'NOT BALANCED'}]",
    ]
    if acc.get("failure_rows_not_repeated"):
        lines.append(f"({acc['failure_rows_not_repeated']} failures already on record: no new row)")
    for path in manifest.get("quarantined", []):
        lines.append(f"quarantined (unreadable): {path}")
    if "outcome" in manifest:
        outcome = manifest["outcome"]
        lines += ["", f"exit {outcome['exit_code']}: {sentence(outcome)}"]
    return "\n".join(lines)
