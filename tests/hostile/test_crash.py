"""``kill -9`` of a ``marsad run`` at several points, and two runs at once (issue #10.3).

After any kill, the next run must leave each article exactly once, each failure row
exactly once, no staged files, and balanced accounts; a run killed before its
commit journal exists must have left nothing visible in the dataset.
"""

from __future__ import annotations

import collections
import subprocess

import pytest

from tests.hostile import site as hs
from tests.hostile.harness import Dataset, assert_balanced, run_marsad
from tests.hostile.small import GOOD, OPTIONS, small_site

pytestmark = pytest.mark.hostile_slow


def _staged_parquet(output) -> bool:
    return (
        any((output / "_tmp").rglob("staged/**/*.parquet")) if (output / "_tmp").exists() else False
    )


def _killers(site):
    return {
        "during_fetch": (
            lambda out: any(r.path.startswith("/page/good") for r in site.requests),
            {},
        ),
        "files_staged": (_staged_parquet, {}),
        "before_journal": (None, {"MARSAD_CRASH_AT": "commit.before_journal"}),
        "after_journal": (None, {"MARSAD_CRASH_AT": "commit.after_journal"}),
        "mid_moves": (None, {"MARSAD_CRASH_AT": "commit.mid_moves"}),
        "before_cleanup": (None, {"MARSAD_CRASH_AT": "commit.before_cleanup"}),
    }


@pytest.mark.parametrize(
    "point",
    [
        "during_fetch",
        "files_staged",
        "before_journal",
        "after_journal",
        "mid_moves",
        "before_cleanup",
    ],
)
def test_kill_9_then_rerun_loses_nothing_and_duplicates_nothing(tmp_path, point):
    with hs.HostileSite() as site:
        sources = small_site(site, tmp_path)
        output = tmp_path / "out"
        kill_when, env = _killers(site)[point]
        killed = run_marsad(output, sources, *OPTIONS, env=env, kill_when=kill_when, timeout=180)
        assert killed.returncode == -9, (point, killed.returncode, killed.stderr[-2000:])
        data = Dataset(output)
        if point in ("during_fetch", "files_staged", "before_journal"):
            # Uncommitted: nothing of the run is visible, not even its failure rows.
            assert data.articles == [] and data.failures == [], point
            assert not (output / "state" / "feeds.json").exists()
        rerun = run_marsad(output, sources, *OPTIONS, timeout=180)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        assert_balanced(rerun.manifest(output))
        data = Dataset(output)
        ids = collections.Counter(a["article_id"] for a in data.articles)
        assert len(ids) == len(GOOD) and set(ids.values()) == {1}, ids
        keys = collections.Counter(f["entry_key"] for f in data.failures)
        assert sorted(f["reason"] for f in data.failures) == ["http_404"], data.failures
        assert set(keys.values()) == {1}
        assert not (output / "_tmp").exists() or not any((output / "_tmp").iterdir())
        # And a third run adds nothing.
        third = run_marsad(output, sources, *OPTIONS, timeout=180)
        assert third.returncode == 0
        assert (len(Dataset(output).articles), len(Dataset(output).failures)) == (len(GOOD), 1)


def test_two_runs_at_once_one_gives_way(tmp_path):
    import sys

    from tests.hostile.harness import AUDITED, ROOT

    with hs.HostileSite() as site:
        sources = small_site(site, tmp_path)
        output = tmp_path / "out"
        command = [
            sys.executable,
            str(AUDITED),
            "run",
            "--sources",
            str(sources),
            "--output",
            str(output),
            *OPTIONS,
        ]
        runs = [
            subprocess.Popen(
                command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        results = [(p.wait(timeout=180), *p.communicate()) for p in runs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 3], results  # 3: the output is in use (pipeline/exits.py)
    loser = next(err for code, _, err in results if code == 3)
    assert "marsad: error [output_locked]" in loser and "Traceback" not in loser
    ids = [a["article_id"] for a in Dataset(output).articles]
    assert len(ids) == len(set(ids)) == len(GOOD)
