"""Overhead benchmark: the whole ``marsad run`` process against a bare loop doing the same
useful work, on real pages served on loopback with zero latency (issue #15).

    python benchmarks/overhead.py [--pages 500[,5000]] [--repeats 3] [--profile-pages 2000]
                                  [--eval-dir DIR] [--json-out FILE] [--baseline DIR]
                                  [-- marsad run options]

The corpus (``benchmarks/overhead_corpus.py``): the 439 pages of the shared extraction
benchmarks (scrapinghub, fundus), replicated with shuffled article text to the size asked.
The bare loop (``benchmarks/overhead_bare.py``) fetches each page with ``requests``, runs ``trafilatura.bare_extraction``
with the settings marsad uses (``with_metadata``, ``favor_precision``, ``include_tables``,
no comments) and writes one Parquet file at the end. Both run as separate processes,
interleaved (the order alternates each repeat), and each figure is the median over the
repeats of:

* CPU: user + system time of the whole process tree (the benchmark is the tree's
  subreaper, so worker processes are counted even if orphaned);
* wall time;
* peak memory: the largest sum over the tree of resident (RSS) and proportional (PSS:
  pages shared between processes counted once) set sizes, sampled every 0.1 s, and the
  main process's own peak RSS (exact, from the kernel).

Each run also records the machine's load: the cores busy with other work while it ran
(all CPU time on the machine minus the measured tree's and the corpus server's).
Extraction quality is measured on the originals of each run (bag-of-words token F1
against the benchmarks' ground truth, as ``../shared/eval/README.md`` describes).
``--baseline DIR`` runs the ``marsad`` of another checkout (its folder first on the
import path, this environment's packages) as a third subject in the same interleaved
rounds, so a change is measured against its parent in the same conditions.
``--profile-pages N`` adds one run of each side under py-spy, split by stage
(``benchmarks/overhead_profile.py``). Skips cleanly when ``../shared/eval`` is absent.
"""

from __future__ import annotations

import argparse
import compileall
import ctypes
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks import overhead_corpus as corpus  # noqa: E402
from benchmarks import overhead_profile as profile  # noqa: E402

TARGETS = {"cpu": 1.15, "wall": 0.65, "peak_memory": 2.5}


# --- measuring a process tree -------------------------------------------------------------


