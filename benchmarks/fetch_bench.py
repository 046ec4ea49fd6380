"""Fetch benchmark: the pipeline against a slow multi-host loopback corpus.

2,000 article pages across 20 loopback hosts (127.82.0.1-20), each response
delayed by 200 ms, served from a separate process. Reports, from one run:
  - the pipeline's wall time (full batch run: feeds, robots, articles, extraction,
    dedup, tagging, Parquet) and its ratio to the politeness lower bound computed
    from the configured per-host limits;
  - a plain sequential loop (requests + trafilatura) over the same URLs, and the
    speed-up. By default the loop runs over every 10th URL and is scaled up
    (``--full-sequential`` runs all 2,000, about 7 minutes);
  - peak memory (max RSS) of the pipeline process.

    python benchmarks/fetch_bench.py [--hosts 20] [--pages 100] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import random
import resource
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SEEDS = Path(__file__).resolve().parents[1] / "marsad" / "samplesite" / "content" / "seeds"


def _paragraphs() -> list[str]:
    """The seeds' vocabulary: each page gets its own paragraphs drawn from it."""
    words = []
    for seed in sorted(SEEDS.glob("*.txt")):
        words += seed.read_text(encoding="utf-8").split()
    return sorted(set(words))


def _page(host: int, page: int, vocabulary: list[str]) -> str:
    # Distinct articles, as a news site has: random word runs share no shingles, so the
    # duplicate stage sees realistic (tiny) LSH buckets rather than 2,000 rotations of
    # the same paragraphs.
    rng = random.Random(host * 100_003 + page)
    body = [" ".join(rng.choices(vocabulary, k=rng.randint(30, 50))) + "." for _ in range(12)]
    body[0] = f"({host}-{page}) " + body[0]
    nav = "".join(f'<li><a href="/s/{i}">قسم {i}</a></li>' for i in range(12))
    related = "".join(f'<li><a href="/r/{i}">خبر ذو صلة رقم {i}</a></li>' for i in range(8))
    text = "".join(f"<p>{p}</p>" for p in body)
    return (
        f'<!DOCTYPE html><html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>خبر {host}-{page}</title>'
        f'<meta property="article:published_time" content="2024-02-01T10:00:00+03:00"></head><body>'
        f"<header><nav><ul>{nav}</ul></nav></header><main><article><h1>خبر {host}-{page}</h1>{text}</article>"
        f"<aside><ul>{related}</ul></aside></main><footer>جميع الحقوق محفوظة</footer></body></html>"
    )


def _feed(base: str, host: int, pages: int) -> str:
    when = datetime(2024, 2, 1, tzinfo=UTC)
    items = "".join(
        f"<item><title>خبر {host}-{p}</title><link>{base}/a/{p}</link>"
        f"<pubDate>{format_datetime(when + timedelta(minutes=p))}</pubDate>"
        f"<description>{escape('ملخص الخبر')}</description></item>"
        for p in range(pages)
    )
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>h{host}</title>{items}</channel></rss>'


def serve_farm(hosts: int, pages: int, latency: float, ready, stop) -> None:
    paragraphs = _paragraphs()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            return

        def do_GET(self):
            time.sleep(latency)
            host = self.server.host_index
            if self.path == "/robots.txt":
                body, kind = b"User-agent: *\nAllow: /\n", "text/plain"
            elif self.path == "/feed.xml":
                base = f"http://{self.server.server_address[0]}:{self.server.server_address[1]}"
                body, kind = _feed(base, host, pages).encode(), "application/rss+xml"
            else:
                page = int(self.path.rsplit("/", 1)[1])
                body, kind = _page(host, page, paragraphs).encode(), "text/html; charset=utf-8"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    servers = []
    for index in range(hosts):
        server = ThreadingHTTPServer((f"127.82.0.{index + 1}", 0), Handler)
        server.daemon_threads = True
        server.host_index = index
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    ready.put([f"http://127.82.0.{i + 1}:{s.server_address[1]}" for i, s in enumerate(servers)])
    stop.wait()


def politeness_bound(pages: int, per_host: int, interval: float, latency: float) -> float:
    requests = pages + 2  # robots.txt and the feed go through the same per-host gate
    return max((requests - 1) * interval + latency, math.ceil(requests / per_host) * latency)


def sequential_loop(urls: list[str]) -> float:
    import requests
    import trafilatura

    session = requests.Session()
    session.trust_env = False
    started = time.perf_counter()
    for url in urls:
        trafilatura.extract(session.get(url, timeout=10).text)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--per-host", type=int, default=2)
    parser.add_argument("--min-interval", type=float, default=0.25)
    parser.add_argument("--full-sequential", action="store_true")
    args, beam_args = parser.parse_known_args()

    from pipeline.run import run_batch

    ready, stop = multiprocessing.Queue(), multiprocessing.Event()
    farm = multiprocessing.Process(
        target=serve_farm, args=(args.hosts, args.pages, args.latency, ready, stop), daemon=True
    )
    farm.start()
    bases = ready.get(timeout=30)
    workdir = Path(tempfile.mkdtemp(prefix="marsad-fetch-bench-"))
    try:
        sources = workdir / "sources.yaml"
        sources.write_text(
            "sources:\n"
            + "".join(
                f"  - name: host{i}\n    feeds: [{b}/feed.xml]\n" for i, b in enumerate(bases)
            ),
            encoding="utf-8",
        )
        started = time.perf_counter()
        manifest = run_batch(
            [
                "--sources", str(sources), "--output", str(workdir / "out"),
                "--allow_network", "127.82.0.0/24", "--per_host", str(args.per_host),
                "--min_interval", str(args.min_interval), "--max_concurrency", "64",
                *beam_args,
            ]
        )  # fmt: skip
        pipeline_s = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows = manifest["counts"].get("write_articles.rows", 0)

        urls = [f"{b}/a/{p}" for b in bases for p in range(args.pages)]
        sample = urls if args.full_sequential else urls[::10]
        sequential_s = sequential_loop(sample) * len(urls) / len(sample)
        bound = politeness_bound(args.pages, args.per_host, args.min_interval, args.latency)
        report = {
            "pages": len(urls),
            "hosts": args.hosts,
            "latency_s": args.latency,
            "per_host": args.per_host,
            "min_interval_s": args.min_interval,
            "article_rows": rows,
            "pipeline_s": round(pipeline_s, 1),
            "politeness_bound_s": round(bound, 1),
            "ratio_to_bound": round(pipeline_s / bound, 2),
            "sequential_s": round(sequential_s, 1),
            "sequential_measured_on": len(sample),
            "speedup_vs_sequential": round(sequential_s / pipeline_s, 1),
            "peak_rss_mb": round(peak_mb),
            "stage_timings": manifest["timings"]["stages"],
            "targets_met": pipeline_s <= 1.5 * bound and sequential_s / pipeline_s >= 10,
        }
        print(json.dumps(report, indent=2))
        return 0 if rows == len(urls) else 1
    finally:
        stop.set()
        farm.join(timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
