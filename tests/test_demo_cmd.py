"""``marsad demo``: a free port when the default one is taken, remembered so that a second
demo on the same output finds everything already stored; ``make demo`` installs only what
the demo needs."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.cli_support import marsad

ROOT = Path(__file__).resolve().parents[1]


def _hold(host: str, port: int) -> socket.socket | None:
    """Listen on host:port (None when something else already does: busy either way)."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind((host, port))
    except OSError:
        holder.close()
        return None
    holder.listen()
    return holder


def _rows_written(output: Path, stdout: str) -> int:
    run_id = re.search(r"^marsad run (\S+)", stdout, re.M).group(1)
    manifest = json.loads((output / "runs" / f"{run_id}.json").read_text(encoding="utf-8"))
    return manifest["counts"].get("write_articles.rows", 0)


@pytest.mark.slow
def test_demo_picks_a_free_port_remembers_it_and_a_second_run_adds_nothing(tmp_path):
    holder = _hold("127.77.0.1", 8765)
    try:
        output = tmp_path / "out"
        first = marsad("demo", "--output", str(output))
        assert first.returncode == 0, first.stdout[-2000:] + first.stderr
        port = int(re.search(r"outlets on 127\.77\.0\.x:(\d+)", first.stdout).group(1))
        assert port != 8765
        state = json.loads((output / "state" / "sample_site.json").read_text(encoding="utf-8"))
        assert state == {"port": port}
        assert _rows_written(output, first.stdout) > 0

        second = marsad("demo", "--output", str(output))
        assert second.returncode == 0, second.stdout[-2000:] + second.stderr
        assert f"127.77.0.x:{port}" in second.stdout, "the remembered port, so ids are stable"
        assert _rows_written(output, second.stdout) == 0
        assert "Traceback" not in first.stderr + second.stderr
    finally:
        if holder is not None:
            holder.close()


def test_make_demo_installs_marsad_without_test_or_cloud_extras(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    planned = subprocess.run(
        ["make", "-n", "demo", "PYTHON=python3"], cwd=tmp_path, capture_output=True, text=True
    )
    assert planned.returncode == 0, planned.stderr
    installs = [line for line in planned.stdout.splitlines() if "pip install" in line]
    assert any(line.rstrip().endswith("install --quiet -e .") for line in installs), installs
    assert not any("[" in line for line in installs), "no extras for the demo"
    tested = subprocess.run(
        ["make", "-n", "test", "PYTHON=python3"], cwd=tmp_path, capture_output=True, text=True
    )
    assert "'.[test,gcp]'" in tested.stdout, "tests keep their own, larger install"
