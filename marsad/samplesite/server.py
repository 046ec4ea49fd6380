"""Serve the sample outlets over real HTTP on loopback, one address per outlet.

``SampleSite`` starts one stdlib ``ThreadingHTTPServer`` per outlet on
``127.77.0.<n>`` (all of 127.0.0.0/8 is loopback on Linux), so each outlet is a
distinct host. A fixed port keeps URLs, and therefore article ids, stable
between two demo runs; tests pass ``port=0`` to get free ports.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import yaml

from marsad.samplesite.content import Outlet, load_outlets
from marsad.samplesite.render import (
    MALFORMED_FEED,
    render_feed,
    render_homepage,
    render_news_sitemap,
    render_page,
    render_sitemap_index,
)

DEFAULT_HOST_PREFIX = "127.77.0"
SITEMAP_INDEX = "/sitemap_index.xml"
NEWS_SITEMAP = "/sitemaps/news.xml.gz"
ARCHIVE_SITEMAP = "/sitemaps/archive-2024-01.xml"
# Placements listed somewhere that must not become article rows.
NOT_ARTICLES = ("missing", "archived", "robots_disallowed")
DEFAULT_PORT = 8765
REDIRECT_SUFFIX = "-moved"


@dataclass(frozen=True)
class Route:
    status: int
    content_type: str = ""
    body: str | bytes = ""  # str: encoded in the outlet's charset; bytes: sent as is
    location: str = ""
    etag: str = ""


@dataclass(frozen=True)
class LoggedRequest:
    outlet: str
    path: str
    at: float
    user_agent: str


class _Handler(BaseHTTPRequestHandler):
    server_version = "marsad-sample/1.0"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        site: SampleSite = self.server.site  # type: ignore[attr-defined]
        outlet: Outlet = self.server.outlet  # type: ignore[attr-defined]
        path = urlsplit(self.path).path
        site.log.append(
            LoggedRequest(
                outlet.key, self.path, time.monotonic(), self.headers.get("User-Agent", "")
            )
        )
        route = site.route(outlet, path)
        raw = isinstance(route.body, bytes)
        body = route.body if raw else route.body.encode(outlet.charset) if route.body else b""
        if route.etag and self.headers.get("If-None-Match") == route.etag:
            self.send_response(304)
            self.send_header("ETag", route.etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(route.status)
        if route.etag:
            self.send_header("ETag", route.etag)
        if route.location:
            self.send_header("Location", route.location)
        if route.content_type:
            # The label the outlet sends, which for a mislabelled outlet is not its charset.
            charset = "" if raw else f"; charset={outlet.label}"
            self.send_header("Content-Type", f"{route.content_type}{charset}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet: the log list records
        return


class SampleSite:
    """The bundled news ecosystem. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        host_prefix: str = DEFAULT_HOST_PREFIX,
        progressive: bool = False,
    ) -> None:
        """``progressive``: the n-th request of a feed lists only its first n articles,
        so repeated polls see feeds grow (streaming tests)."""
        self.port = port
        self.progressive = progressive
        self._feed_requests: dict[str, int] = {}
        self.host_prefix = host_prefix
        self.outlets = load_outlets()
        self.started = datetime.now(UTC).replace(microsecond=0)
        _move_timeline_to(self.outlets, self.started - timedelta(hours=2))
        self.log: list[LoggedRequest] = []
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []
        self.base_urls: dict[str, str] = {}
        self._etag_counter = 0

    def __enter__(self) -> SampleSite:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        for outlet in self.outlets:
            host = f"{self.host_prefix}.{outlet.ip}"
            try:
                server = ThreadingHTTPServer((host, self.port), _Handler)
            except OSError as exc:
                self.stop()
                raise OSError(
                    f"cannot serve the sample outlet {outlet.key} on {host}:{self.port}: {exc}. "
                    "Is another demo running? Set MARSAD_SAMPLE_PORT to use another port."
                ) from exc
            server.daemon_threads = True
            server.site = self  # type: ignore[attr-defined]
            server.outlet = outlet  # type: ignore[attr-defined]
            self._servers.append(server)
            self.base_urls[outlet.key] = f"http://{host}:{server.server_address[1]}"
            thread = threading.Thread(
                target=server.serve_forever, daemon=True, name=f"sample-{outlet.key}"
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()
        self._threads.clear()

    # -- content -----------------------------------------------------------------

    def feed_urls(self, outlet: Outlet) -> list[str]:
        base = self.base_urls[outlet.key]
        return [base + outlet.feed["path"]] + [base + f["path"] for f in outlet.extra_feeds]

    def sitemap_urls(self, outlet: Outlet) -> list[str]:
        return [self.base_urls[outlet.key] + SITEMAP_INDEX]

    def route(self, outlet: Outlet, path: str) -> Route:
        base = self.base_urls[outlet.key]
        if path == "/robots.txt":
            robots = outlet.robots or "User-agent: *\nAllow: /\n"
            if outlet.listed_by == "sitemaps":
                robots += f"\nSitemap: {base}{SITEMAP_INDEX}\n"
            return Route(200, "text/plain", robots)
        if path == "/":
            return Route(200, "text/html", render_homepage(outlet, base))
        if outlet.listed_by == "sitemaps":
            sitemap = self._sitemap_route(outlet, base, path)
            if sitemap is not None:
                return sitemap
        if outlet.feed.get("format") != "none" and path == outlet.feed.get("path"):
            kind = (
                "application/atom+xml"
                if outlet.feed.get("format") == "atom"
                else "application/rss+xml"
            )
            shown = None
            if self.progressive:
                shown = self._feed_requests[outlet.key] = self._feed_requests.get(outlet.key, 0) + 1
            body = render_feed(outlet, base, limit=shown)
            return Route(200, kind, body, etag=self._etag(outlet, body))
        for extra in outlet.extra_feeds:
            if path == extra["path"] and extra.get("malformed"):
                return Route(200, "application/rss+xml", MALFORMED_FEED)
        for placement in outlet.placements:
            if placement.status == "redirect" and path == placement.path:
                return Route(301, location=base + placement.path + REDIRECT_SUFFIX)
            served_path = placement.path + (
                REDIRECT_SUFFIX if placement.status == "redirect" else ""
            )
            if path == served_path:
                if placement.status == "missing":
                    break
                return Route(200, "text/html", render_page(outlet, placement))
        return Route(404, "text/html", "<html><body><h1>404 Not Found</h1></body></html>")

    def _sitemap_route(self, outlet: Outlet, base: str, path: str) -> Route | None:
        recent = [p for p in outlet.placements if p.status not in ("archived", "missing")]
        archived = [p for p in outlet.placements if p.status == "archived"]
        if path == SITEMAP_INDEX:
            # The archive's entry has no lastmod (many real indexes have none), so it is
            # fetched, and its old entries skipped by date.
            body = render_sitemap_index(base, [(NEWS_SITEMAP, self.started.isoformat())])
            body = body.replace(
                "</sitemapindex>",
                f"<sitemap><loc>{base}{ARCHIVE_SITEMAP}</loc></sitemap></sitemapindex>",
            )
            return Route(200, "application/xml", body, etag=self._etag(outlet, body))
        if path == NEWS_SITEMAP:
            xml = render_news_sitemap(outlet, base, recent).encode("utf-8")
            body = gzip.compress(xml, mtime=0)
            return Route(200, "application/gzip", body, etag=self._etag(outlet, body))
        if path == ARCHIVE_SITEMAP:
            body = render_news_sitemap(outlet, base, archived)
            return Route(200, "application/xml", body, etag=self._etag(outlet, body))
        return None

    def _etag(self, outlet: Outlet, body: str | bytes) -> str:
        """Honest outlets send a content hash; ``etag: changing`` ones a new tag each time."""
        policy = outlet.feed.get("etag", "content")
        if policy == "none":
            return ""
        if policy == "changing":
            self._etag_counter += 1
            return f'"v{self._etag_counter}"'
        data = body if isinstance(body, bytes) else body.encode("utf-8")
        return '"' + hashlib.sha1(data).hexdigest()[:16] + '"'

    def sources_document(self) -> str:
        """A sources YAML pointing at this running site."""
        sources = []
        for outlet in self.outlets:
            entry: dict = {
                "name": outlet.name,
                "language": outlet.language,
                "country": outlet.country,
            }
            if outlet.listed_by == "sitemaps":
                entry["sitemaps"] = self.sitemap_urls(outlet)
            elif outlet.listed_by == "site":
                entry["site"] = self.base_urls[outlet.key] + "/"
            else:
                entry["feeds"] = self.feed_urls(outlet)
            entry["tags"] = ["sample"]
            sources.append(entry)
        header = "# Generated by marsad for the running sample site; ports change per run.\n"
        return header + yaml.safe_dump({"sources": sources}, allow_unicode=True, sort_keys=False)

    def write_sources(self, path: str) -> str:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(self.sources_document())
        return path

    # -- what a correct run must produce ---------------------------------------------

    def expected_entries(self) -> int:
        """How many feed entries a run sees: every placement but the archived sitemap
        entries, which are outside the recency window."""
        return sum(1 for o in self.outlets for p in o.placements if p.status != "archived")

    def expected_article_urls(self) -> dict[str, str]:
        """Feed link of every article that should become an article row, by outlet key/slug."""
        expected = {}
        for outlet in self.outlets:
            base = self.base_urls[outlet.key]
            for placement in outlet.placements:
                if placement.status not in NOT_ARTICLES:
                    expected[f"{outlet.key}/{placement.article.slug}"] = (
                        base + placement.path + outlet.feed.get("link_suffix", "")
                    )
        return expected


def _move_timeline_to(outlets: list[Outlet], newest: datetime) -> None:
    """Move every article's date by one offset so the newest is ``newest``: the site's
    timeline keeps its shape but reads as current, as a news sitemap (which lists only
    the last two days) and date windows expect. Archived placements keep their real,
    old dates: they exist to be skipped."""
    current = [p for o in outlets for p in o.placements if p.status != "archived"]
    if not current:
        return
    offset = newest - max(p.article.published for p in current)
    moved: dict[int, object] = {}
    for outlet in outlets:
        placements = []
        for placement in outlet.placements:
            if placement.status != "archived":
                article = placement.article
                if id(article) not in moved:  # one article shared by outlets moves once
                    moved[id(article)] = dataclasses.replace(
                        article, published=article.published + offset
                    )
                placement = dataclasses.replace(placement, article=moved[id(article)])
            placements.append(placement)
        outlet.placements = placements
