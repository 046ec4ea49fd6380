"""The streaming graph end to end on the FnApiRunner with a bounded PeriodicImpulse,
against the sample site whose feeds grow between polls."""

from __future__ import annotations

import os

import pyarrow.dataset as ds
import pytest

from marsad.feeds.urls import article_id, canonicalize_url
from marsad.samplesite import SampleSite
from pipeline.stream import run_stream

pytestmark = pytest.mark.slow


def test_polls_write_each_published_article_once(tmp_path):
    with SampleSite(port=0, progressive=True) as site:
        sources = site.write_sources(str(tmp_path / "sources.yaml"))
        output = str(tmp_path / "out")
        most_articles = max(len(o.placements) for o in site.outlets)
        manifest = run_stream(
            [
                "--sources", sources, "--output", output, "--runner", "FnApiRunner",
                "--allow_network", "127.77.0.0/24", "--min_interval", "0.01",
                "--poll_interval", "1.5", "--window_size", "1.5",
                "--max_polls", str(most_articles + 1),
            ]
        )  # fmt: skip
        expected = {article_id(canonicalize_url(u)) for u in site.expected_article_urls().values()}
    table = ds.dataset(os.path.join(output, "articles"), partitioning="hive").to_table()
    ids = table.column("article_id").to_pylist()
    assert sorted(ids) == sorted(expected), "every published article, each exactly once"
    counts = manifest["counts"]
    assert counts["parse_feeds.already_listed"] > 0, "repeated items were seen and skipped"
    assert counts["fetch_articles.failed.http_404"] == 1, "fetched once, not once per poll"
    duplicates = [row for row in table.to_pylist() if row["is_duplicate"]]
    assert len(duplicates) == 2, "the wire story's two copies are flagged"
    names = [name for _, _, files in os.walk(os.path.join(output, "articles")) for name in files]
    windows = {name.split("-w", 1)[1].split("-p", 1)[0] for name in names}
    assert len(windows) > 1, "articles found by later polls land in later windows"