def _become_subreaper() -> None:
    """Orphaned descendants are re-parented to us, so their CPU time is reaped here."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _smaps_rollup(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in kB of one process; (0, 0) when it is gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return rss, pss


def _machine_busy_s() -> float:
    """CPU seconds spent by everything on the machine since boot (user, system, irq ...)."""
    with open("/proc/stat", encoding="ascii") as handle:
        fields = handle.readline().split()[1:]
    ticks = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / ticks


def _cpu_of(pid: int) -> float:
    try:
        import psutil

        times = psutil.Process(pid).cpu_times()
        return times.user + times.system
    except Exception:
        return 0.0


@dataclass
class Run:
    subject: str
    pages: int
    cpu_s: float
    user_s: float
    sys_s: float
    wall_s: float
    tree_rss_mb: float
    tree_pss_mb: float
    main_rss_mb: float
    processes: int
    other_load_cores: float
    loadavg: list[float]
    exit_code: int
    extra: dict = field(default_factory=dict)

    @property
    def peak_mb(self) -> float:
        return max(self.tree_pss_mb, self.main_rss_mb)


def measure(
    subject: str, pages: int, command: list[str], server_pid: int, env=None, log=None
) -> Run:
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_before, server_before = _machine_busy_s(), _cpu_of(server_pid)
    loadavg = [round(x, 2) for x in os.getloadavg()]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    peak = {"rss": 0, "pss": 0, "procs": 1}
    done = threading.Event()

    def sample() -> None:
        root = psutil.Process(process.pid)
        while not done.is_set():
            try:
                tree = [root.pid] + [p.pid for p in root.children(recursive=True)]
            except psutil.Error:
                tree = [process.pid]
            sizes = [_smaps_rollup(pid) for pid in tree]
            peak["rss"] = max(peak["rss"], sum(s[0] for s in sizes))
            peak["pss"] = max(peak["pss"], sum(s[1] for s in sizes))
            peak["procs"] = max(peak["procs"], len(tree))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    # Reap descendants the subject left behind (we are their subreaper).
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.05)
            if not [c for c in psutil.Process().children() if c.pid != server_pid]:
                break
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    server_cpu = _cpu_of(server_pid) - server_before
    other = max(0.0, _machine_busy_s() - busy_before - cpu - server_cpu) / wall
    return Run(
        subject,
        pages,
        round(cpu, 2),
        round(after.ru_utime - before.ru_utime, 2),
        round(after.ru_stime - before.ru_stime, 2),
        round(wall, 2),
        round(peak["rss"] / 1024, 1),
        round(peak["pss"] / 1024, 1),
        round(usage.ru_maxrss / 1024, 1),
        peak["procs"],
        round(other, 2),
        loadavg,
        process.returncode,
    )


# --- extraction quality -------------------------------------------------------------------

_TOKEN = re.compile(r"\w+")


def _tokens(text: str) -> Counter:
    decomposed = unicodedata.normalize("NFKD", text or "").replace("\u0640", "")
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return Counter(_TOKEN.findall(stripped.casefold()))


def token_f1(predicted: str, truth: str) -> float:
    got, want = _tokens(predicted), _tokens(truth)
    common = sum((got & want).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def f1_by_bench(
    texts: dict[str, str], originals: list[corpus.Original], served: int
) -> dict[str, dict]:
    """Mean token F1 per benchmark over the ``served`` first originals (``texts``: URL
    path → text; a page without a row scores 0)."""
    scores: dict[str, list[float]] = {}
    for original in originals[:served]:
        if not original.truth.strip():
            continue
        path = f"/{original.bench}/{original.page_id}/0.html"
        scores.setdefault(original.bench, []).append(token_f1(texts.get(path, ""), original.truth))
    return {
        bench: {"pages": len(values), "f1": round(statistics.fmean(values), 4)}
        for bench, values in scores.items()
    }


def _texts_by_path(table) -> dict[str, str]:
    from urllib.parse import urlsplit

    return {
        urlsplit(url).path: text or ""
        for url, text in zip(
            table.column("url").to_pylist(), table.column("text").to_pylist(), strict=True
        )
    }


def pipeline_texts(output: Path) -> tuple[dict[str, str], int]:
    import pyarrow.dataset as ds

    folder = output / "articles"
    if not folder.exists():
        return {}, 0
    table = ds.dataset(str(folder), partitioning="hive").to_table(columns=["url", "text"])
    return _texts_by_path(table), table.num_rows


def bare_texts(out_file: Path) -> tuple[dict[str, str], int]:
    import pyarrow.parquet as pq

    if not out_file.exists():
        return {}, 0
    table = pq.read_table(out_file, columns=["url", "text"])
    return _texts_by_path(table), table.num_rows


# --- the comparison -----------------------------------------------------------------------


def marsad_command() -> list[str]:
    script = Path(sys.executable).with_name("marsad")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pipeline.cli"]


# Another checkout's own entry point, whatever the installed script calls: its
# ``console`` where it has one, else ``main`` as the script of its time called it.
# ``-P``: the working directory (this checkout, perhaps) must not come before it.
CHECKOUT_ENTRY = (
    "import sys; from pipeline import cli; "
    "sys.exit(cli.console() if hasattr(cli, 'console') else cli.main())"
)


def pipeline_command(
    sources: Path, output: Path, marsad_args: list[str], checkout: bool = False
) -> list[str]:
    return [
        *([sys.executable, "-P", "-c", CHECKOUT_ENTRY] if checkout else marsad_command()),
        "run",
        "--sources", str(sources),
        "--output", str(output),
        "--allow_network", corpus.NETWORK,
        "--min_interval", "0",
        *marsad_args,
    ]  # fmt: skip


def bare_command(urls: Path, out_file: Path) -> list[str]:
    return [sys.executable, str(HERE / "overhead_bare.py"), str(urls), str(out_file)]


def baseline_env(checkout: str) -> dict[str, str]:
    """``marsad run`` of another checkout (e.g. ``git worktree add /tmp/base main``) with
    this environment's packages: its folder first on the import path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(Path(checkout).resolve()), env.get("PYTHONPATH", "")) if p
    )
    return env


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def compare_at(
    size: int,
    originals: list[corpus.Original],
    args: argparse.Namespace,
    marsad_args: list[str],
    workdir: Path,
) -> dict:
    pages = corpus.plan_pages(originals, size, args.hosts)
    folder = corpus.corpus_dir(originals)
    print(f"\n== {size} pages: preparing corpus in {folder}", flush=True)
    corpus.materialise(originals, pages, folder)
    runs: list[Run] = []
    quality: dict[str, dict] = {}
    with corpus.CorpusServer(folder, args.hosts, pages) as server:
        sources = workdir / f"sources-{size}.yaml"
        sources.write_text(server.sources_yaml(), encoding="utf-8")
        urls = workdir / f"urls-{size}.txt"
        urls.write_text("\n".join(server.urls()) + "\n", encoding="utf-8")
        server_pid = server._process.pid
        subjects = ["bare", "pipeline"] + (["baseline"] if args.baseline else [])
        for repeat in range(args.repeats):
            shift = repeat % len(subjects)
            order = subjects[shift:] + subjects[:shift]  # each subject in each place in turn
            for subject in order:
                output = workdir / f"{subject}-{size}-{repeat}"
                env = None
                if subject == "bare":
                    out_file = Path(f"{output}.parquet")
                    command = bare_command(urls, out_file)
                else:
                    baseline = subject == "baseline"
                    command = pipeline_command(sources, output, marsad_args, checkout=baseline)
                    if baseline:
                        env = baseline_env(args.baseline)
                with open(workdir / f"{subject}-{size}-{repeat}.log", "wb") as log:
                    run = measure(subject, size, command, server_pid, env=env, log=log)
                if subject == "bare":
                    texts, rows = bare_texts(out_file)
                    out_file.unlink(missing_ok=True)
                else:
                    texts, rows = pipeline_texts(output)
                    shutil.rmtree(output, ignore_errors=True)
                run.extra["rows"] = rows
                if repeat == 0:
                    quality[subject] = f1_by_bench(texts, originals, size)
                runs.append(run)
                print(
                    f"  {subject:8s} #{repeat}: cpu {run.cpu_s:7.1f} s (sys {run.sys_s:.1f})  wall {run.wall_s:7.1f} s  "
                    f"peak pss {run.tree_pss_mb:6.0f} MB rss {run.tree_rss_mb:6.0f} MB "
                    f"(main {run.main_rss_mb:.0f}, {run.processes} procs)  rows {rows}  "
                    f"others busy {run.other_load_cores:.2f} cores  exit {run.exit_code}",
                    flush=True,
                )
    return summarise(size, runs, quality)


