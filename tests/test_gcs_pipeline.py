"""The demo pipeline with its output on ``gs://``, against a local Cloud Storage emulator.

gcp-storage-emulator answers the JSON API including the batch requests Beam's GCS
filesystem sends for renames and deletes, so this is Beam's real ``gs://`` code path
end to end: articles, failures, feed state, manifest, a rerun that adds nothing, the
lock released, and the table commands reading ``gs://``.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytest.importorskip("google.cloud.storage", reason="needs apache-beam[gcp] (google-cloud-storage)")

from marsad.feeds.urls import article_id, canonicalize_url
from marsad.fetch.feedstate import loads_state
from pipeline.run import run_batch
from tests.gcs_emulators import (
    EMULATOR_ENV,
    anonymous_gcp_credentials,
    create_bucket,
    gcp_storage_emulator,
)

pytestmark = pytest.mark.slow

BUCKET = "marsad-e2e"
OUTPUT = f"gs://{BUCKET}/out"


def _client():
    from google.cloud import storage

    return storage.Client(project="marsad-test").bucket(BUCKET)


def _objects(prefix: str) -> dict[str, bytes]:
    bucket = _client()
    return {
        f"gs://{BUCKET}/{blob.name}": blob.download_as_bytes()
        for blob in bucket.client.list_blobs(BUCKET, prefix=prefix)
    }


def _rows(prefix: str) -> list[dict]:
    rows = []
    for path, data in _objects(prefix).items():
        if path.endswith(".parquet"):
            for row in pq.read_table(io.BytesIO(data)).to_pylist():
                row["_path"] = path
                rows.append(row)
    return rows


@pytest.fixture(scope="module")
def gcs_runs(sample_site, tmp_path_factory):
    with (
        gcp_storage_emulator() as endpoint,
        anonymous_gcp_credentials(),
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv(EMULATOR_ENV, endpoint)
        create_bucket(endpoint, BUCKET)
        local = tmp_path_factory.mktemp("gcs-local")
        sources = f"gs://{BUCKET}/config/sources.yaml"
        _client().blob("config/sources.yaml").upload_from_string(
            Path(sample_site.write_sources(str(local / "sources.yaml"))).read_bytes()
        )
        workdir = tmp_path_factory.mktemp("gcs-cwd")
        previous = os.getcwd()
        os.chdir(workdir)  # a relative local write would land here
        try:
            common = ["--sources", sources, "--output", OUTPUT, "--no_auth"]
            common += ["--allow_network", "127.77.0.0/24", "--min_interval", "0.05"]
            first = run_batch([*common, "--run_id", "gcs-1"])
            articles = _rows("out/articles/")
            second = run_batch([*common, "--run_id", "gcs-2"])
            yield {
                "first": first,
                "second": second,
                "sources": sources,
                "articles": articles,
                "articles_after_rerun": _rows("out/articles/"),
                "failures": _rows("out/failures/"),
                "objects": sorted(_objects("out/")),
                "state": _objects("out/state/"),
                "manifests": _objects("out/runs/"),
                "local_files": sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*")),
                "endpoint": endpoint,
            }
        finally:
            os.chdir(previous)


def test_runs_succeed_and_balance(gcs_runs, sample_site):
    for run in ("first", "second"):
        manifest = gcs_runs[run]
        assert manifest["status"].endswith("DONE"), manifest["status"]
        assert manifest["accounting"]["balanced"], manifest["accounting"]
        assert manifest["output"] == OUTPUT
    placements = sample_site.expected_entries()
    assert gcs_runs["first"]["accounting"]["entries"] == placements


def test_articles_on_gs_read_back_and_rerun_adds_nothing(gcs_runs, sample_site):
    expected = {
        article_id(canonicalize_url(url)) for url in sample_site.expected_article_urls().values()
    }
    rows = gcs_runs["articles"]
    assert {row["article_id"] for row in rows} == expected
    assert len(rows) == len(expected)
    assert all("/articles/published_date=" in row["_path"] for row in rows)
    after = gcs_runs["articles_after_rerun"]
    assert sorted(r["article_id"] for r in after) == sorted(r["article_id"] for r in rows)


def test_failures_state_manifests_and_nothing_left_behind(gcs_runs):
    failures = [r for r in gcs_runs["failures"] if r["run_id"] == "gcs-1"]
    assert failures and all(r["stage"] and r["reason"] for r in failures)
    assert not [r for r in gcs_runs["failures"] if r["run_id"] == "gcs-2"] or all(
        r["reason"] for r in gcs_runs["failures"]
    )
    state = loads_state(gcs_runs["state"][f"{OUTPUT}/state/feeds.json"])
    assert state, "feed state promoted on gs://"
    for run_id in ("gcs-1", "gcs-2"):
        manifest = json.loads(gcs_runs["manifests"][f"{OUTPUT}/runs/{run_id}.json"])
        assert manifest["run_id"] == run_id
    objects = gcs_runs["objects"]
    assert not [p for p in objects if "/_tmp/" in p], "no temporary objects after good runs"
    assert f"{OUTPUT}/_lock.json" not in objects, "the run lock is released"
    assert gcs_runs["local_files"] == [], "nothing written to the local filesystem"


def test_dedup_and_tag_read_a_gs_articles_folder(gcs_runs, tmp_path, monkeypatch):
    from pipeline.cli import main

    monkeypatch.setenv(EMULATOR_ENV, gcs_runs["endpoint"])
    tagged = tmp_path / "tagged.parquet"
    assert main(["tag", "--input", f"{OUTPUT}/articles", "--output", str(tagged)]) == 0
    table = pq.read_table(tagged)
    assert table.num_rows == len(gcs_runs["articles"])
    deduped = tmp_path / "dedup.parquet"
    assert main(["dedup", "--input", f"{OUTPUT}/articles", "--output", str(deduped)]) == 0
    assert pq.read_table(deduped).num_rows == len(gcs_runs["articles"])


def test_report_reads_a_gs_output(gcs_runs, tmp_path, monkeypatch):
    from pipeline.cli import main

    monkeypatch.setenv(EMULATOR_ENV, gcs_runs["endpoint"])
    report = tmp_path / "report.html"
    assert main(["report", OUTPUT, "--out", str(report), "--since", "2000-01-01"]) == 0
    html = report.read_text(encoding="utf-8")
    sources = {row["source"] for row in gcs_runs["articles"]}
    assert sources and all(source in html for source in sources), "every outlet is reported"
    assert "gcs-1" in html and "gcs-2" in html, "both runs' manifests are in the report"
