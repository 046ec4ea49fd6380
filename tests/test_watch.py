import glob
import os
import signal
import subprocess
import sys
import time

import pytest

from pipeline.watch import parse_interval


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("1h", 3600), ("1.5h", 5400), ("1d", 86400)],
)
def test_parse_interval(text, seconds):
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("bad", ["", "15 minutes", "-1m", "m"])
def test_bad_interval(bad):
    with pytest.raises(ValueError):
        parse_interval(bad)


@pytest.mark.slow
def test_watch_repeats_and_stops_cleanly_on_sigterm(sample_site, tmp_path):
    sources = sample_site.write_sources(str(tmp_path / "sources.yaml"))
    output = tmp_path / "out"
    command = [
        sys.executable, "-m", "pipeline.cli", "run", "--watch", "--interval", "1s",
        "--sources", sources, "--output", str(output), "--allow_network", "127.77.0.0/24",
        "--min_interval", "0.01",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while len(glob.glob(str(output / "runs" / "*.json"))) < 2:
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "two runs within two minutes"
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, out
    assert "finishing the current run" in out
    assert not os.path.exists(output / "_tmp")
    manifests = glob.glob(str(output / "runs" / "*.json"))
    assert len(manifests) >= 2
