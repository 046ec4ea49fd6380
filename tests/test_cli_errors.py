"""Every user error of every subcommand: one ``marsad: error [code]`` line, a hint, the
documented exit code, no traceback — and for runs, not one request sent.

Runs the real command line in subprocesses. Every subcommand the parser declares
(including ones added later) is walked with an unknown option; the cases the issue
names (output path that is a file, read-only folder, ``--interval 15x``, ``tag
--input <yaml>``, ``tag --output <folder>``, a busy demo port) and the other bad
inputs each have a row below.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pipeline.argparsing import StrictParser
from pipeline.cli import build_parser, main
from tests.cli_support import LOOPBACK, assert_user_error, marsad
from tests.faultsite import FaultSite

TOPIC = Path(__file__).resolve().parents[1] / "marsad/topic/definitions/iraq_us_withdrawal.yaml"


def subcommands(parser, prefix=()) -> list[tuple[str, ...]]:
    """Every runnable command path: ("run",), ("eval", "topic"), ..."""
    found = []
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for name, sub in action.choices.items():
            if isinstance(sub, StrictParser):
                nested = subcommands(sub, (*prefix, name))
                found += nested or [(*prefix, name)]
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A loopback site that counts requests, and good and bad input files."""
    root = tmp_path_factory.mktemp("bad-inputs")
    with FaultSite("127.86.0.1") as site:
        feed = f"{site.base}/feed.xml"
        (root / "sources.yaml").write_text(f"sources:\n  - name: Site\n    feeds: [{feed}]\n")
        (root / "broken-sources.yaml").write_text("sources:\n  - name: Site\n    feedz: [x]\n")
        (root / "a-file").write_text("not a folder")
        (root / "table.jsonl").write_text('{"id": "1", "text": "نص"}\n')
        (root / "folder").mkdir()
        lines = TOPIC.read_text(encoding="utf-8").splitlines()
        typo = [line.replace("  evidence: [", "  evidense: [") for line in lines]
        (root / "typo-topic.yaml").write_text("\n".join(typo) + "\n", encoding="utf-8")
        unclosed = [
            line.replace("[us_forces, withdrawal]", "[us_forces, withdrawal") for line in lines
        ]
        (root / "broken-topic.yaml").write_text("\n".join(unclosed) + "\n", encoding="utf-8")
        yield root, site


