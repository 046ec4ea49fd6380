"""Serve the sample outlets over real HTTP on loopback, one address per outlet.

``SampleSite`` starts one stdlib ``ThreadingHTTPServer`` per outlet on
``127.77.0.<n>`` (all of 127.0.0.0/8 is loopback on Linux), so each outlet is a
distinct host. A fixed port keeps URLs, and therefore article ids, stable
between two demo runs; tests pass ``port=0`` to get free ports.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import yaml

from marsad.samplesite.content import Outlet, load_outlets
from marsad.samplesite.render import MALFORMED_FEED, render_feed, render_page

DEFAULT_HOST_PREFIX = "127.77.0"
DEFAULT_PORT = 8765
REDIRECT_SUFFIX = "-moved"


@dataclass(frozen=True)
class Route:
    status: int
    content_type: str = ""
    body: str = ""
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
        body = route.body.encode(outlet.charset) if route.body else b""
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
            self.send_header("Content-Type", f"{route.content_type}; charset={outlet.charset}")
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

    def route(self, outlet: Outlet, path: str) -> Route:
        base = self.base_urls[outlet.key]
        if path == "/robots.txt":
            return Route(200, "text/plain", "User-agent: *\nAllow: /\n")
        if path == outlet.feed["path"]:
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

    def _etag(self, outlet: Outlet, body: str) -> str:
        """Honest outlets send a content hash; ``etag: changing`` ones a new tag each time."""
        policy = outlet.feed.get("etag", "content")
        if policy == "none":
            return ""
        if policy == "changing":
            self._etag_counter += 1
            return f'"v{self._etag_counter}"'
        return '"' + hashlib.sha1(body.encode("utf-8")).hexdigest()[:16] + '"'

    def sources_document(self) -> str:
        """A sources YAML pointing at this running site."""
        sources = [
            {
                "name": outlet.name,
                "language": outlet.language,
                "country": outlet.country,
                "feeds": self.feed_urls(outlet),
                "tags": ["sample"],
            }
            for outlet in self.outlets
        ]
        header = "# Generated by marsad for the running sample site; ports change per run.\n"
        return header + yaml.safe_dump({"sources": sources}, allow_unicode=True, sort_keys=False)

    def write_sources(self, path: str) -> str:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(self.sources_document())
        return path

    # -- what a correct run must produce ---------------------------------------------

    def expected_article_urls(self) -> dict[str, str]:
        """Feed link of every article that should become an article row, by outlet key/slug."""
        expected = {}
        for outlet in self.outlets:
            base = self.base_urls[outlet.key]
            for placement in outlet.placements:
                if placement.status != "missing":
                    expected[f"{outlet.key}/{placement.article.slug}"] = (
                        base + placement.path + outlet.feed.get("link_suffix", "")
                    )
        return expected
