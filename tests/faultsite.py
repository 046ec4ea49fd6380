"""A fault-injecting HTTP server on loopback, for fetch tests.

Every request is logged with its start and end time, so tests assert politeness
from the server's side. Paths:
  /page/<name>          a small Arabic article page (UTF-8, declared)
  /slow/<ms>/<name>     the same after a delay
  /drop                 closes the connection without answering
  /429/<name>           429 + Retry-After: 1 on the first request, then a page
  /flaky/<name>         503 twice, then a page
  /always503            503 every time
  /loop/<n>             redirects to /loop/<n+1> forever
  /huge                 50 MB body, no Content-Length (streamed)
  /huge-declared        50 MB declared in Content-Length
  /bomb                 gzip bomb: ~50 KB on the wire, 50 MB decompressed
  /pdf                  application/pdf
  /ar-1256, /ar-8859-6  Arabic page in that encoding, declared nowhere
  /redirect-to?url=U    302 to U
  /robots.txt           per-server rules (``robots=`` argument): text, status or "hang"
"""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ARABIC_PARAGRAPHS = [
    "أعلنت الحكومة العراقية أن المحادثات مع الولايات المتحدة بشأن مستقبل التحالف الدولي "
    "ستستأنف الأسبوع المقبل في بغداد، وسط مطالبات برلمانية بجدول زمني واضح لانسحاب القوات.",
    "وقال المتحدث باسم الحكومة إن اللجنة العسكرية العليا ستبحث تقييم خطر تنظيم داعش "
    "وقدرات القوات العراقية، قبل الانتقال إلى علاقات أمنية ثنائية مع الدول الشريكة.",
    "وأضاف أن الجانبين اتفقا على مواصلة الاجتماعات الفنية، مشيراً إلى أن القرار النهائي "
    "سيُتخذ وفق مصلحة العراق وسيادته، وبما يحفظ الاستقرار في المنطقة.",
]


def arabic_page(title: str = "محادثات بغداد وواشنطن", meta_charset: str | None = "utf-8") -> str:
    meta = f'<meta charset="{meta_charset}">' if meta_charset else ""
    body = "".join(f"<p>{p}</p>" for p in ARABIC_PARAGRAPHS)
    return (
        f'<!DOCTYPE html><html lang="ar" dir="rtl"><head>{meta}<title>{title}</title></head>'
        f'<body><nav><a href="/">الرئيسية</a></nav><article><h1>{title}</h1>{body}</article>'
        "<footer>جميع الحقوق محفوظة</footer></body></html>"
    )


@dataclass
class Hit:
    path: str
    started: float
    ended: float
    user_agent: str
    headers: dict


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        return

    def do_GET(self) -> None:
        site: FaultSite = self.server.site  # type: ignore[attr-defined]
        hit = Hit(
            self.path, time.monotonic(), 0.0, self.headers.get("User-Agent", ""), dict(self.headers)
        )
        with site.lock:
            site.hits.append(hit)  # logged on arrival: the client may be done before we are
            site.in_flight += 1
            site.max_in_flight = max(site.max_in_flight, site.in_flight)
        try:
            self._serve(site)
        finally:
            with site.lock:
                site.in_flight -= 1
                hit.ended = time.monotonic()

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/html; charset=utf-8",
        headers: dict | None = None,
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _serve(self, site: FaultSite) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        if site.latency:
            time.sleep(site.latency)
        if path == "/robots.txt":
            rule = site.robots
            if rule == "hang":
                time.sleep(5)
                return self._send(200, b"", "text/plain")
            if isinstance(rule, int):
                return self._send(rule, b"error", "text/plain")
            return self._send(200, (rule or "").encode(), "text/plain")
        count = site.count(path)
        if path in site.static:
            body, kind = site.static[path]
            etag = f'"{hash(body) & 0xFFFFFFFF}-{site.etag_salt}"'
            if self.headers.get("If-None-Match") == etag:
                return self._send(304, b"", "", headers={"ETag": etag})
            return self._send(200, body, kind, headers={"ETag": etag})
        if path.startswith("/page/"):
            return self._send(200, arabic_page().encode("utf-8"))
        if path.startswith("/slow/"):
            time.sleep(int(path.split("/")[2]) / 1000)
            return self._send(200, arabic_page().encode("utf-8"))
        if path == "/drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return None
        if path.startswith("/429/"):
            if count == 1:
                return self._send(429, b"slow down", headers={"Retry-After": "1"})
            return self._send(200, arabic_page().encode("utf-8"))
        if path.startswith("/flaky/"):
            if count <= 2:
                return self._send(503, b"unavailable")
            return self._send(200, arabic_page().encode("utf-8"))
        if path == "/always503":
            return self._send(503, b"unavailable")
        if path.startswith("/loop/"):
            n = int(path.split("/")[2])
            return self._send(302, b"", headers={"Location": f"/loop/{n + 1}"})
        if path == "/huge":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = b"<p>" + b"x" * 65536 + b"</p>"
            try:
                for _ in range(50 * 1024 * 1024 // len(chunk)):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True
            return None
        if path == "/huge-declared":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(50 * 1024 * 1024))
            self.end_headers()
            self.close_connection = True
            return None
        if path == "/bomb":
            return self._send(200, site.bomb, headers={"Content-Encoding": "gzip"})
        if path == "/pdf":
            return self._send(200, b"%PDF-1.4 not an article", "application/pdf")
        if path == "/ar-1256":
            return self._send(200, arabic_page(meta_charset=None).encode("cp1256"), "text/html")
        if path == "/ar-8859-6":
            return self._send(200, arabic_page(meta_charset=None).encode("iso8859_6"), "text/html")
        if path == "/redirect-to":
            target = parse_qs(parts.query)["url"][0]
            return self._send(302, b"", headers={"Location": target})
        return self._send(404, b"not found")


class FaultSite:
    """One fault server on ``host`` (a loopback address), port chosen by the OS."""

    _bomb: bytes | None = None

    def __init__(
        self,
        host: str = "127.0.0.1",
        robots: str | int | None = "User-agent: *\nAllow: /\n",
        latency: float = 0.0,
    ) -> None:
        self.host = host
        self.robots = robots
        self.latency = latency
        self.hits: list[Hit] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self._counts: dict[str, int] = {}
        self.static: dict[str, tuple[bytes, str]] = {}
        self.etag_salt = 0  # change it to make the server send new ETags for the same body
        if FaultSite._bomb is None:
            FaultSite._bomb = gzip.compress(b"\0" * (50 * 1024 * 1024), compresslevel=9)
        self.bomb = FaultSite._bomb

    def count(self, path: str) -> int:
        with self.lock:
            self._counts[path] = self._counts.get(path, 0) + 1
            return self._counts[path]

    def __enter__(self) -> FaultSite:
        self.server = ThreadingHTTPServer((self.host, 0), _Handler)
        self.server.daemon_threads = True
        self.server.site = self  # type: ignore[attr-defined]
        self.port = self.server.server_address[1]
        self.base = f"http://{self.host}:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def paths(self) -> list[str]:
        return [hit.path for hit in self.hits]

    def starts(self, prefix: str = "/") -> list[float]:
        return sorted(
            hit.started
            for hit in self.hits
            if hit.path.startswith(prefix) and hit.path != "/robots.txt"
        )
