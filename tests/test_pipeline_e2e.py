"""The batch pipeline end to end against the real local sample site.

One run and one rerun on the same output (module-scoped: a run costs seconds),
then checks on what was written, read back with pyarrow and DuckDB.
"""

from __future__ import annotations

import glob
import json
import os
import re

import duckdb
import pyarrow.dataset as ds
import pytest

from marsad.feeds.urls import article_id, canonicalize_url
from marsad.samplesite.content import CONTENT_DIR
from pipeline.run import run_batch
from schemas.tables import ARTICLES_SCHEMA, FAILURES_SCHEMA

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(sample_site, tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    sources = sample_site.write_sources(str(root / "sources.yaml"))
    output = str(root / "out")
    common = ["--sources", sources, "--output", output, "--allow_network", "127.77.0.0/24"]
    common += ["--min_interval", "0.05"]
    first = run_batch([*common, "--run_id", "run-1"])
    articles_after_first = _read(output, "articles", ARTICLES_SCHEMA)
    second = run_batch([*common, "--run_id", "run-2"])
    return {
        "output": output,
        "first": first,
        "second": second,
        "articles": articles_after_first,
        "articles_after_rerun": _read(output, "articles", ARTICLES_SCHEMA),
        "failures": _read(output, "failures", FAILURES_SCHEMA),
    }


def _read(output: str, dataset: str, schema) -> list[dict]:
    table = ds.dataset(
        os.path.join(output, dataset), format="parquet", partitioning="hive", schema=None
    ).to_table()
    return table.to_pylist()


def _ids_by_key(site) -> dict[str, str]:
    return {
        key: article_id(canonicalize_url(url)) for key, url in site.expected_article_urls().items()
    }


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_run_succeeds_and_accounts_for_every_entry(runs, sample_site):
    manifest = runs["first"]
    assert manifest["status"].endswith("DONE")
    placements = sum(len(o.placements) for o in sample_site.outlets)
    accounting = manifest["accounting"]
    assert accounting["entries"] == placements
    assert accounting["balanced"], accounting
    assert accounting["articles"] + accounting["duplicates"] + accounting["failures"] == placements


def test_exactly_the_expected_articles(runs, sample_site):
    expected = set(_ids_by_key(sample_site).values())
    assert {row["article_id"] for row in runs["articles"]} == expected
    assert len(runs["articles"]) == len(expected), "one row per article"


# Outlet chrome the seeds carry after the body (written out by hand from the seed files).
SEED_DEBRIS_MARKERS = [
    "رابط المقال",
    "الرابط المختصر",
    "تابعنا على",
    "كنت تعتقد/تعتقدين",
    "Developed by",
    "اقرأ أيض",
    "پارێزراوه",
]


@pytest.mark.parametrize("seed", ["seed-000", "seed-001", "seed-002", "seed-003", "seed-004"])
def test_seed_article_body_is_intact(runs, sample_site, seed):
    ids = _ids_by_key(sample_site)
    (row,) = [
        r
        for r in runs["articles"]
        if r["article_id"] in {v for k, v in ids.items() if k.endswith(seed)}
    ]
    seed_file = next((CONTENT_DIR / "seeds").glob(f"{seed.split('-')[1]}_*.txt"))
    seed_lines = [
        _squash(line) for line in seed_file.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    # A seed's first line may be its headline, which lives in the title column.
    text = _squash(row["text"]) + "\n" + _squash(row["title"])
    debris = [line for line in seed_lines if any(m in line for m in SEED_DEBRIS_MARKERS)]
    body = [line for line in seed_lines if line not in debris]
    missing = [line[:60] for line in body if len(line) >= 40 and line not in text]
    assert not missing, f"{seed}: paragraphs lost in extraction: {missing}"
    kept = sum(len(line) for line in body if line in text)
    assert kept / sum(len(line) for line in body) >= 0.95
    left = [line[:60] for line in debris if line in _squash(row["text"])]
    assert not left, f"{seed}: share/credit/rights lines left in the text: {left}"
    assert row["extraction_method"] == "trafilatura"
    assert row["language"] == "ar"
    assert row["is_relevant"], f"{seed} is on the story and must be tagged relevant"


def test_syndicated_copies_are_flagged_not_dropped(runs, sample_site):
    ids = _ids_by_key(sample_site)
    copies = [
        r
        for r in runs["articles"]
        if r["article_id"] in {v for k, v in ids.items() if k.endswith("wire-hmc-round")}
    ]
    assert len(copies) == 3
    assert len({r["content_hash"] for r in copies}) == 1
    canonical = [r for r in copies if not r["is_duplicate"]]
    assert len(canonical) == 1
    for row in copies:
        assert row["cluster_id"] == canonical[0]["article_id"]
        if row["is_duplicate"]:
            assert row["duplicate_of"] == canonical[0]["article_id"]
            assert row["duplicate_similarity"] == 1.0
    others = [
        r for r in runs["articles"] if r["article_id"] not in {c["article_id"] for c in copies}
    ]
    assert not any(r["is_duplicate"] for r in others)


def test_windows_1256_outlet_is_decoded(runs, sample_site):
    ids = _ids_by_key(sample_site)
    (row,) = [r for r in runs["articles"] if r["article_id"] == ids["baghdad/football-league"]]
    assert row["encoding"] == "cp1256"
    body = (CONTENT_DIR / "articles" / "football-league.md").read_text(encoding="utf-8")
    first_paragraph = _squash(body.split("---\n", 2)[2].strip().split("\n\n")[0])
    assert first_paragraph in _squash(row["text"])
    assert "\ufffd" not in row["text"] and "Ø" not in row["text"]


def test_redirect_feed_only_and_tracking_params(runs, sample_site):
    ids = _ids_by_key(sample_site)
    rows = {r["article_id"]: r for r in runs["articles"]}
    moved = rows[ids["noon/gaza-aid"]]
    assert moved["final_url"].endswith("-moved") and not moved["url"].endswith("-moved")
    assert "utm_source" in moved["url"] and "utm_source" not in moved["canonical_url"]
    feed_only = rows[ids["enab/feed-only-brief"]]
    assert feed_only["extraction_method"] == "feed_content"
    assert feed_only["text_chars"] > 100


def test_failures_hold_the_404_and_the_malformed_feed(runs, sample_site):
    failures = {
        (f["stage"], f["reason"], f["url"]) for f in runs["failures"] if f["run_id"] == "run-1"
    }
    missing_url = sample_site.base_urls["enab"] + "/ar/archives/697999"
    broken_feed = sample_site.base_urls["tribune"] + "/world/broken.xml"
    assert ("fetch_articles", "http_404", missing_url) in failures
    assert ("parse_feeds", "feed_malformed", broken_feed) in failures
    for failure in runs["failures"]:
        assert failure["message"], "every failure says what went wrong"


def test_rerun_adds_no_article_rows(runs):
    counts = runs["second"]["counts"]
    assert counts.get("write_articles.rows", 0) == 0
    assert runs["second"]["accounting"]["balanced"]
    assert len(runs["articles_after_rerun"]) == len(runs["articles"])
    # Conditional GET: honest ETags answer 304, a lying or missing ETag falls back to
    # the body hash; only the malformed feed (never committed to state) is parsed again.
    assert counts["fetch_feeds.not_modified"] == 5
    assert counts["fetch_feeds.unchanged"] == 2
    assert counts["parse_feeds.in"] == 1
    assert counts.get("parse_feeds.entries", 0) == 0


def test_duckdb_reads_hive_partitions_with_the_declared_schema(runs):
    pattern = os.path.join(runs["output"], "articles", "*", "*.parquet")
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT published_date, count(*) FROM read_parquet('{pattern}', hive_partitioning=true) "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert sum(n for _, n in rows) == len(runs["articles"])
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(day)) for day, _ in rows)
    query = f"DESCRIBE SELECT * FROM read_parquet('{pattern}', hive_partitioning=true)"
    described = {name: dtype for name, dtype, *_ in con.execute(query).fetchall()}
    assert described["published_at"] == "TIMESTAMP WITH TIME ZONE"
    assert described["authors"] == "VARCHAR[]"
    assert described["is_duplicate"] == "BOOLEAN"
    assert set(ARTICLES_SCHEMA.names) <= set(described)


def test_outputs_are_complete_and_tidy(runs):
    output = runs["output"]
    assert not glob.glob(os.path.join(output, "_tmp")), "temporary folder removed"
    assert not glob.glob(os.path.join(output, "**", ".temp*"), recursive=True)
    manifests = sorted(glob.glob(os.path.join(output, "runs", "*.json")))
    assert [os.path.basename(m) for m in manifests] == ["run-1.json", "run-2.json"]
    with open(manifests[0], encoding="utf-8") as handle:
        manifest = json.load(handle)
    assert manifest["versions"]["apache-beam"]
    assert manifest["counts"]["fetch_feeds.in"] == 8
    for path in glob.glob(os.path.join(output, "articles", "*", "*.parquet")):
        import pyarrow.parquet as pq

        metadata = pq.read_schema(path).metadata
        assert metadata[b"marsad.schema_version"] == b"2"
