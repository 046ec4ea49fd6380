"""Run ``marsad run`` as a user would (a subprocess) and read back what it left.

``run_marsad`` measures the wall time and the peak resident memory of the run
(``os.wait4``'s rusage of that one child) and collects every connection attempt
(``audited.py``); ``Dataset`` reads articles/ and failures/ with pyarrow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.dataset as ds
import yaml

ROOT = Path(__file__).resolve().parents[2]
AUDITED = Path(__file__).with_name("audited.py")


def write_sources(path: Path, feeds: dict[str, list[str]]) -> Path:
    document = {
        "sources": [
            {"name": name, "language": "ar", "country": "IQ", "feeds": urls}
            for name, urls in feeds.items()
        ]
    }
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


@dataclass
class RunResult:
    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    max_rss_mb: float
    connects: list[dict] = field(default_factory=list)
    killed: bool = False

    def manifest(self, output: Path) -> dict:
        run_id = next(
            line.split()[2] for line in self.stdout.splitlines() if line.startswith("marsad run ")
        )
        return json.loads((output / "runs" / f"{run_id}.json").read_text())


def run_marsad(
    output: Path,
    sources: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    kill_when=None,
) -> RunResult:
    """Run the pipeline once; ``kill_when(output)`` (polled) → SIGKILL the run when true."""
    log = output.parent / f"connects-{time.monotonic_ns()}.jsonl"
    command = [
        sys.executable,
        str(AUDITED),
        "run",
        "--sources",
        str(sources),
        "--output",
        str(output),
        *extra,
    ]
    environment = {
        **os.environ,
        "MARSAD_CONNECT_LOG": str(log),
        "PYTHONPATH": str(ROOT),
        **(env or {}),
    }
    out_path, err_path = log.with_suffix(".out"), log.with_suffix(".err")
    started = time.monotonic()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=out, stderr=err)
    killed = False
    usage = None
    status = 0
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            process.send_signal(signal.SIGKILL)
            os.wait4(process.pid, 0)
            process.returncode = -9
            raise AssertionError(
                f"marsad run did not end within {timeout}s:\n{err_path.read_text()[-3000:]}"
            )
        if kill_when is not None and not killed and kill_when(output):
            process.send_signal(signal.SIGKILL)
            killed = True
        time.sleep(0.02)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    connects = []
    if log.exists():
        connects = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        log.unlink()
    stdout, stderr = out_path.read_text(), err_path.read_text()
    out_path.unlink()
    err_path.unlink()
    return RunResult(
        process.returncode, stdout, stderr, wall, usage.ru_maxrss / 1024, connects, killed
    )


@dataclass
class Dataset:
    output: Path

    def rows(self, name: str) -> list[dict]:
        folder = self.output / name
        if not folder.exists() or not any(folder.rglob("*.parquet")):
            return []
        return ds.dataset(str(folder), format="parquet", partitioning="hive").to_table().to_pylist()

    @property
    def articles(self) -> list[dict]:
        return self.rows("articles")

    @property
    def failures(self) -> list[dict]:
        return self.rows("failures")

    def files(self) -> list[str]:
        return sorted(
            str(p.relative_to(self.output))
            for p in self.output.rglob("*")
            if p.is_file() and not p.name.startswith("_lock")
        )


def assert_balanced(manifest: dict) -> dict:
    accounting = manifest["accounting"]
    assert accounting["balanced"], accounting
    total = (
        accounting["articles"]
        + accounting["duplicates"]
        + accounting["already_stored"]
        + accounting["failures"]
        + accounting["known_failures"]
    )
    assert accounting["entries"] == total, accounting
    return accounting


def assert_loopback_only(result: RunResult) -> None:
    refused = [c for c in result.connects if not c["allowed"]]
    assert not refused, f"non-loopback connection attempts: {refused[:5]}"
