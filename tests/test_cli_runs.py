"""Whole runs through the real ``marsad`` command: exit codes and the plain-words verdict,
the live progress display (pseudo-terminal, in-process and multi-process runners), and
what the rows carry (outlet tags, NULL for absent values) read back with DuckDB and
through ``marsad export``.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.cli import main
from tests.cli_support import LOOPBACK, assert_user_error, marsad, marsad_in_terminal

pytestmark = pytest.mark.slow
FAST = ["--min_interval", "0.01", "--connect_timeout", "2", "--read_timeout", "3"]
PROGRESS = re.compile(
    r"feeds (\d+)/(\d+)(?: \((\d+) failed\))? · entries (\d+) · articles (\d+)(?:/(\d+))? fetched, "
    r"(\d+) extracted, (\d+) failed · [\d.]+/s · \d+:\d\d:\d\d"
)


def _closed_port(host: str) -> int:
    """A port nothing listens on at ``host`` (connections are refused)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _dead_feeds(count: int) -> list[dict]:
    hosts = [f"127.88.0.{n}" for n in range(1, count + 1)]
    return [
        {"name": f"Gone {n}", "feeds": [f"http://{host}:{_closed_port(host)}/rss"]}
        for n, host in enumerate(hosts, 1)
    ]


def _sources(path: Path, sample_site, dead: int = 0, sample: bool = True) -> str:
    document = yaml.safe_load(sample_site.sources_document()) if sample else {"sources": []}
    document["sources"] += _dead_feeds(dead)
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return str(path)


def _manifest(output: Path) -> dict:
    (path,) = (output / "runs").glob("*.json")
    return json.loads(path.read_text(encoding="utf-8"))


def _last_progress(text: str) -> dict[str, int]:
    found = PROGRESS.findall(text)
    assert found, text[-2000:]
    feeds, total, feeds_failed, entries, fetched, to_fetch, extracted, failed = found[-1]
    return {
        "feeds": int(feeds),
        "total": int(total),
        "feeds_failed": int(feeds_failed or 0),
        "entries": int(entries),
        "fetched": int(fetched),
        "to_fetch": int(to_fetch or 0),
        "extracted": int(extracted),
        "failed": int(failed),
    }


def _assert_progress_matches(progress: dict[str, int], manifest: dict) -> None:
    """The last frame shows the run's final counts (Beam's committed metrics)."""
    counts = manifest["counts"]
    # Every feed fetch started (sources, sitemap children, discovered feeds) has ended.
    assert progress["feeds"] == progress["total"] == counts["fetch_feeds.in"] >= manifest["feeds"]
    assert progress["entries"] == counts.get("parse_feeds.entries", 0)
    assert progress["fetched"] == counts.get("fetch_articles.out", 0)
    assert progress["extracted"] == counts.get("extract.out", 0)
    assert progress["fetched"] > 0 and progress["entries"] > 0


@pytest.fixture
def quiet_logging(monkeypatch):
    # main() reconfigures logging for a command-line process; not for pytest's.
    monkeypatch.setattr("pipeline.cli.configure_logging", lambda verbose, quiet: None)


@pytest.fixture(scope="module")
def tty_run(sample_site, tmp_path_factory):
    """One run on a terminal, options spelt with dashes."""
    root = tmp_path_factory.mktemp("tty-run")
    sources = _sources(root / "sources.yaml", sample_site)
    output = root / "out"
    run = marsad_in_terminal(
        "run", "--sources", sources, "--output", str(output), *LOOPBACK, *FAST,
        "--dedup-threshold", "0.6", "--max-failed-feeds", "0.5",
    )  # fmt: skip
    return run, output, _manifest(output)


def test_progress_is_drawn_on_a_terminal_and_ends_at_the_final_counts(tty_run):
    run, _output, manifest = tty_run
    assert run.returncode == 0, run.text[-3000:]
    assert "⠋" in run.raw or "⠙" in run.raw or "⠹" in run.raw, "rich's spinner frames"
    assert "\x1b[" in run.raw, "drawn with terminal control sequences"
    _assert_progress_matches(_last_progress(run.text), manifest)
    assert "exit 0: complete:" in run.text


