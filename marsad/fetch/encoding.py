"""Decide how to decode a fetched body: HTTP charset, then BOM / XML declaration /
meta charset, then statistical detection for undeclared bytes.

Arabic outlets still serve windows-1256 and ISO-8859-6, often declared only in the
HTTP header or not at all; guessing UTF-8 and replacing errors would silently turn
their text into mojibake, so detection is constrained to the candidates that matter.
"""

from __future__ import annotations

import codecs
import re
from email.message import Message

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_XML_DECL_RE = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_META_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)


def charset_from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    message = Message()
    message["content-type"] = content_type
    charset = message.get_param("charset")
    return _known(str(charset)) if charset else None


def _known(name: str) -> str | None:
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def declared_in_body(body: bytes) -> str | None:
    """Encoding declared by a BOM, an XML declaration or an HTML meta tag."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    head = body[:4096]
    for pattern in (_XML_DECL_RE, _META_RE):
        match = pattern.search(head)
        if match:
            found = _known(match.group(1).decode("ascii", "ignore"))
            if found:
                return found
    return None


def detect(body: bytes) -> str:
    """Best guess for undeclared bytes: UTF-8 if valid, else a statistical guess."""
    try:
        body.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(
        body[:200_000], cp_isolation=["cp1256", "iso8859_6", "cp1252", "latin_1", "utf_16"]
    ).best()
    return _known(best.encoding) if best and _known(best.encoding) else "cp1256"


def choose_encoding(body: bytes, content_type: str | None) -> str:
    return charset_from_content_type(content_type) or declared_in_body(body) or detect(body)


def decode_body(body: bytes, content_type: str | None) -> tuple[str, str]:
    """Return ``(text, encoding)``; undecodable bytes become U+FFFD, never an exception."""
    encoding = choose_encoding(body, content_type)
    text = body.decode(encoding, errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    return text, encoding
