"""``marsad compact``: fewer files, the same rows — for readers running meanwhile, and after a kill.

The corpora are written by the pipeline's own writer with one run per article, so
a partition holds one small file per article, as hourly runs leave it.
"""

from __future__ import annotations

import glob
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

import duckdb
import pyarrow.parquet as pq
import pytest
from corpus_factory import START, article, write_corpus

from pipeline import journal
from pipeline.cli import main
from pipeline.compact import (
    CompactConfig,
    ExchangeUnsupported,
    compact_output,
    list_partitions,
    plan_groups,
)
from schemas.tables import SCHEMA_VERSION

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README_QUERY = (
    "SELECT count(*), count(DISTINCT article_id) "
    "FROM read_parquet('{out}/articles/*/*.parquet', hive_partitioning = true)"
)


def one_file_per_article(output: str, days: int, per_day: int, shift: int = 0) -> int:
    """``days`` partitions of ``per_day`` one-row files each (a run per article)."""
    from datetime import timedelta

    records = []
    for day in range(days):
        for k in range(per_day):
            number = shift + day * 1000 + k
            moment = START + timedelta(days=day, minutes=k)
            records.append(article(number, f"Outlet {k % 5}", moment, f"run-{number:07d}"))
    write_corpus(output, records)
    return len(records)


def rows(output: str) -> list[tuple]:
    """Every article row, fully, sorted: equal before and after means nothing lost or doubled."""
    con = duckdb.connect()
    return con.execute(
        f"SELECT * EXCLUDE (published_date) FROM read_parquet('{output}/articles/*/*.parquet', "
        "hive_partitioning = true) ORDER BY article_id"
    ).fetchall()


def files_per_partition(output: str) -> dict[str, int]:
    return {folder: len(parts) for folder, parts in list_partitions(output).items()}


@pytest.fixture
def small_files(tmp_path):
    output = str(tmp_path / "out")
    total = one_file_per_article(output, days=4, per_day=12)
    return output, total


def test_compaction_keeps_every_row_and_leaves_one_file_per_day(small_files):
    output, total = small_files
    before = rows(output)
    assert len(before) == total and set(files_per_partition(output).values()) == {12}
    report = compact_output(output)
    assert rows(output) == before
    assert set(files_per_partition(output).values()) == {1}
    assert {p.method for p in report.partitions} == {"swap"}
    assert "48 files -> 4" in report.summary()
    # Nothing left behind: no staging, no journal.
    assert not glob.glob(os.path.join(output, "_tmp", "compact-*"))
    assert journal.pending(output) == []
    # The compacted file keeps the schema and its version.
    [compacted] = glob.glob(os.path.join(output, "articles", "*", "part-compact-*.parquet"))[:1]
    meta = pq.read_schema(compacted).metadata
    assert meta[b"marsad.dataset"] == b"articles" and b"marsad.schema_version" in meta


def test_compacting_again_rewrites_nothing(small_files):
    output, _ = small_files
    compact_output(output)
    names = sorted(glob.glob(os.path.join(output, "articles", "*", "*.parquet")))
    report = compact_output(output)
    assert sorted(glob.glob(os.path.join(output, "articles", "*", "*.parquet"))) == names
    assert {p.method for p in report.partitions} == {"none"}


def test_new_small_files_join_without_rewriting_large_ones(tmp_path):
    output = str(tmp_path / "out")
    one_file_per_article(output, days=1, per_day=30)
    compact_output(output)
    one_file_per_article(output, days=1, per_day=3, shift=500)
    [parts] = list_partitions(output).values()
    [big] = [p for p in parts if "compact" in p.path]
    # The compacted file is at least half the target: it stays, only the new files merge.
    groups = plan_groups(parts, CompactConfig(target_bytes=big.size * 2))
    assert [len(g) for g in groups] == [3]
    # Under half the target, it is small again and merges with them.
    groups = plan_groups(parts, CompactConfig(target_bytes=big.size * 10))
    assert [len(g) for g in groups] == [4]


def test_files_of_different_schemas_are_never_merged(tmp_path):
    output = str(tmp_path / "out")
    one_file_per_article(output, days=1, per_day=3)
    folder = glob.glob(os.path.join(output, "articles", "*"))[0]
    table = pq.read_table(glob.glob(os.path.join(folder, "*.parquet"))[0])
    older = table.drop_columns(["entities"]).replace_schema_metadata(
        {"marsad.dataset": "articles", "marsad.schema_version": "0"}
    )
    for n in range(2):
        pq.write_table(
            older.set_column(0, "article_id", [[f"a_old{n}"]]),
            os.path.join(folder, f"part-old{n}-00000.parquet"),
        )
    before = rows_by_name(output)
    compact_output(output)
    names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, "*.parquet")))
    assert len(names) == 2 and all(n.startswith("part-compact-") for n in names)
    versions = sorted(
        pq.read_schema(os.path.join(folder, n)).metadata[b"marsad.schema_version"] for n in names
    )
    assert versions == [b"0", SCHEMA_VERSION.encode()]
    assert rows_by_name(output) == before