def test_options_spelt_with_dashes_reach_the_pipeline(tty_run):
    _run, _output, manifest = tty_run
    assert manifest["options"]["dedup_threshold"] == 0.6
    assert manifest["options"]["max_failed_feeds"] == 0.5
    assert manifest["outcome"]["max_failed_feeds"] == 0.5


def test_progress_counts_come_from_every_worker_process(sample_site, tmp_path):
    """multi_processing: DoFns run in worker processes; the display still sums them."""
    sources = _sources(tmp_path / "sources.yaml", sample_site)
    output = tmp_path / "out"
    run = marsad_in_terminal(
        "run", "--sources", sources, "--output", str(output), *LOOPBACK, *FAST,
        "--direct_running_mode=multi_processing", "--direct_num_workers=2",
    )  # fmt: skip
    assert run.returncode == 0, run.text[-3000:]
    _assert_progress_matches(_last_progress(run.text), _manifest(output))


def test_some_feeds_failing_beyond_the_share_is_exit_5_quiet_on_a_terminal(sample_site, tmp_path):
    sources = _sources(tmp_path / "sources.yaml", sample_site, dead=5)
    output = tmp_path / "out"
    run = marsad_in_terminal(
        "run", "-q", "--sources", sources, "--output", str(output), *LOOPBACK, *FAST
    )
    assert run.returncode == 5, run.text
    assert not PROGRESS.search(run.text), "-q draws no progress"
    assert "stage" not in run.text, "-q prints no summary table"
    manifest = _manifest(output)
    outcome = manifest["outcome"]
    assert outcome["code"] == "too_many_failed" and outcome["feeds_failed"] == 5 + 1  # + malformed
    line = run.text.strip().splitlines()[-1]
    assert line.startswith(f"marsad: 6 of {manifest['feeds']} feeds failed (")
    assert "connections failed for 5 hosts (127.88.0.1, 127.88.0.2, 127.88.0.3, …)" in line
    assert "more than --max_failed_feeds 25%" in line


def test_no_feed_reachable_is_exit_4_with_the_cause_in_words(sample_site, tmp_path):
    """Not a terminal: no progress; the summary ends with what happened and what to do."""
    sources = _sources(tmp_path / "sources.yaml", sample_site, dead=3, sample=False)
    output = tmp_path / "out"
    result = marsad("run", "--sources", sources, "--output", str(output), *LOOPBACK, *FAST)
    assert result.returncode == 4, result.stdout + result.stderr
    assert not PROGRESS.search(result.stdout + result.stderr)
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("exit 4: no feed could be fetched: connections failed for all 3 hosts")
    assert " — is a firewall or proxy in the way" in last
    assert _manifest(output)["outcome"]["exit_code"] == 4


def test_rows_carry_outlet_tags_and_null_for_absent_values(tty_run):
    _run, output, _ = tty_run
    articles = f"read_parquet('{output}/articles/*/*.parquet', hive_partitioning = true)"
    connection = duckdb.connect()
    tags = connection.execute(f"SELECT DISTINCT source_tags FROM {articles}").fetchall()
    assert tags == [(["sample"],)]
    schema = pq.read_schema(next((output / "articles").glob("*/*.parquet")))
    described = schema.field("source_tags").metadata[b"description"].decode()
    assert "sources file" in described
    strings = [f.name for f in schema if str(f.type) == "string"]
    empty = " OR ".join(f"\"{name}\" = ''" for name in strings)
    assert connection.execute(f"SELECT count(*) FROM {articles} WHERE {empty}").fetchone() == (0,)
    kept = connection.execute(
        f"SELECT count(*), count(duplicate_of) FROM {articles} WHERE NOT is_duplicate"
    ).fetchone()
    assert kept[0] > 0 and kept[1] == 0, "duplicate_of is NULL, not '', on kept rows"
    failures = f"read_parquet('{output}/failures/*/*.parquet', hive_partitioning = true)"
    assert connection.execute(
        f"SELECT count(*) FROM {failures} WHERE article_id = ''"
    ).fetchone() == (0,)


