"""A hostile web site on loopback: raw-socket servers that misbehave like real ones.

``HostileSite`` starts one threaded TCP server per host on ``127.90.0.<n>``, each
answering by path with a *scenario*: a function that writes whatever bytes it
likes to the socket (drips, stalls, resets, lies in headers). Every request is
logged. Scenarios stop by themselves (``MAX_SCENARIO_S``), so a client that never
gives up cannot keep the server busy past a test.

Hosts:
  main      pages and feeds of every scenario; robots.txt allows all
  robots500 robots.txt answers 500        → its pages fail robots_unavailable
  robotshang robots.txt never answers     → robots_unavailable after the deadline
  robotshuge robots.txt of 12 MB          → over --max_bytes: robots_unavailable
  robotsdeny Disallow: / and Crawl-delay: 86400 → robots_disallowed, no wait
"""

from __future__ import annotations

import gzip
import json
import socket
import socketserver
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

MAX_SCENARIO_S = 90.0
HOST_PREFIX = "127.90.0"
NETWORK = f"{HOST_PREFIX}.0/24"

PARAGRAPHS = [
    "أعلنت الحكومة العراقية أن المحادثات مع الولايات المتحدة بشأن مستقبل التحالف الدولي "
    "ستستأنف الأسبوع المقبل في بغداد، وسط مطالبات برلمانية بجدول زمني واضح لانسحاب القوات.",
    "وقال المتحدث باسم الحكومة إن اللجنة العسكرية العليا ستبحث تقييم خطر تنظيم داعش "
    "وقدرات القوات العراقية، قبل الانتقال إلى علاقات أمنية ثنائية مع الدول الشريكة.",
    "وأضاف أن الجانبين اتفقا على مواصلة الاجتماعات الفنية، مشيراً إلى أن القرار النهائي "
    "سيُتخذ وفق مصلحة العراق وسيادته، وبما يحفظ الاستقرار في المنطقة.",
]


def article_html(name: str, charset: str | None = "utf-8", extra: str = "") -> str:
    """A good article page; ``name`` makes its text distinct from every other page."""
    meta = f'<meta charset="{charset}">' if charset else ""
    body = "".join(f"<p>{p} ({name})</p>" for p in PARAGRAPHS)
    return (
        f'<!DOCTYPE html><html lang="ar"><head>{meta}<title>خبر {name}</title></head>'
        f"<body><article><h1>خبر {name}</h1>{body}{extra}</article></body></html>"
    )


@dataclass
class Request:
    host: str
    method: str
    path: str
    headers: dict[str, str]
    at: float


Scenario = Callable[[socket.socket, Request, "HostileSite"], None]


def _response(status: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items())]
    if "Content-Length" not in headers and "Transfer-Encoding" not in headers:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def send(
    status: str = "200 OK",
    body: bytes | str = b"",
    content_type: str = "text/html; charset=utf-8",
    **headers: str,
) -> Scenario:
    data = body.encode("utf-8") if isinstance(body, str) else body

    def serve(sock: socket.socket, request: Request, site: HostileSite) -> None:
        hdrs = {"Content-Type": content_type} if content_type else {}
        hdrs.update({k.replace("_", "-"): v for k, v in headers.items()})
        sock.sendall(_response(status, hdrs, data))

    return serve


def _until(deadline: float, site: HostileSite) -> bool:
    return time.monotonic() < deadline and not site.stopping.is_set()


def drip_body(sock, request, site) -> None:
    """Headers at once, then one byte a second, forever (no Content-Length)."""
    sock.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nConnection: close\r\n\r\n"
    )
    end = time.monotonic() + MAX_SCENARIO_S
    payload = article_html("drip").encode()
    position = 0
    while _until(end, site):
        sock.sendall(payload[position % len(payload) : position % len(payload) + 1])
        position += 1
        time.sleep(1.0)


