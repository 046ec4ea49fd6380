"""Broken storage (issue #10.7): read-only output, a full disk, corrupt or truncated data
and state files. Each ends in one ``marsad: error [code]`` (or ``warning``) line that
names the file and the way on, a non-zero exit, no traceback, and a dataset as it was.

Read-only and full disks are real: a read-only bind mount and a small tmpfs (needs
root, as the CI runs; skipped otherwise).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.hostile import site as hs
from tests.hostile.harness import Dataset, assert_balanced, run_marsad
from tests.hostile.small import GOOD, OPTIONS, small_site

pytestmark = pytest.mark.hostile_slow


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@contextlib.contextmanager
def mounted(*args: str, target: Path):
    try:
        _mount(*args, str(target))
    except (subprocess.CalledProcessError, FileNotFoundError, PermissionError) as exc:
        pytest.skip(f"cannot mount here ({exc}); needs root")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True)


def _snapshot(output: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(output)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in output.rglob("*")
        if p.is_file() and p.name != "_lock.json"
    }


def _one_error_line(result, code: str, *words: str) -> str:
    assert result.returncode not in (0, -9), result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("marsad: error")]
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith(f"marsad: error [{code}]"), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def _first_run(site, tmp_path, output):
    sources = small_site(site, tmp_path)
    first = run_marsad(output, sources, *OPTIONS, timeout=180)
    assert first.returncode == 0, first.stderr[-3000:]
    return sources


def test_read_only_output(tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    with hs.HostileSite() as site:
        sources = _first_run(site, tmp_path, output)
        before = _snapshot(output)
        sources = small_site(site, tmp_path, extra=["new-1"])
        with mounted("--bind", str(output), target=output):
            _mount("-o", "remount,ro,bind", str(output))
            result = run_marsad(output, sources, *OPTIONS, timeout=180)
            # The pre-run check (pipeline/preflight.py) finds it before anything is fetched.
            _one_error_line(result, "output_not_writable", str(output))
            assert _snapshot(output) == before


def test_full_disk(tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    with mounted("-t", "tmpfs", "-o", "size=3m", "tmpfs", target=output), hs.HostileSite() as site:
        _first_run(site, tmp_path, output)
        before = _snapshot(output)
        free = shutil.disk_usage(output).free
        filler = output / "filler.bin"
        with open(filler, "wb") as handle:  # leave ~8 KB: the probe fits, the Parquet files not
            handle.write(b"\0" * max(0, free - 8 * 1024))
        # New, long pages so that the run has real rows to write.
        for n in range(3):
            site.add("main", f"/page/long-{n}", hs.big_page(200_000, one_line=False))
        sources = small_site(site, tmp_path, extra=[f"long-{n}" for n in range(3)])
        result = run_marsad(output, sources, *OPTIONS, timeout=180)
        _one_error_line(result, "disk_full", "free space")
        filler.unlink()
        after = _snapshot(output)
        assert after == before, "a run that hit a full disk leaves the dataset as it was"
        # With space again, the same run goes through and stores the new pages once.
        again = run_marsad(output, sources, *OPTIONS, timeout=180)
        assert again.returncode == 0, again.stderr[-2000:]
        assert len(Dataset(output).articles) == len(GOOD) + 3


@pytest.mark.parametrize("damage", ["zero_bytes", "truncated", "garbage"])
def test_a_corrupt_article_file_is_quarantined_and_later_runs_go_on(tmp_path, damage):
    output = tmp_path / "out"
    with hs.HostileSite() as site:
        sources = _first_run(site, tmp_path, output)
        victim = sorted((output / "articles").rglob("*.parquet"))[0]
        data = victim.read_bytes()
        victim.write_bytes(
            {
                "zero_bytes": b"",
                "truncated": data[: len(data) // 2],
                "garbage": b"PAR1" + os.urandom(500),
            }[damage]
        )
        relative = victim.relative_to(output)
        result = run_marsad(output, sources, *OPTIONS, timeout=180)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
        warnings = [
            line
            for line in result.stderr.splitlines()
            if line.startswith("marsad: warning [corrupt_file]")
        ]
        assert len(warnings) == 1 and relative.name in warnings[0], result.stderr[-2000:]
        assert not victim.exists()
        quarantined = list((output / "_quarantine").rglob(relative.name))
        assert len(quarantined) == 1
        rows = [f for f in Dataset(output).failures if f["reason"] == "corrupt_file"]
        assert (
            len(rows) == 1 and rows[0]["stage"] == "read_stored" and relative.name in rows[0]["url"]
        )
        assert_balanced(result.manifest(output))
        later = run_marsad(output, sources, *OPTIONS, timeout=180)
        assert later.returncode == 0, later.stderr[-2000:]
        ids = [a["article_id"] for a in Dataset(output).articles]
        assert len(ids) == len(set(ids)) == len(GOOD), "the lost rows were fetched again, once"


@pytest.mark.parametrize(
    ("state_file", "damage"), [("feeds.json", "truncated"), ("entries.json", "zero_and_garbage")]
)
def test_a_damaged_state_file_stops_the_run_with_a_way_on(tmp_path, state_file, damage):
    output = tmp_path / "out"
    with hs.HostileSite() as site:
        sources = _first_run(site, tmp_path, output)
        path = output / "state" / state_file
        text = path.read_bytes()
        path.write_bytes(text[: len(text) // 2] if damage == "truncated" else b"\x00\x01garbage")
        before = _snapshot(output)
        result = run_marsad(output, sources, *OPTIONS, timeout=180)
        _one_error_line(result, "state_corrupt", str(path), "mv ")
        assert _snapshot(output) == before
        path.rename(path.with_suffix(".bad"))
        again = run_marsad(output, sources, *OPTIONS, timeout=180)
        assert again.returncode == 0, again.stderr[-2000:]
        ids = [a["article_id"] for a in Dataset(output).articles]
        assert len(ids) == len(set(ids)) == len(GOOD)