@pytest.mark.parametrize("extension", ["csv", "jsonl", "parquet"])
def test_export_writes_the_rows_duckdb_selects(tty_run, tmp_path, extension, capsys, quiet_logging):
    """CSV through the installed command; the other formats through its ``main()``."""
    _run, output, _ = tty_run
    target = tmp_path / f"relevant.{extension}"
    where = "is_relevant AND NOT is_duplicate"
    argv = ["export", str(output), str(target), "--where", where]
    if extension == "csv":
        result = marsad(*argv)
    else:
        code = main(argv)
        captured = capsys.readouterr()
        result = subprocess.CompletedProcess(argv, code, captured.out, captured.err)
    assert result.returncode == 0, result.stderr
    connection = duckdb.connect()
    expected = connection.execute(
        f"SELECT article_id FROM read_parquet('{output}/articles/*/*.parquet', "
        f"hive_partitioning = true) WHERE {where} ORDER BY article_id"
    ).fetchall()
    reader = {"csv": "read_csv", "jsonl": "read_json", "parquet": "read_parquet"}[extension]
    written = connection.execute(
        f"SELECT article_id, published_date FROM {reader}('{target}') ORDER BY article_id"
    ).fetchall()
    assert [row[0] for row in written] == [row[0] for row in expected] and expected
    assert all(row[1] for row in written), "the partition column is exported too"
    assert result.stdout.strip() == f"exported {len(expected)} articles rows to {target}"
    assert not list(tmp_path.glob("*.partial"))


def test_export_failures_with_columns_and_an_explicit_format(tty_run, tmp_path):
    _run, output, _ = tty_run
    target = tmp_path / "failures.txt"
    result = marsad(
        "export", str(output), str(target), "--dataset", "failures", "--format", "csv",
        "--columns", "stage,reason,url",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    header, *rows = target.read_text(encoding="utf-8").splitlines()
    assert header == "stage,reason,url" and rows


def test_export_refuses_bad_sql_without_leaving_a_file(tty_run, tmp_path):
    _run, output, _ = tty_run
    target = tmp_path / "x.parquet"
    result = marsad("export", str(output), str(target), "--where", "topic_score >>> 1")
    assert_user_error(result, 2, "query_invalid")
    assert list(tmp_path.iterdir()) == []


def test_tag_writes_the_format_its_extension_names_with_nulls(tmp_path, quiet_logging):
    source = tmp_path / "in.jsonl"
    rows = [
        {"id": "1", "title": "انسحاب القوات الأمريكية", "text": "بحث البرلمان العراقي انسحاب القوات الأمريكية من العراق."},
        {"id": "2", "title": "", "text": "12345 67890"},
    ]  # fmt: skip
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    for extension in ("csv", "jsonl", "parquet"):
        target = tmp_path / f"tagged.{extension}"
        argv = ["tag", "--input", str(source), "--output", str(target)]
        # The case (t.csv) through the installed command; the rest via main().
        code = marsad(*argv).returncode if extension == "csv" else main(argv)
        assert code == 0
        reader = {"csv": "read_csv", "jsonl": "read_json", "parquet": "read_parquet"}[extension]
        found = (
            duckdb.connect()
            .execute(f"SELECT id, language, topic_score FROM {reader}('{target}') ORDER BY id")
            .fetchall()
        )
        assert [str(row[0]) for row in found] == ["1", "2"]
        assert found[0][1] == "ar" and found[1][1] is None, "no language: NULL, not ''"
    assert pq.read_table(tmp_path / "tagged.parquet").num_rows == 2
    assert (tmp_path / "tagged.csv").read_text().startswith("id,")
