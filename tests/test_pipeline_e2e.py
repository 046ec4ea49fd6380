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
    # Archived sitemap entries are out of the recency window: never feed entries.
    placements = sample_site.expected_entries()
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
    # 304s: 5 original feeds, the mosul, anbar and discovered kurdpress feeds, and the
    # khabar sitemap index with its two children (checked from the index's stored list).
    assert counts["fetch_feeds.not_modified"] == 11
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
    # 11 listed feeds and sitemaps, the feed discovered on kurdpress's homepage, and the
    # two children of khabar's sitemap index.
    assert manifest["counts"]["fetch_feeds.in"] == 14
    for path in glob.glob(os.path.join(output, "articles", "*", "*.parquet")):
        import pyarrow.parquet as pq

        metadata = pq.read_schema(path).metadata
        assert metadata[b"marsad.schema_version"] == b"2"


# -- the outlets of the web's conventions (issue #14) ---------------------------------


def _rows_of(runs, sample_site, outlet: str) -> dict[str, dict]:
    ids = _ids_by_key(sample_site)
    by_id = {r["article_id"]: r for r in runs["articles"]}
    return {
        key.split("/", 1)[1]: by_id[article]
        for key, article in ids.items()
        if key.startswith(outlet + "/") and article in by_id
    }


def _first_paragraph(slug: str) -> str:
    body = (CONTENT_DIR / "articles" / f"{slug}.md").read_text(encoding="utf-8")
    return _squash(body.split("---\n", 2)[2].strip().split("\n\n")[0])


def test_outlet_with_only_a_news_sitemap(runs, sample_site):
    rows = _rows_of(runs, sample_site, "khabar")
    assert set(rows) == {"sitemap-electricity", "sitemap-coalition-advisers"}
    for slug, row in rows.items():
        assert row["feed_url"].endswith("/sitemaps/news.xml.gz"), "entry from the gzipped child"
        assert row["published_from"] == "feed", "news:publication_date taken"
        assert _first_paragraph(slug) in _squash(row["text"])
        assert row["language"] == "ar"
    counts = runs["first"]["counts"]
    assert counts["parse_feeds.sitemap_old"] == 2, "the archive sitemap's old entries skipped"
    assert counts["fetch_feeds.sitemap_index"] == 1


def test_outlet_listed_by_homepage_only(runs, sample_site):
    rows = _rows_of(runs, sample_site, "kurdpress")
    assert set(rows) == {"ckb-erbil-salaries", "kurd-press-harir"}
    assert rows["ckb-erbil-salaries"]["language"] == "ckb", "Sorani is not Arabic or Persian"
    assert rows["kurd-press-harir"]["language"] == "ar"
    assert all(r["feed_url"].endswith("/feed/") for r in rows.values())
    assert runs["first"]["counts"]["discover.sites"] == 1
    assert runs["second"]["counts"]["discover.cached"] == 1, "discovery cached in feed state"
    assert "discover.in" not in runs["second"]["counts"]


def test_windows_1256_mislabelled_as_utf8_is_decoded_cleanly(runs, sample_site):
    rows = _rows_of(runs, sample_site, "mosul")
    assert set(rows) == {"mosul-bridges", "mosul-troops-debate"}
    for slug, row in rows.items():
        assert (row["encoding"], row["encoding_source"]) == ("cp1256", "detected")
        assert _first_paragraph(slug) in _squash(row["text"])
        for field in ("text", "title", "summary"):
            assert "\ufffd" not in row[field] and "Ø" not in row[field], field
    # The feed was mislabelled too: its summaries came through feedparser intact.
    summary = next(
        p.article.summary
        for o in sample_site.outlets
        if o.key == "mosul"
        for p in o.placements
        if p.article.slug == "mosul-bridges"
    )
    assert rows["mosul-bridges"]["summary"] == summary


def test_wildcard_robots_rules_are_obeyed(runs, sample_site):
    rows = _rows_of(runs, sample_site, "anbar")
    # /news/ is disallowed but /news/iraq/ allowed: the longer rule wins.
    assert set(rows) == {"anbar-handover", "anbar-farmers"}
    print_view = sample_site.base_urls["anbar"] + "/economy/2024/02/solar-conference?print=1"
    refused = [f for f in runs["failures"] if f["url"] == print_view and f["run_id"] == "run-1"]
    assert [(f["stage"], f["reason"]) for f in refused] == [("fetch_articles", "robots_disallowed")]


def test_demo_showcase_lists_the_convention_outlets(runs, sample_site):
    from marsad.samplesite.showcase import showcase

    shown = showcase(runs["output"], sample_site.outlets)
    for outlet in ("Khabar Iraq", "Kurd Press", "Mosul Echo", "Anbar Daily"):
        assert outlet in shown
    assert "[ckb utf-8/http]" in shown and "[ar cp1256/detected]" in shown
    assert "[robots_disallowed]" in shown
    assert "\ufffd" not in shown