def _median(runs: list[Run], attribute: str) -> float:
    return statistics.median(getattr(r, attribute) for r in runs)


def _ratios(medians: dict, subject: str) -> dict[str, float]:
    mine, bare = medians[subject], medians["bare"]
    return {
        "cpu": mine["cpu_s"] / bare["cpu_s"],
        "wall": mine["wall_s"] / bare["wall_s"],
        "peak_memory": mine["peak_mb"] / bare["peak_mb"],
        "peak_rss_sum": mine["tree_rss_mb"] / bare["tree_rss_mb"],
    }


def summarise(size: int, runs: list[Run], quality: dict) -> dict:
    subjects = sorted({r.subject for r in runs}, key=("bare", "pipeline", "baseline").index)
    by = {s: [r for r in runs if r.subject == s and r.exit_code == 0] for s in subjects}
    if not all(by.values()):
        return {"pages": size, "error": "a subject failed", "runs": [asdict(r) for r in runs]}
    medians = {
        s: {
            a: _median(by[s], a)
            for a in ("cpu_s", "wall_s", "tree_rss_mb", "tree_pss_mb", "main_rss_mb", "peak_mb")
        }
        for s in by
    }
    ratios = _ratios(medians, "pipeline")
    others = [r.other_load_cores for r in runs]
    return {
        "pages": size,
        "medians": medians,
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        **(
            {"baseline_ratios": {k: round(v, 3) for k, v in _ratios(medians, "baseline").items()}}
            if "baseline" in medians
            else {}
        ),
        "targets_met": {k: ratios[k] <= limit for k, limit in TARGETS.items()},
        "cpu_per_page_ms": {s: round(1000 * medians[s]["cpu_s"] / size, 1) for s in medians},
        "extraction_f1": quality,
        "noise": {
            "other_load_cores": {
                "median": round(statistics.median(others), 2),
                "max": round(max(others), 2),
            },
            "cpu_spread": {
                s: [round(min(r.cpu_s for r in by[s]), 1), round(max(r.cpu_s for r in by[s]), 1)]
                for s in by
            },
            "wall_spread": {
                s: [round(min(r.wall_s for r in by[s]), 1), round(max(r.wall_s for r in by[s]), 1)]
                for s in by
            },
        },
        "runs": [asdict(r) for r in runs],
    }


