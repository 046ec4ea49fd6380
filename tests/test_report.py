"""``marsad report``: the queries on a known corpus, the periods, odd corpora, remote outputs.

The corpus (``corpus_factory.newsroom``) is written by the pipeline's own Parquet
writer: four outlets over twenty days, one story carried by three outlets, one feed
that dies on day 11. The browser renders the page in ``test_report_browser.py``.
"""

from __future__ import annotations

import os
import shutil
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from corpus_factory import DAYS, RUDAW_DIES_ON, START, article, newsroom, write_corpus

from marsad.ages import parse_age, parse_since
from marsad.errors import InputError
from marsad.report import queries
from marsad.report.corpus import Corpus
from marsad.report.page import build_report
from pipeline.cli import main
from pipeline.report_cmd import resolve_since


@pytest.fixture(scope="module")
def newsroom_out(tmp_path_factory):
    output = str(tmp_path_factory.mktemp("newsroom") / "out")
    return output, newsroom(output)


@pytest.fixture
def corpus(newsroom_out):
    output, _ = newsroom_out
    opened = Corpus(output)
    yield opened
    opened.close()


def test_articles_per_day_and_outlet_match_what_was_written(corpus, newsroom_out):
    _, facts = newsroom_out
    over = queries.overview(corpus)
    assert over.articles == len(facts["articles"])
    assert over.bin == "day"
    shown = queries.legend_outlets(corpus)
    rows = queries.articles_over_time(corpus, over.bin, shown)
    got = {(r["bin"], r["outlet"]): r["articles"] for r in rows}
    assert got == facts["per_day"]


def test_relevance_counts_each_story_once(corpus, newsroom_out):
    _, facts = newsroom_out
    rows = queries.relevance_over_time(corpus, "day")
    stories = [a for a in facts["articles"] if not a.is_duplicate]
    assert sum(r["stories"] for r in rows) == len(stories)
    assert sum(r["relevant"] for r in rows) == sum(a.is_relevant for a in stories)
    for r in rows:
        assert r["share"] == pytest.approx(r["relevant"] / r["stories"], abs=1e-4)


def test_the_syndicated_story_names_who_was_first(corpus, newsroom_out):
    _, facts = newsroom_out
    [cluster] = queries.syndication_clusters(corpus)
    assert cluster["cluster_id"] == facts["wire_id"]
    assert cluster["first_outlet"] == "Reuters"
    assert cluster["tied_first"] == 1
    assert [m["source"] for m in cluster["members"]] == ["Reuters", "الجزيرة", "شفق نيوز"]
    outlets = {o["outlet"]: o for o in queries.top_outlets(corpus)}
    assert outlets["Reuters"]["broke_first"] == 1
    assert outlets["الجزيرة"]["copies"] == 1


def test_the_dying_feed_fills_its_row_of_the_failures_map(corpus):
    cells = [c for c in queries.failures_over_time(corpus, "day") if c["outlet"] == "Rudaw"]
    assert len(cells) == DAYS - RUDAW_DIES_ON
    assert all(c["commonest"] == "fetch_feeds: http_503" for c in cells)
    [reason] = queries.failure_reasons(corpus)
    assert (reason["outlet"], reason["failures"], reason["runs"]) == ("Rudaw", 9, 9)