def drip_headers(sock, request, site) -> None:
    """The header block one byte a second; it never ends."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n" + b"X-Padding: " + b"a" * 10_000
    end = time.monotonic() + MAX_SCENARIO_S
    for byte in head:
        if not _until(end, site):
            return
        sock.sendall(bytes([byte]))
        time.sleep(1.0)


def stall(sock, request, site) -> None:
    """Accept, read the request, answer nothing."""
    site.stopping.wait(MAX_SCENARIO_S)


def reset_mid_body(sock, request, site) -> None:
    body = article_html("reset").encode()
    sock.sendall(
        _response(
            "200 OK",
            {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(len(body) * 4)},
            body[: len(body) // 2],
        )
    )
    time.sleep(0.05)
    # SO_LINGER 0: close sends RST, not FIN.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def short_content_length(sock, request, site) -> None:
    body = article_html("short").encode()
    sock.sendall(
        _response(
            "200 OK",
            {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(len(body) + 5000)},
            body,
        )
    )


def truncated_headers(sock, request, site) -> None:
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nX-Cut: abc")


def gzip_bomb(sock, request, site) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * (1024 * 1024)
    data = b"".join(compressor.compress(chunk) for _ in range(60)) + compressor.flush()
    sock.sendall(
        _response(
            "200 OK",
            {
                "Content-Type": "text/html",
                "Content-Encoding": "gzip",
                "Content-Length": str(len(data)),
            },
            data,
        )
    )


def huge_page(sock, request, site) -> None:
    """50 MB, streamed without Content-Length."""
    sock.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nConnection: close\r\n\r\n<html><body>"
    )
    block = ("<p>" + PARAGRAPHS[0] + "</p>\n").encode() * 200
    sent = 0
    try:
        while sent < 50 * 1024 * 1024 and not site.stopping.is_set():
            sock.sendall(block)
            sent += len(block)
    except OSError:
        return  # the client stopped reading at its cap: expected


def big_page(size: int, one_line: bool) -> Scenario:
    """An article page of about ``size`` bytes; ``one_line``: one paragraph, no newline."""

    def serve(sock, request, site) -> None:
        if one_line:
            words = (" ".join(PARAGRAPHS) + " ").encode()
            text = (words * (size // len(words) + 1))[:size].decode("utf-8", "ignore")
            html = f'<html lang="ar"><head><meta charset="utf-8"><title>سطر واحد</title></head><body><article><p>{text}</p></article></body></html>'
        else:
            paragraph_count = size // 400
            html = (
                '<html lang="ar"><head><meta charset="utf-8"><title>صفحة كبيرة</title></head><body><article>'
                + "".join(f"<p>{PARAGRAPHS[i % 3]} {i}</p>\n" for i in range(paragraph_count))
                + "</article></body></html>"
            )
        send(body=html)(sock, request, site)

    return serve


def fail_then_page(status: str, times: int, name: str, **headers: str) -> Scenario:
    def serve(sock, request, site) -> None:
        key = (request.host, request.path)
        with site.lock:
            seen = site.counts.get(key, 0)
            site.counts[key] = seen + 1
        if seen < times:
            send(status, body=f"<html><body>{status}</body></html>", **headers)(sock, request, site)
        else:
            send(body=article_html(name))(sock, request, site)

    return serve


def redirect(
    location_of: Callable[[HostileSite, Request], str], status: str = "302 Found"
) -> Scenario:
    def serve(sock, request, site) -> None:
        sock.sendall(_response(status, {"Location": location_of(site, request)}))

    return serve


def nested_divs(sock, request, site) -> None:
    depth = 100_000
    html = (
        "<html><body>"
        + "<div>" * depth
        + "<p>"
        + PARAGRAPHS[0]
        + "</p>"
        + "</div>" * depth
        + "</body></html>"
    )
    send(body=html)(sock, request, site)


def pdf_bytes() -> bytes:
    return (
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 400 + b"%%EOF"
    )


# -- feeds -------------------------------------------------------------------------------


def rss(items: list[dict[str, str]], title: str = "hostile") -> str:
    def item(fields: dict[str, str]) -> str:
        return "<item>" + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items()) + "</item>"

    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>http://{HOST_PREFIX}.1/</link>"
        + "".join(item(i) for i in items)
        + "</channel></rss>"
    )


def _date(offset_days: float = -1) -> str:
    when = datetime.now(UTC) + timedelta(days=offset_days)
    return when.strftime("%a, %d %b %Y %H:%M:%S +0000")


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    + ']><rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title>'
    "<link>http://127.90.0.1/laughs</link></item></channel></rss>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<rss version="2.0"><channel><title>xxe</title><item><title>&xxe;</title>'
    "<description>&xxe;</description><link>{base}/page/xxe</link></item></channel></rss>"
)


@dataclass
class Host:
    name: str
    address: str
    server: socketserver.ThreadingTCPServer | None = None
    thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server.server_address[1]  # type: ignore[union-attr]

    @property
    def base(self) -> str:
        return f"http://{self.address}:{self.port}"


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        site: HostileSite = self.server.site  # type: ignore[attr-defined]
        host: Host = self.server.host  # type: ignore[attr-defined]
        sock: socket.socket = self.request
        sock.settimeout(10)
        data = b""
        try:
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    return
                data += chunk
        except OSError:
            return
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        request_line, *header_lines = head.split("\r\n")
        method, path, _ = [*request_line.split(" "), "", ""][:3]
        headers = {}
        for line in header_lines:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        request = Request(host.name, method, path, headers, time.monotonic())
        with site.lock:
            site.requests.append(request)
        scenario = site.route(host, path)
        try:
            sock.settimeout(None)
            scenario(sock, request, site)
        except OSError:
            pass  # the client hung up: a normal end for many scenarios


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


@dataclass
class HostileSite:
    hosts: dict[str, Host] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    routes: dict[tuple[str, str], Scenario] = field(default_factory=dict)

    HOST_NAMES = ("main", "robots500", "robotshang", "robotshuge", "robotsdeny")

    def __enter__(self) -> HostileSite:
        for n, name in enumerate(self.HOST_NAMES, start=1):
            host = Host(name, f"{HOST_PREFIX}.{n}")
            host.server = _Server((host.address, 0), _Handler)
            host.server.site = self  # type: ignore[attr-defined]
            host.server.host = host  # type: ignore[attr-defined]
            host.thread = threading.Thread(target=host.server.serve_forever, daemon=True)
            host.thread.start()
            self.hosts[name] = host
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for host in self.hosts.values():
            host.server.shutdown()  # type: ignore[union-attr]
            host.server.server_close()  # type: ignore[union-attr]

    def url(self, host: str, path: str) -> str:
        return self.hosts[host].base + path

    def paths(self, host: str = "main") -> list[str]:
        with self.lock:
            return [r.path for r in self.requests if r.host == host]

    def add(self, host: str, path: str, scenario: Scenario) -> str:
        self.routes[(host, path)] = scenario
        return self.url(host, path)

    def route(self, host: Host, path: str) -> Scenario:
        found = self.routes.get((host.name, path))
        if found is not None:
            return found
        if path == "/robots.txt":
            return ROBOTS.get(
                host.name, send(body="User-agent: *\nAllow: /\n", content_type="text/plain")
            )
        if path.startswith("/page/"):
            return send(body=article_html(path.rsplit("/", 1)[-1]))
        return send("404 Not Found", body="<html><body>not found</body></html>")


def _huge_robots(sock, request, site) -> None:
    line = b"Disallow: /private/" + b"x" * 100 + b"\n"
    body = b"User-agent: *\n" + line * (12 * 1024 * 1024 // len(line))
    sock.sendall(_response("200 OK", {"Content-Type": "text/plain"}, body))


ROBOTS: dict[str, Scenario] = {
    "robots500": send("500 Internal Server Error", body="oops", content_type="text/plain"),
    "robotshang": stall,
    "robotshuge": _huge_robots,
    "robotsdeny": send(
        body="User-agent: *\nCrawl-delay: 86400\nDisallow: /\n", content_type="text/plain"
    ),
}


def gzip_body(data: bytes) -> bytes:
    return gzip.compress(data)


def json_feed(items: list) -> str:
    return json.dumps(
        {"version": "https://jsonfeed.org/version/1.1", "title": "j", "items": items},
        ensure_ascii=False,
    )
