"""Recognise binary files served under an HTML content type by their magic bytes.

Servers label PDFs, images, archives and office documents ``text/html`` often
enough (misconfigured CDNs, download links in feeds) that the declared type
cannot be trusted: decoded as text such a body becomes pages of mojibake stored
as an article. ``filetype`` (a maintained table of signatures of images, video,
audio, archives, fonts and documents, all binary) says what the first bytes are;
text never matches it. A body with NUL bytes in its head is binary too.
"""

from __future__ import annotations

import filetype

_HEAD = 8192


def binary_kind(body: bytes) -> str | None:
    """The MIME type ``body`` starts like (``application/pdf``, ``image/png`` ...), or None."""
    head = body[:_HEAD]
    if not head:
        return None
    kind = filetype.guess(head)
    if kind is not None:
        return kind.mime
    stripped = head.lstrip()
    if stripped.startswith(b"%PDF-"):  # a PDF after leading whitespace still opens as one
        return "application/pdf"
    # UTF-16 text has NULs too, but then it starts with a byte-order mark.
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "application/octet-stream"
    return None