def rows_by_name(output: str) -> list[tuple]:
    con = duckdb.connect()
    return con.execute(
        f"SELECT article_id, title FROM read_parquet('{output}/articles/*/*.parquet', "
        "hive_partitioning = true, union_by_name = true) ORDER BY article_id"
    ).fetchall()


def test_readers_during_compaction_never_see_a_row_twice_or_miss_one(tmp_path):
    output = str(tmp_path / "out")
    total = one_file_per_article(output, days=30, per_day=15)
    query = README_QUERY.format(out=output)
    stop = threading.Event()
    seen = {"right": 0, "wrong": [], "vanished": 0}

    def reader():
        con = duckdb.connect()
        while not stop.is_set():
            try:
                count, distinct = con.execute(query).fetchone()
            except duckdb.IOException as error:
                # The file list was taken just before a swap: an error, never a wrong answer.
                assert "Cannot open file" in str(error) or "No files found" in str(error), error
                seen["vanished"] += 1
                continue
            if (count, distinct) == (total, total):
                seen["right"] += 1
            else:
                seen["wrong"].append((count, distinct))

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for thread in readers:
        thread.start()
    try:
        time.sleep(0.2)
        before = seen["right"]
        compact_output(output)
        during = seen["right"] - before
    finally:
        stop.set()
        for thread in readers:
            thread.join()
    assert seen["wrong"] == [], "a reader saw rows twice or missed some"
    assert during >= 3, "the readers did run while partitions were swapped"
    assert set(files_per_partition(output).values()) == {1}


def test_marsad_readers_retry_a_swapped_file_and_always_answer(tmp_path):
    from marsad.report import queries
    from marsad.report.corpus import Corpus

    output = str(tmp_path / "out")
    total = one_file_per_article(output, days=30, per_day=15)
    stop = threading.Event()
    answers, errors = [], []

    def reader():
        while not stop.is_set():
            try:
                corpus = Corpus(output)
                answers.append(queries.overview(corpus).articles)
                corpus.close()
            except Exception as error:
                errors.append(repr(error))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        compact_output(output)
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert answers and set(answers) == {total}


# -- crashes -------------------------------------------------------------------------------

_COMPACT_MOVES = (
    "import sys; from pipeline.compact import CompactConfig, compact_output; "
    "compact_output(sys.argv[1], config=CompactConfig(atomic_swap=False))"
)


def _killed_mid_compaction(output: str, delay: float, moves: bool) -> bool:
    """Start a compaction in a child process and kill -9 it ``delay`` s after it starts staging."""
    if moves:
        command = [sys.executable, "-c", _COMPACT_MOVES, output]
    else:
        command = [sys.executable, "-m", "pipeline.cli", "compact", output]
    child = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while not glob.glob(os.path.join(output, "_tmp", "compact-*")):
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            return False
        time.sleep(0.005)
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait()
    return True


@pytest.mark.parametrize("moves", [False, True], ids=["swap", "moves"])
def test_kill_9_mid_compaction_loses_and_duplicates_nothing(tmp_path, moves):
    pristine = str(tmp_path / "pristine")
    one_file_per_article(pristine, days=30, per_day=8)
    expected = rows(pristine)
    rng = random.Random(16)
    interrupted = 0
    for trial, delay in enumerate([0.0, 0.1, 0.4, rng.uniform(0, 1.0)]):
        output = str(tmp_path / f"trial{trial}")
        shutil.copytree(pristine, output)
        if not _killed_mid_compaction(output, delay, moves):
            continue
        interrupted += 1
        if not moves:
            # Swapping folders: every state between the steps holds each row exactly once.
            assert rows(output) == expected, f"trial {trial}: rows differ right after the kill"
        # The next command on the output (it takes the stale lock over) finishes the job.
        assert main(["compact", output]) == 0
        assert rows(output) == expected, f"trial {trial}: rows differ after recovery"
        assert set(files_per_partition(output).values()) == {1}
        assert journal.pending(output) == []
        assert not glob.glob(os.path.join(output, "_tmp", "compact-*"))
        assert not os.path.exists(os.path.join(output, "_lock.json"))
    assert interrupted >= 3


def _crash(*_args, **_kwargs):
    raise KeyboardInterrupt("simulated crash")


def test_recovery_rolls_a_prepared_swap_forward(small_files, monkeypatch):
    output, _ = small_files
    expected = rows(output)
    monkeypatch.setattr("pipeline.compact.exchange_dirs", _crash)
    with pytest.raises(KeyboardInterrupt):
        compact_output(output)
    monkeypatch.undo()
    assert len(journal.pending(output)) == 1 and rows(output) == expected
    accounts = journal.recover(output)
    assert "rolled forward" in accounts[0]
    assert rows(output) == expected
    assert 1 in files_per_partition(output).values()


def test_recovery_after_the_swap_only_cleans_up(small_files, monkeypatch):
    output, _ = small_files
    expected = rows(output)
    from pipeline import compact

    real = compact.exchange_dirs

    def swap_then_crash(first, second):
        real(first, second)
        raise KeyboardInterrupt("crash right after the swap")

    monkeypatch.setattr("pipeline.compact.exchange_dirs", swap_then_crash)
    with pytest.raises(KeyboardInterrupt):
        compact_output(output)
    monkeypatch.undo()
    assert rows(output) == expected
    assert "swap had happened" in journal.recover(output)[0]
    assert rows(output) == expected
    assert not glob.glob(os.path.join(output, "_tmp", "compact-*", "*", "*", "*.parquet"))