def test_recent_relevant_are_relevant_originals_by_score(corpus):
    rows = queries.recent_relevant(corpus, queries.overview(corpus).last_day)
    assert rows and len(rows) <= 30
    scores = [r["topic_score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert rows[0]["terms"][0] == {"term": "الانسحاب", "count": 3}


def test_runs_come_from_the_manifests(corpus, newsroom_out):
    rows = queries.run_rows(corpus)
    assert [r["run_id"] for r in rows] == ["run-19", "run-09", "run-00"]
    assert rows[0]["failures"] == 1 and rows[0]["balanced"] is True


def test_since_prunes_days_before_it(newsroom_out):
    output, facts = newsroom_out
    since = date(2024, 3, 15)
    corpus = Corpus(output, since)
    try:
        over = queries.overview(corpus)
        assert over.first_day == since
        expected = sum(1 for a in facts["articles"] if a.published_at.date() >= since)
        assert over.articles == expected
        assert over.runs == 1  # run-19 only
    finally:
        corpus.close()


def test_periods():
    assert resolve_since(None) == (None, "all days; --since narrows")
    assert resolve_since("all")[0] is None
    assert resolve_since("2024-02-01")[0] == date(2024, 2, 1)
    assert resolve_since("30d", today=date(2024, 6, 1))[0] == date(2024, 5, 2)


@pytest.mark.parametrize("text", ["90", "3m", "1 month", "", "-5d"])
def test_ages_refuse_what_they_cannot_mean(text):
    with pytest.raises(InputError):
        parse_age(text)
    with pytest.raises(InputError):
        parse_since(text)


def test_ages():
    assert parse_age("90d").days == 90
    assert parse_age("12w").days == 84
    assert parse_age("1y").days == 365


def test_files_of_an_older_schema_are_read_by_name(tmp_path):
    output = str(tmp_path / "out")
    write_corpus(output, [article(1, "Reuters", START, "run-new", relevant=True)])
    old = pa.table(
        {
            "article_id": ["a_old"],
            "source": ["Old Outlet"],
            "title": ["قديم"],
            "published_at": pa.array([START], pa.timestamp("us", tz="UTC")),
        }
    )
    folder = os.path.join(output, "articles", "published_date=2024-03-01")
    pq.write_table(old, os.path.join(folder, "part-run-old-00000.parquet"))
    corpus = Corpus(output)
    try:
        assert queries.overview(corpus).articles == 2
        assert {o["outlet"] for o in queries.top_outlets(corpus)} == {"Reuters", "Old Outlet"}
    finally:
        corpus.close()


def test_a_column_no_file_has_yet_reads_as_null(tmp_path):
    output = str(tmp_path / "out")
    folder = os.path.join(output, "articles", "published_date=2024-03-01")
    os.makedirs(folder)
    pq.write_table(
        pa.table({"article_id": ["a_1"], "source": ["X"], "is_relevant": [True]}),
        os.path.join(folder, "part-r-00000.parquet"),
    )
    html = build_report(output)
    assert "No story was carried by more than one outlet" in html


def test_an_empty_output_gives_a_page_that_says_so(tmp_path):
    html = build_report(str(tmp_path))
    assert "No articles in this period." in html
    assert "No failures recorded in this period." in html
    assert "No run manifests in this period." in html


def test_command_writes_one_self_contained_file(newsroom_out, tmp_path, capsys):
    output, _ = newsroom_out
    target = tmp_path / "r.html"
    assert main(["report", output, "--since", "all", "--out", str(target)]) == 0
    assert f"report: {target}" in capsys.readouterr().out
    html = target.read_text(encoding="utf-8")
    assert "vegaEmbed" in html and '"chart-timeline"' in html
    # Nothing is fetched when the page opens: no external script, style or font.
    for needle in ("<script src", "<link ", "@import", "url(http"):
        assert needle not in html
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_command_reports_a_missing_output_as_a_user_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "marsad: error [output_missing]" in capsys.readouterr().err
    assert main(["report", str(tmp_path), "--since", "lately"]) == 2


def test_report_of_an_object_store_output(newsroom_out, tmp_path):
    import memfs  # registers memfs://, an object store without folders

    output, facts = newsroom_out
    bucket = "memfs://report-test/out"
    for root, _, files in os.walk(output):
        for name in files:
            local = os.path.join(root, name)
            relative = os.path.relpath(local, output).replace(os.sep, "/")
            with (
                open(local, "rb") as src,
                memfs.MemoryFileSystem(None).create(f"{bucket}/{relative}") as dst,
            ):
                shutil.copyfileobj(src, dst)
    assert main(["report", bucket, "--since", "all", "--out", f"{bucket}/report.html"]) == 0
    with memfs.MemoryFileSystem(None).open(f"{bucket}/report.html") as handle:
        html = handle.read().decode("utf-8")
    assert f"<b>{len(facts['articles'])}</b><span>articles</span>" in html
    assert "Rudaw" in html and "شفق نيوز" in html