def run_profiles(
    size: int,
    originals: list[corpus.Original],
    args: argparse.Namespace,
    marsad_args: list[str],
    workdir: Path,
) -> dict:
    """One measured run and one py-spy run of each side; stage shares scaled to the CPU."""
    pages = corpus.plan_pages(originals, size, args.hosts)
    folder = corpus.corpus_dir(originals)
    print(f"\n== profile at {size} pages (py-spy, {args.profile_rate} Hz)", flush=True)
    corpus.materialise(originals, pages, folder)
    seconds: dict[str, dict[str, float]] = {}
    measured: dict[str, dict] = {}
    with corpus.CorpusServer(folder, args.hosts, pages) as server:
        sources = workdir / "sources-profile.yaml"
        sources.write_text(server.sources_yaml(), encoding="utf-8")
        urls = workdir / "urls-profile.txt"
        urls.write_text("\n".join(server.urls()) + "\n", encoding="utf-8")
        for subject in ("bare", "pipeline"):
            for attempt in ("measured", "profiled"):
                target = workdir / f"{subject}-profile-{attempt}"
                if subject == "bare":
                    command = bare_command(urls, Path(f"{target}.parquet"))
                else:
                    command = pipeline_command(sources, target, marsad_args)
                if attempt == "measured":
                    with open(f"{target}.log", "wb") as log:
                        run = measure(subject, size, command, server._process.pid, log=log)
                    measured[subject] = asdict(run)
                    continue
                samples = profile.record(
                    command, workdir / f"{subject}-profile.txt", rate=args.profile_rate
                )
                if samples is None:
                    return {"skipped": "py-spy is not installed or cannot attach"}
                seconds[subject] = profile.cpu_seconds(samples, run.cpu_s)
    text = profile.table(seconds)
    print(text)
    return {
        "pages": size,
        "rate_hz": args.profile_rate,
        "runs": measured,
        "cpu_seconds_by_stage": {
            s: {k: round(v, 2) for k, v in stages.items()} for s, stages in seconds.items()
        },
        "table": text,
    }


