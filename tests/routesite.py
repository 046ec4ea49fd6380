"""A loopback HTTP server answering from a table of routes, for web-convention tests.

``RouteSite(host, routes)`` serves ``routes[path] = Reply(status, body, headers)``
(``path`` includes the query string when one is given) and 404 for the rest; every
request is logged with its headers. Bodies are bytes, sent as given: tests control
encodings, gzip and sizes exactly as a misconfigured server would send them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    path: str
    headers: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        site: RouteSite = self.server.site  # type: ignore[attr-defined]
        site.log.append(Request(self.path, {k.lower(): v for k, v in self.headers.items()}))
        reply = site.routes.get(self.path) or site.routes.get(self.path.split("?")[0])
        reply = reply or Reply(404, b"<html><body>not found</body></html>", {})
        if callable(reply):
            reply = reply(self)
        etag = reply.headers.get("ETag")
        if etag and self.headers.get("If-None-Match") == etag:
            reply = Reply(304, b"", {"ETag": etag})
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:
        return


class RouteSite:
    def __init__(self, host: str, routes: dict[str, Reply] | None = None) -> None:
        self.host = host
        self.routes: dict[str, Reply] = dict(routes or {})
        self.log: list[Request] = []
        self._server = ThreadingHTTPServer((host, 0), _Handler)
        self._server.daemon_threads = True
        self._server.site = self  # type: ignore[attr-defined]
        self.base = f"http://{host}:{self._server.server_address[1]}"

    def __enter__(self) -> RouteSite:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def paths(self) -> list[str]:
        return [request.path for request in self.log]
