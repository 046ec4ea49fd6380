"""Optional raw archive: every fetched response as a WARC record (warcio).

Bodies are stored as the application received them (after transfer
decompression), so Content-Encoding is dropped and Content-Length rewritten;
re-extraction later reads exactly what extraction saw.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from http.client import responses
from typing import BinaryIO

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

_DROPPED = {"content-encoding", "transfer-encoding", "content-length"}


class WarcArchive:
    """Appends response records to a stream opened on first use."""

    def __init__(self, open_stream: Callable[[], BinaryIO]) -> None:
        self._open_stream = open_stream
        self._stream: BinaryIO | None = None
        self._writer: WARCWriter | None = None
        self.records = 0

    def write_response(self, url: str, status: int, headers: dict[str, str], body: bytes) -> None:
        if self._writer is None:
            self._stream = self._open_stream()
            self._writer = WARCWriter(self._stream, gzip=True)
        header_list = [(k, v) for k, v in headers.items() if k.lower() not in _DROPPED]
        header_list.append(("Content-Length", str(len(body))))
        http_headers = StatusAndHeaders(
            f"{status} {responses.get(status, '')}".strip(), header_list, protocol="HTTP/1.1"
        )
        record = self._writer.create_warc_record(
            url, "response", payload=io.BytesIO(body), http_headers=http_headers
        )
        self._writer.write_record(record)
        self.records += 1

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._stream = None
        self._writer = None
