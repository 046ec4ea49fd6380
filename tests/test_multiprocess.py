"""A local run on several worker processes writes the same rows as a single-process run.

Beam's FnApiRunner in ``multi_processing`` mode runs bundles in separate Python
processes, and marsad's own worker pool (``--workers``) runs extraction, cleaning and
tagging in separate processes; anything kept per process (caches, clients, dedup memory)
must not change what is decided. The runs read the same sample site, so article ids agree.
"""

from __future__ import annotations

import duckdb
import pytest

from pipeline.run import run_batch

pytestmark = pytest.mark.slow

COLUMNS = (
    "article_id, canonical_url, source, title, content_hash, cluster_id, is_canonical, "
    "is_duplicate, duplicate_of, round(duplicate_similarity, 6) AS similarity, "
    "round(topic_score, 6) AS score, is_relevant, subtopics, language, published_date"
)


def _rows(output: str) -> list[tuple]:
    query = (
        f"SELECT {COLUMNS} FROM read_parquet('{output}/articles/*/*.parquet', "
        "hive_partitioning = true) ORDER BY article_id"
    )
    return duckdb.sql(query).fetchall()


def _failures(output: str) -> list[tuple]:
    query = (
        "SELECT stage, reason, url FROM read_parquet("
        f"'{output}/failures/*/*.parquet', hive_partitioning = true) ORDER BY url, stage"
    )
    return duckdb.sql(query).fetchall()


def test_two_worker_processes_write_the_same_rows_as_one(sample_site, tmp_path):
    sources = sample_site.write_sources(str(tmp_path / "sources.yaml"))
    common = ["--sources", sources, "--allow_network", "127.77.0.0/24", "--min_interval", "0.05"]
    single = str(tmp_path / "single")
    multi = str(tmp_path / "multi")
    one = run_batch([*common, "--output", single, "--workers", "1"])
    two = run_batch(
        [
            *common,
            "--output",
            multi,
            "--direct_running_mode=multi_processing",
            "--direct_num_workers=2",
        ]
    )
    assert _rows(single) and _rows(multi) == _rows(single)
    assert _failures(multi) == _failures(single)
    # Metrics from worker processes are aggregated: the same accounting either way.
    assert two["accounting"] == one["accounting"] and two["accounting"]["balanced"]


def test_worker_processes_write_the_same_rows_as_one_process(sample_site, tmp_path):
    """``--workers 2`` (extraction, cleaning and tagging in a process pool, marsad.workers)
    against everything in the pipeline's own process."""
    sources = sample_site.write_sources(str(tmp_path / "sources.yaml"))
    common = ["--sources", sources, "--allow_network", "127.77.0.0/24", "--min_interval", "0.05"]
    single, pooled = str(tmp_path / "single"), str(tmp_path / "pooled")
    one = run_batch([*common, "--output", single, "--workers", "1"])
    two = run_batch([*common, "--output", pooled, "--workers", "2"])
    assert _rows(single) and _rows(pooled) == _rows(single)
    assert _failures(pooled) == _failures(single)
    assert two["accounting"] == one["accounting"] and two["accounting"]["balanced"]