def _cases(root: Path, busy_port: int) -> list[tuple[list[str], int, str]]:
    run = ["run", "--sources", str(root / "sources.yaml"), *LOOPBACK]
    out = str(root / "out")
    tag = ["tag", "--input", str(root / "table.jsonl")]
    dedup = ["dedup", "--input", str(root / "table.jsonl")]
    return [
        # the top level
        ([], 2, "option_missing"),
        (["rn"], 2, "command_unknown"),
        # run: options
        ([*run, "--output", out, "--sourcse", "x"], 2, "option_unknown"),
        ([*run, "--output", out, "--runer", "DataflowRunner"], 2, "option_unknown"),
        ([*run, "--output", out, "--direct_num_workers", "many"], 2, "option_invalid"),
        ([*run, "--output", out, "--watch", "--interval", "15x"], 2, "option_invalid"),
        ([*run, "--output", out, "--connect_timeout", "0"], 2, "option_invalid"),
        ([*run, "--output", out, "--max_failed_feeds", "2"], 2, "option_invalid"),
        ([*run, "--output", out, "--dedup-threshold", "1.5"], 2, "option_invalid"),
        ([*run, "--output", out, "--per_host", "two"], 2, "option_invalid"),
        (["run", "--output", out], 2, "option_missing"),
        (run, 2, "option_missing"),
        # run: inputs
        (["run", "--sources", str(root / "missing.yaml"), "--output", out], 2, "sources_invalid"),
        (["run", "--sources", str(root / "broken-sources.yaml"), "--output", out], 2, "sources_invalid"),
        ([*run, "--output", out, "--topic", str(root / "typo-topic.yaml")], 2, "topic_invalid"),
        ([*run, "--output", out, "--topic", str(root / "broken-topic.yaml")], 2, "topic_invalid"),
        ([*run, "--output", out, "--topic", str(root / "no-topic.yaml")], 2, "topic_invalid"),
        ([*run, "--output", str(root / "a-file")], 2, "output_not_folder"),
        ([*run, "--output", str(root / "a-file" / "below")], 2, "output_not_folder"),
        # stream
        (["stream", "--sources", str(root / "sources.yaml"), "--output", out], 2, "option_missing"),
        (["stream", "--output", out, "--max_polls", "-"], 2, "option_invalid"),
        # demo and the sample site
        (["demo", "--output", str(root / "demo-out"), "--port", str(busy_port)], 2, "port_busy"),
        (["demo", "--output", str(root / "a-file")], 2, "output_not_folder"),
        (["serve-sample", "--port", str(busy_port)], 2, "port_busy"),
        # tag and dedup
        ([*tag[:1], "--input", str(TOPIC), "--output", str(root / "t.parquet")], 2, "format_unsupported"),
        ([*tag, "--output", str(root / "folder")], 2, "output_is_folder"),
        ([*tag, "--output", str(root / "t.txt")], 2, "format_unsupported"),
        ([*tag, "--output", str(root / "t.parquet"), "--topic", str(root / "typo-topic.yaml")], 2, "topic_invalid"),
        (["tag", "--input", str(root / "missing.jsonl"), "--output", str(root / "t.csv")], 2, "input_missing"),
        (["tag", "--input", str(root / "a-file"), "--output", str(root / "t.csv")], 2, "format_unsupported"),
        ([*dedup, "--output", str(root / "folder")], 2, "output_is_folder"),
        ([*dedup, "--output", str(root / "d.parquet"), "--dedup_threshold", "0"], 2, "input_invalid"),
        (["dedup", "--input", str(root / "sources.yaml"), "--output", str(root / "d.csv")], 2, "format_unsupported"),
        # eval, schema, export
        (["eval", "topic", "--labels", str(root / "missing.jsonl")], 2, "input_invalid"),
        (["eval"], 2, "option_missing"),
        (["schema", "authors"], 2, "option_invalid"),
        (["export", str(root / "nothing-here"), str(root / "e.csv")], 2, "input_missing"),
        (["export", str(root), str(root / "e.txt")], 2, "format_unsupported"),
        (["export", str(root), str(root / "e.csv"), "--where", "no_such_column = 1"], 2, "query_invalid"),
        (["export", str(root), str(root / "folder")], 2, "format_unsupported"),
        (["export", str(root), str(root / "e.csv"), "--format", "xlsx"], 2, "option_invalid"),
    ]  # fmt: skip


