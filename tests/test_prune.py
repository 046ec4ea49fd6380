"""``marsad prune``: old failures and run manifests go; articles never do."""

from __future__ import annotations

import glob
import hashlib
import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from corpus_factory import article, failure, manifest, write_corpus

from pipeline.cli import main
from pipeline.prune import _inside, prune_output, run_started

NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)


def _tree_digest(folder: str) -> dict[str, str]:
    digest = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                digest[os.path.relpath(path, folder)] = hashlib.sha256(handle.read()).hexdigest()
    return digest


@pytest.fixture
def aged(tmp_path):
    """400 days of daily failures, monthly articles, and a manifest a month."""
    output = str(tmp_path / "out")
    days = [NOW - timedelta(days=d) for d in range(0, 400)]
    runs = [NOW - timedelta(days=d) for d in range(0, 400, 30)]
    write_corpus(
        output,
        [article(n, "Reuters", moment, f"run-{n}") for n, moment in enumerate(days[::30])],
        [failure("Rudaw", moment, f"run-f{n}") for n, moment in enumerate(days)],
        [manifest(moment.strftime("%Y%m%dT%H%M%SZ") + "-abc123", moment, 1, 1) for moment in runs],
    )
    # A manifest whose id carries no time (a --run_id of the user's) is aged by started_at.
    old = manifest("my-own-id", NOW - timedelta(days=500), 1, 0)
    with open(os.path.join(output, "runs", "my-own-id.json"), "w") as handle:
        json.dump(old, handle)
    return output


def _failure_days(output: str) -> list[str]:
    return sorted(os.listdir(os.path.join(output, "failures")))


def test_prune_removes_old_failure_days_and_manifests_only(aged):
    articles_before = _tree_digest(os.path.join(aged, "articles"))
    report = prune_output(aged, timedelta(days=90), timedelta(days=365), now=NOW)
    days = _failure_days(aged)
    # The day 90 days back is kept: part of it is younger than 90 days. Never less kept.
    assert days[0] == "failed_date=" + (NOW - timedelta(days=90)).date().isoformat()
    assert len(days) == 91
    assert len(report.failure_partitions) == 400 - 91
    manifests = sorted(os.listdir(os.path.join(aged, "runs")))
    assert "my-own-id.json" not in manifests
    for name in manifests:
        assert run_started(os.path.join(aged, "runs", name)) >= NOW - timedelta(days=365)
    assert len(manifests) == len(range(0, 366, 30))
    assert _tree_digest(os.path.join(aged, "articles")) == articles_before
    assert not glob.glob(os.path.join(aged, "_tmp", "prune-*"))


def test_dry_run_deletes_nothing(aged):
    everything = _tree_digest(aged)
    report = prune_output(aged, timedelta(days=90), timedelta(days=365), now=NOW, dry_run=True)
    assert report.failure_partitions and report.manifests
    assert "would remove" in report.summary()
    assert _tree_digest(aged) == everything


def test_the_guard_refuses_anything_outside_failures_and_runs(aged):
    for path in (
        f"{aged}/articles/x.parquet",
        f"{aged}/state/feeds.json",
        "/etc/passwd",
        f"{aged}-other/runs/x.json",
    ):
        with pytest.raises(RuntimeError, match="outside failures/ and runs/"):
            _inside(aged, path)
    _inside(aged, f"{aged}/failures/failed_date=2020-01-01")


def test_command(aged, capsys):
    assert main(["prune", aged, "--failures-older-than", "90d", "--runs-older-than", "1y"]) == 0
    out = capsys.readouterr().out
    assert "failures: removed" in out and "runs: removed" in out
    assert main(["prune", aged]) == 2
    assert "say what to prune" in capsys.readouterr().err
    assert main(["prune", aged, "--failures-older-than", "3 months"]) == 2
    assert "[input_invalid]" in capsys.readouterr().err


def test_prune_on_an_object_store(aged):
    import shutil

    import memfs

    bucket = "memfs://prune-test/out"
    store = memfs.MemoryFileSystem(None)
    for root, _, files in os.walk(aged):
        for name in files:
            path = os.path.join(root, name)
            with (
                open(path, "rb") as src,
                store.create(f"{bucket}/{os.path.relpath(path, aged)}") as dst,
            ):
                shutil.copyfileobj(src, dst)
    articles = sorted(m.path for m in store.match([f"{bucket}/articles/**"])[0].metadata_list)
    prune_output(bucket, timedelta(days=90), timedelta(days=365), now=NOW)
    failures = {
        m.path.split("/")[-2] for m in store.match([f"{bucket}/failures/**"])[0].metadata_list
    }
    assert len(failures) == 91
    assert (
        sorted(m.path for m in store.match([f"{bucket}/articles/**"])[0].metadata_list) == articles
    )