def test_recovery_rolls_back_moves_whose_staging_was_lost(small_files, monkeypatch):
    output, _ = small_files
    expected = rows(output)
    monkeypatch.setattr("pipeline.compact._roll_moves_forward", _crash)
    with pytest.raises(KeyboardInterrupt):
        compact_output(output, config=CompactConfig(atomic_swap=False))
    monkeypatch.undo()
    shutil.rmtree(os.path.join(output, "_tmp"))  # what a run does at its start
    assert "rolled back" in journal.recover(output)[0]
    assert rows(output) == expected


def test_no_atomic_swap_here_falls_back_to_moves(small_files, monkeypatch):
    output, _ = small_files
    expected = rows(output)

    def unsupported(*_args):
        raise ExchangeUnsupported(95, "not supported")

    monkeypatch.setattr("pipeline.compact.exchange_dirs", unsupported)
    report = compact_output(output)
    assert {p.method for p in report.partitions} == {"moves"}
    assert rows(output) == expected and set(files_per_partition(output).values()) == {1}


def test_object_store_output_is_compacted_by_moves(small_files):
    import memfs

    output, _ = small_files
    expected = rows(output)
    bucket = "memfs://compact-test/out"
    store = memfs.MemoryFileSystem(None)
    for path in glob.glob(os.path.join(output, "**", "*.parquet"), recursive=True):
        relative = os.path.relpath(path, output)
        with open(path, "rb") as src, store.create(f"{bucket}/{relative}") as dst:
            shutil.copyfileobj(src, dst)
    report = compact_output(bucket)
    assert {p.method for p in report.partitions} == {"moves"}
    assert set(files_per_partition(bucket).values()) == {1}
    local = str(output) + "-back"
    for folder, parts in list_partitions(bucket).items():
        for part in parts:
            target = os.path.join(local, part.path[len(bucket) + 1 :])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with store.open(part.path) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        del folder
    assert rows(local) == expected


def test_command_compacts_one_partition_and_refuses_unknown_ones(small_files, capsys):
    output, _ = small_files
    first = sorted(files_per_partition(output))[0]
    name = "articles/" + os.path.basename(first)
    assert main(["compact", output, "--partition", name]) == 0
    assert "12 files -> 1" in capsys.readouterr().out
    counts = files_per_partition(output)
    assert counts[first] == 1 and sorted(counts.values()) == [1, 12, 12, 12]
    assert main(["compact", output, "--partition", "articles/published_date=1999-01-01"]) == 2
    assert "no such partition" in capsys.readouterr().err


def test_compaction_waits_for_no_one_but_refuses_a_locked_output(small_files, capsys):
    from pipeline.lock import acquire_run_lock

    output, _ = small_files
    with acquire_run_lock(output, "a-running-run", settle_s=0, pid=os.getppid()):
        assert main(["compact", output]) != 0
        assert set(files_per_partition(output).values()) == {12}
    assert "output_locked" in capsys.readouterr().err


@pytest.mark.slow
def test_run_with_compact_merges_the_partitions_it_wrote(sample_site, tmp_path):
    from datetime import UTC, datetime

    from pipeline.run import run_batch

    output = str(tmp_path / "out")
    # The sample site moves its timeline to the present, so the partition the run writes
    # to is the day of its newest article, not a fixed date.
    newest = max(
        p.article.published
        for o in sample_site.outlets
        for p in o.placements
        if p.status != "archived"
    )
    day = newest.astimezone(UTC).date()
    earlier = [
        article(
            n,
            "Earlier Outlet",
            datetime(day.year, day.month, day.day, 0, n, tzinfo=UTC),
            f"run-old-{n}",
        )
        for n in range(3)
    ] + [
        article(10 + n, "Earlier Outlet", datetime(2019, 1, 1, 1, n, tzinfo=UTC), f"run-old-{n}")
        for n in range(3)
    ]
    write_corpus(output, earlier)
    sources = sample_site.write_sources(str(tmp_path / "sources.yaml"))
    manifest = run_batch(
        [
            "--sources",
            sources,
            "--output",
            output,
            "--allow_network",
            f"{sample_site.host_prefix}.0/24",
            "--min_interval",
            "0.05",
            "--compact",
            "--run_id",
            "run-compacting",
        ]
    )
    counts = files_per_partition(output)
    touched = os.path.join(output, "articles", f"published_date={day.isoformat()}")
    assert counts[touched] == 1, "the run's partition was compacted with the earlier files"
    assert counts[os.path.join(output, "articles", "published_date=2019-01-01")] == 3
    assert manifest["compaction"]["partitions"] >= 1
    names = {
        r[0]
        for r in duckdb.connect()
        .execute(f"SELECT source FROM read_parquet('{touched}/*.parquet')")
        .fetchall()
    }
    assert "Earlier Outlet" in names and len(names) > 1