def _busy_port() -> socket.socket:
    """A port held on the sample site's first address (127.77.0.1)."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.77.0.1", 0))
    holder.listen()
    return holder


def _run_all(cases):
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda case: marsad(*case[0], timeout=120), cases))


def _in_process(argv: list[str], capsys) -> subprocess.CompletedProcess:
    """``main(argv)`` of the CLI in this process (the same code as the command, minus
    interpreter start-up), captured like a subprocess."""
    code = main(argv)
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, captured.out, captured.err)


@pytest.fixture
def quiet_logging(monkeypatch):
    # main() reconfigures logging for a command-line process; not for pytest's.
    monkeypatch.setattr("pipeline.cli.configure_logging", lambda verbose, quiet: None)


def test_every_bad_input_is_one_error_line_with_a_hint_and_nothing_is_fetched(
    world, capsys, quiet_logging
):
    """The whole matrix, through ``main()``: exit code, reason, hint, no traceback."""
    root, site = world
    holder = _busy_port()
    problems = []
    try:
        for argv, code, reason in _cases(root, holder.getsockname()[1]):
            try:
                assert_user_error(_in_process(argv, capsys), code, reason)
            except AssertionError as error:
                problems.append(f"marsad {' '.join(argv)}\n  {error}")
    finally:
        holder.close()
    assert not problems, "\n".join(problems)
    assert site.hits == [], "validation happens before any request"
    assert not (root / "out").exists(), "a refused run writes nothing"


def test_the_issue_cases_through_the_real_command(world):
    """Subprocesses of the installed ``marsad``: what a user sees, exit code included."""
    root, site = world
    holder = _busy_port()
    run = ["run", "--sources", str(root / "sources.yaml"), *LOOPBACK]
    out = str(root / "out")
    cases = [
        ([*run, "--output", str(root / "a-file")], 2, "output_not_folder"),
        ([*run, "--output", out, "--watch", "--interval", "15x"], 2, "option_invalid"),
        (["tag", "--input", str(TOPIC), "--output", str(root / "t.parquet")], 2, "format_unsupported"),
        (["tag", "--input", str(root / "table.jsonl"), "--output", str(root / "folder")], 2, "output_is_folder"),
        (["demo", "--output", str(root / "demo-out"), "--port", str(holder.getsockname()[1])], 2, "port_busy"),
        (["run", "--sources", str(root / "broken-sources.yaml"), "--output", out], 2, "sources_invalid"),
        ([*run, "--output", out, "--dedup-threshold", "0.6", "--sourcse", "x"], 2, "option_unknown"),
        ([*run, "--output", out, "--direct_num_workers", "many"], 2, "option_invalid"),
    ]  # fmt: skip
    try:
        results = _run_all(cases)
    finally:
        holder.close()
    for (argv, code, reason), result in zip(cases, results, strict=True):
        message = assert_user_error(result, code, reason)
        assert message.count("\n") == 1, argv
    assert "did you mean --sources?" in results[6].stderr
    assert site.hits == []


def test_every_subcommand_refuses_an_unknown_option_with_a_suggestion(world, capsys, quiet_logging):
    paths = subcommands(build_parser())
    assert {("run",), ("demo",), ("tag",), ("export",), ("eval", "topic")} <= set(paths)
    for path in paths:
        message = assert_user_error(_in_process([*path, "--quiett"], capsys), 2, "option_unknown")
        assert "did you mean --quiet?" in message, (path, message)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "--sourcse", "s.yaml"], "did you mean --sources?"),
        (["run", "--dedup_treshold", "0.6"], "did you mean --dedup_threshold?"),
        (["run", "--out", "x"], "did you mean --output?"),  # no abbreviations
        (["run", "--runer=DataflowRunner"], "did you mean --runner?"),  # Beam's own
        (["rn"], "did you mean 'run'?"),
    ],
)
def test_suggestions(argv, expected, capsys, quiet_logging):
    result = _in_process(argv, capsys)
    assert expected in result.stderr, result.stderr
    assert result.returncode == 2


@pytest.mark.parametrize(
    ("name", "marker"),
    [("broken-topic.yaml", "[us_forces, withdrawal"), ("typo-topic.yaml", "evidense:")],
)
def test_topic_problems_name_the_file_and_line(world, name, marker, capsys, quiet_logging):
    """A YAML syntax error and a misspelt key, each reported at its line before any fetch."""
    root, site = world
    result = _in_process(
        ["run", "--sources", str(root / "sources.yaml"), "--output", str(root / "o"),
         "--topic", str(root / name)],
        capsys,
    )  # fmt: skip
    message = assert_user_error(result, 2, "topic_invalid")
    line = next(
        n for n, text in enumerate((root / name).read_text().splitlines(), 1) if marker in text
    )
    # An unclosed bracket is noticed where the next token is (the following line).
    lines = (line,) if name == "typo-topic.yaml" else (line, line + 1)
    assert any(f"{name}:{n}:" in message for n in lines), message
    assert site.hits == []


@contextlib.contextmanager
def read_only_folder(parent: Path):
    """A folder nobody can write to: chmod for a normal user; for root (who ignores
    modes) a read-only bind mount of it, which even root cannot write through."""
    folder = parent / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"root without mount permission: {mounted.stderr.decode().strip()}")
    try:
        remount = subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True, check=False
        )
        if remount.returncode != 0:
            pytest.skip(f"cannot remount read-only: {remount.stderr.decode().strip()}")
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_read_only_output_folder_is_refused_before_fetching(world, tmp_path):
    root, site = world
    with read_only_folder(tmp_path) as locked:
        for output in (locked, locked / "new-folder"):
            result = marsad(
                "run", "--sources", str(root / "sources.yaml"), "--output", str(output), *LOOPBACK
            )
            message = assert_user_error(result, 2, "output_not_writable")
            assert str(locked) in message
        assert list(locked.iterdir()) == [], "nothing written, not even a probe"
    assert site.hits == []


def test_output_in_use_is_exit_code_3(world, tmp_path):
    """A live lock on the output (this test's own process holds it). The pipeline was
    built before the lock was tried: its scratch folder goes with the refusal."""
    root, site = world
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    output = root / "locked-out"
    output.mkdir()
    now = "2099-01-01T00:00:00+00:00"
    (output / "_lock.json").write_text(
        json.dumps(
            {
                "run_id": "other-run",
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "token": "t0ken",
                "started_at": now,
                "heartbeat_at": now,
                "ttl_s": 3600.0,
            }
        )
    )
    result = marsad(
        "run",
        "--sources",
        str(root / "sources.yaml"),
        "--output",
        str(output),
        *LOOPBACK,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    message = assert_user_error(result, 3, "output_locked")
    assert "other-run" in message
    assert list(scratch.glob("beam-pipeline-temp*")) == []
    assert site.hits == []


def test_version_and_help_exit_0(capsys):
    version = marsad("--version")
    assert version.returncode == 0 and version.stdout.startswith("marsad 0.")
    assert "apache-beam" in version.stdout
    # ... without importing Beam (the version is read from the installed metadata).
    script = (
        "import sys, pipeline.cli as cli\n"
        "assert cli.main(['--version']) == 0\n"
        "print('beam imported' if 'apache_beam' in sys.modules else 'beam not imported')\n"
    )
    quick = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert quick.stdout.splitlines() == [version.stdout.strip(), "beam not imported"], quick
    helped = _in_process(["run", "--help"], capsys)
    assert helped.returncode == 0
    for code in ("0 ", "2 ", "3 ", "4 ", "5 "):
        assert f"\n  {code}" in helped.stdout, helped.stdout[-900:]
    assert "--max_failed_feeds" in helped.stdout


def test_an_internal_error_is_one_line_and_the_traceback_comes_with_v(monkeypatch, capsys):
    """A bug is not a user error: exit 1, one line saying so; -v shows the traceback."""
    script = (
        "import sys, pipeline.cli as cli\n"
        "def boom(dataset):\n    raise RuntimeError('boom')\n"
        "cli._schema = boom\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    quiet = subprocess.run([sys.executable, "-c", script, "schema"], capture_output=True, text=True)
    assert quiet.returncode == 1
    assert quiet.stderr.startswith("marsad: error [internal_error]: unexpected RuntimeError: boom")
    assert "Traceback" not in quiet.stderr
    monkeypatch.setattr("pipeline.cli._schema", lambda dataset: 1 / 0)
    monkeypatch.setattr("pipeline.cli.configure_logging", lambda verbose, quiet: None)
    loud = _in_process(["-v", "schema"], capsys)
    assert (
        loud.returncode == 1 and "Traceback" in loud.stderr and "ZeroDivisionError" in loud.stderr
    )


def test_the_command_flushes_runs_exit_handlers_and_keeps_the_exit_code(tmp_path):
    """``console`` (the installed ``marsad``) skips the interpreter's teardown only: what
    was printed arrives whole, exit handlers run, and the exit code is main's."""
    script = (
        "import atexit, sys, pipeline.cli as cli\n"
        "marker = sys.argv[1]\n"
        "atexit.register(lambda: open(marker, 'w').write('handler ran'))\n"
        "sys.argv = ['marsad', *sys.argv[2:]]\n"
        "cli.console()\n"
        "print('not reached')\n"
    )
    marker = tmp_path / "marker"
    # Block-buffered, as stdout into a pipe is by default (this suite may run unbuffered).
    buffered = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    printed = subprocess.run(
        [sys.executable, "-c", script, str(marker), "schema", "articles"],
        capture_output=True,
        text=True,
        timeout=120,
        env=buffered,
    )
    expected = marsad("schema", "articles")
    assert printed.returncode == 0 and expected.returncode == 0
    assert printed.stdout == expected.stdout and len(printed.stdout) > 2000
    assert "not reached" not in printed.stdout
    assert marker.read_text() == "handler ran"
    marker.unlink()
    refused = subprocess.run(
        [sys.executable, "-c", script, str(marker), "run", "--sources", "nowhere.yaml"],
        capture_output=True,
        text=True,
        timeout=120,
        env=buffered,
    )
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.startswith("marsad: error [")
    assert marker.read_text() == "handler ran"