def print_summary(results: list[dict]) -> None:
    print("\n== overhead: pipeline / bare loop (medians)")
    print("| pages | CPU | wall | peak memory (PSS tree / main RSS) | RSS sum | others busy |")
    print("|---|---|---|---|---|---|")
    for r in results:
        if "ratios" not in r:
            print(f"| {r['pages']} | {r.get('error')} |")
            continue
        m = r["medians"]
        for subject, q in (("pipeline", r["ratios"]), ("baseline", r.get("baseline_ratios"))):
            if q is None:
                continue
            label = r["pages"] if subject == "pipeline" else f"{r['pages']} (baseline)"
            print(
                f"| {label} | {q['cpu']:.2f}x ({m[subject]['cpu_s']:.1f} / {m['bare']['cpu_s']:.1f} s) "
                f"| {q['wall']:.2f}x ({m[subject]['wall_s']:.1f} / {m['bare']['wall_s']:.1f} s) "
                f"| {q['peak_memory']:.2f}x ({m[subject]['peak_mb']:.0f} / {m['bare']['peak_mb']:.0f} MB) "
                f"| {q['peak_rss_sum']:.2f}x ({m[subject]['tree_rss_mb']:.0f} / {m['bare']['tree_rss_mb']:.0f} MB) "
                f"| {r['noise']['other_load_cores']['median']:.2f} cores (max {r['noise']['other_load_cores']['max']:.2f}) |"
            )
    print("\nextraction F1 on the originals (pipeline [baseline] vs bare):")
    for r in results:
        f1 = r.get("extraction_f1", {})
        for bench in ("scrapinghub", "fundus"):
            p, b = f1.get("pipeline", {}).get(bench), f1.get("bare", {}).get(bench)
            base = f1.get("baseline", {}).get(bench)
            if p and b:
                shown = f"{p['f1']:.4f}" + (f" [{base['f1']:.4f}]" if base else "")
                print(
                    f"  {r['pages']:5d} pages, {bench} ({p['pages']} pages): {shown} vs {b['f1']:.4f}"
                )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--" in argv:
        at = argv.index("--")
        argv, marsad_args = argv[:at], argv[at + 1 :]
    else:
        marsad_args = []
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", default="500", help="comma-separated sizes (default 500)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=16)
    parser.add_argument("--profile-pages", type=int, default=0, help="0: no profile run")
    parser.add_argument("--profile-rate", type=int, default=67)
    parser.add_argument("--eval-dir", default=None)
    parser.add_argument("--json-out", default=None)
    parser.add_argument(
        "--baseline",
        default=None,
        metavar="DIR",
        help="another checkout of marsad (e.g. main) run as a third, interleaved subject",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args(argv)

    eval_dir = corpus.find_eval_dir(ROOT, args.eval_dir)
    if eval_dir is None:
        print("overhead: ../shared/eval/extraction is absent; benchmark skipped")
        return 0
    _become_subreaper()
    if args.baseline:
        # The versions are compared as code: both compiled ahead, as `make` compiles this
        # checkout (else the one without .pyc files pays a compile at every start where
        # PYTHONDONTWRITEBYTECODE is set).
        compileall.compile_dir(args.baseline, quiet=1)
    originals = corpus.load_originals(eval_dir)
    sizes = [int(s) for s in args.pages.split(",") if s.strip()]
    report: dict = {"machine": machine(), "marsad_args": marsad_args, "results": []}
    print(f"machine: {report['machine']}; originals: {len(originals)} pages from {eval_dir}")
    workdir = Path(tempfile.mkdtemp(prefix="marsad-overhead-"))
    try:
        for size in sizes:
            report["results"].append(compare_at(size, originals, args, marsad_args, workdir))
        if args.profile_pages:
            report["profile"] = run_profiles(
                args.profile_pages, originals, args, marsad_args, workdir
            )
        report["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        print_summary(report["results"])
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(report, indent=2), encoding="utf-8")
    finally:
        if args.keep:
            print(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    ok = all(r.get("exit_code", 0) == 0 for res in report["results"] for r in res.get("runs", []))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
