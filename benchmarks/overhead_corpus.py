"""The corpus of the overhead benchmark: real article pages, replicated, served on loopback.

The 439 pages of the shared extraction benchmarks (scrapinghub 181, fundus 258; see
``../shared/eval/README.md``) are the originals. A larger corpus is made of copies whose
article text differs: in every text node of twelve words or more outside scripts, styles
and comments the words are shuffled (seeded by page and copy). Navigation, headings,
captions and metadata (JSON-LD, ``<meta>``) stay as they were, so each copy keeps its
page's structure and extraction difficulty while near-duplicate detection sees a new
article. Pages are written once to a cache folder in the system temp directory and
served from there by one threaded HTTP server per loopback host, with zero latency.

Hosts: ``127.84.0.1`` ... ``127.84.0.<hosts>``; every copy of an original lives on the same
host (one host is one outlet, whose pages share their chrome). Each host has a
``robots.txt`` that allows everything and RSS feeds of at most ``FEED_ITEMS`` items.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import multiprocessing
import random
import re
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

FEED_ITEMS = 50
HOST_PREFIX = "127.84.0."
NETWORK = "127.84.0.0/24"
MIN_SHUFFLED_WORDS = 12
CORPUS_VERSION = "1"

_PROTECTED = re.compile(
    r"(<script\b.*?</script\s*>|<style\b.*?</style\s*>|<!--.*?-->|<[^>]*>)",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class Original:
    """One page of the extraction benchmarks with its expected article body."""

    bench: str  # "scrapinghub" or "fundus"
    page_id: str  # file-safe id
    html_path: Path
    truth: str


def find_eval_dir(root: Path, explicit: str | None = None) -> Path | None:
    """``shared/eval`` beside the project (or beside the folder of a git worktree)."""
    candidates = [Path(explicit)] if explicit else []
    candidates += [parent / "shared" / "eval" for parent in root.parents]
    for candidate in candidates:
        if (candidate / "extraction" / "scrapinghub").is_dir():
            return candidate
    return None


def load_originals(eval_dir: Path) -> list[Original]:
    import pyarrow.parquet as pq

    extraction = eval_dir / "extraction"
    originals = []
    truth = json.loads((extraction / "scrapinghub" / "ground-truth.json").read_text("utf-8"))
    for page_id in sorted(truth):
        path = extraction / "scrapinghub" / "html" / f"{page_id}.html.gz"
        if path.exists():
            originals.append(
                Original("scrapinghub", page_id[:16], path, truth[page_id]["articleBody"] or "")
            )
    index = pq.read_table(extraction / "fundus" / "index.parquet").to_pylist()
    for row in sorted(index, key=lambda r: r["id"]):
        page_id = re.sub(r"[^A-Za-z0-9]+", "-", row["id"].removesuffix(".html.gz")).lower()
        originals.append(
            Original("fundus", page_id, extraction / "fundus" / row["html_path"], row["body"] or "")
        )
    return originals


def vary_html(html: str, seed: str) -> str:
    """``html`` with the words of each long text node shuffled (see module doc)."""
    rng = random.Random(seed)
    parts = _PROTECTED.split(html)
    for index in range(0, len(parts), 2):  # even parts are text between tags
        text = parts[index]
        words = text.split()
        if len(words) >= MIN_SHUFFLED_WORDS:
            rng.shuffle(words)
            lead = text[: len(text) - len(text.lstrip())]
            tail = text[len(text.rstrip()) :]
            parts[index] = lead + " ".join(words) + tail
    return "".join(parts)


@dataclass(frozen=True)
class Page:
    """One served page: original ``original`` (index into the originals), copy ``copy``."""

    original: int
    copy: int
    host: int  # 1-based host number
    path: str  # URL path, also the file name under the corpus folder

    def url(self, bases: dict[int, str]) -> str:
        return bases[self.host] + self.path


def plan_pages(originals: list[Original], count: int, hosts: int) -> list[Page]:
    """``count`` pages: every original once, then copies round-robin over the originals."""
    pages = []
    for number in range(count):
        original, copy = number % len(originals), number // len(originals)
        page = originals[original]
        host = original % hosts + 1
        pages.append(Page(original, copy, host, f"/{page.bench}/{page.page_id}/{copy}.html"))
    return pages


def corpus_dir(originals: list[Original]) -> Path:
    digest = hashlib.sha256(
        (CORPUS_VERSION + "".join(o.page_id for o in originals)).encode()
    ).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"marsad-overhead-corpus-{digest}"


def materialise(originals: list[Original], pages: list[Page], folder: Path) -> None:
    """Write every page not yet in ``folder`` (copies are derived once, then reused)."""
    cache: dict[int, str] = {}
    for page in pages:
        target = folder / page.path.lstrip("/")
        if target.exists():
            continue
        if page.original not in cache:
            cache.clear()  # pages are planned original by original within a copy round
            raw = gzip.decompress(originals[page.original].html_path.read_bytes())
            cache[page.original] = raw.decode("utf-8", errors="replace")
        html = cache[page.original]
        if page.copy:
            html = vary_html(html, f"{page.path}")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        partial.write_text(html, encoding="utf-8")
        partial.rename(target)


def feeds_of(pages: list[Page], bases: dict[int, str]) -> dict[int, list[list[Page]]]:
    """Per host, its pages cut into feeds of at most ``FEED_ITEMS`` items."""
    by_host: dict[int, list[Page]] = {}
    for page in pages:
        by_host.setdefault(page.host, []).append(page)
    return {
        host: [listed[i : i + FEED_ITEMS] for i in range(0, len(listed), FEED_ITEMS)]
        for host, listed in by_host.items()
    }


def rss(host: int, items: list[Page], bases: dict[int, str]) -> bytes:
    start = datetime(2024, 3, 1, tzinfo=UTC)
    body = "".join(
        f"<item><title>page {page.original}-{page.copy}</title>"
        f"<link>{escape(page.url(bases))}</link><guid>{escape(page.url(bases))}</guid>"
        f"<pubDate>{format_datetime(start + timedelta(minutes=page.original + page.copy))}</pubDate>"
        "</item>"
        for page in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>host {host}</title><link>{bases[host]}/</link>{body}</channel></rss>"
    ).encode()


def _serve(folder: str, hosts: int, pages: list[Page], ready, stop) -> None:
    servers = []
    for host in range(1, hosts + 1):
        server = ThreadingHTTPServer((f"{HOST_PREFIX}{host}", 0), _Handler)
        server.daemon_threads = True
        servers.append(server)
    bases = {
        host: f"http://{HOST_PREFIX}{host}:{server.server_address[1]}"
        for host, server in enumerate(servers, start=1)
    }
    feeds = feeds_of(pages, bases)
    for host, server in enumerate(servers, start=1):
        server.folder = Path(folder).resolve()  # type: ignore[attr-defined]
        server.feeds = {  # type: ignore[attr-defined]
            f"/feed/{number}.xml": rss(host, items, bases)
            for number, items in enumerate(feeds.get(host, []))
        }
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ready.put(bases)
    stop.wait()
    for server in servers:
        server.shutdown()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        return

    def do_GET(self):
        server = self.server
        if self.path == "/robots.txt":
            body, kind = b"User-agent: *\nAllow: /\n", "text/plain"
        elif self.path in server.feeds:
            body, kind = server.feeds[self.path], "application/rss+xml; charset=utf-8"
        else:
            target = (server.folder / self.path.lstrip("/")).resolve()
            if server.folder not in target.parents or not target.is_file():
                self.send_error(404)
                return
            body, kind = target.read_bytes(), "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class CorpusServer:
    """The corpus served on loopback from a separate process (its CPU is not measured)."""

    def __init__(self, folder: Path, hosts: int, pages: list[Page]) -> None:
        context = multiprocessing.get_context("spawn")
        self._ready, self._stop = context.Queue(), context.Event()
        self._process = context.Process(
            target=_serve, args=(str(folder), hosts, pages, self._ready, self._stop), daemon=True
        )
        self.pages = pages

    def __enter__(self) -> CorpusServer:
        self._process.start()
        self.bases: dict[int, str] = self._ready.get(timeout=60)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def urls(self) -> list[str]:
        return [page.url(self.bases) for page in self.pages]

    def sources_yaml(self) -> str:
        feeds = feeds_of(self.pages, self.bases)
        lines = ["sources:"]
        for host in sorted(feeds):
            lines.append(f"  - name: outlet{host}")
            urls = ", ".join(f"{self.bases[host]}/feed/{n}.xml" for n in range(len(feeds[host])))
            lines.append(f"    feeds: [{urls}]")
        return "\n".join(lines) + "\n"
