"""Decode fetched bytes without ever silently corrupting them.

Order (the HTML standard's, plus a check at every step):

1. a byte-order mark decides (``bom``);
2. each declared charset in turn — the HTTP ``Content-Type`` (``http``), the XML
   declaration (``xml``), ``<meta charset>`` / ``http-equiv`` (``meta``) — is accepted only
   if the bytes decode under it *plausibly* (``plausible_decoding``): almost no U+FFFD
   (``MAX_REPLACEMENT_SHARE``), no UTF-8 byte sequences read as single bytes, no Latin-1
   letters glued to Arabic ones or standing in for a whole alphabet (the marks of
   windows-1256 / ISO-8859-6 / windows-1252 read as one another);
3. otherwise the bytes decide (``detected``): valid UTF-8 is UTF-8; Arabic code pages are
   tried next (ISO-8859-6 first — stricter — then windows-1256) and kept when the result
   is plausible Arabic; anything else goes to ``charset-normalizer``.

Labels resolve as browsers resolve them (``w3lib.encoding.resolve_encoding``: the WHATWG
table, so ``iso-8859-1`` means windows-1252 and ``arabic`` ISO-8859-6). The chosen codec
and its source are recorded in the article row (``encoding``, ``encoding_source``).
"""

from __future__ import annotations

import codecs
import functools
import re
from dataclasses import dataclass

from w3lib.encoding import http_content_type_encoding, read_bom, resolve_encoding

# "Nearly clean": a stray bad byte in a long page (a truncated footer, one pasted
# character) must not throw the declared charset away; a wrong charset produces far more.
MAX_REPLACEMENT_SHARE = 0.001
_HEAD_BYTES = 4096
_DETECT_BYTES = 200_000

_XML_DECL_RE = re.compile(rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_META_RE = re.compile(
    rb"""<meta[^>]{0,300}?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE
)
_ARABIC_LETTER = re.compile("[\u0621-\u064a\u0671-\u06d3]")
_LATIN1_LETTER = re.compile("[\u00c0-\u00ff]")
_LETTER = re.compile(r"[^\W\d_]")
_ASCII_LETTER_BYTES = bytes(range(65, 91)) + bytes(range(97, 123))
_GLUED = re.compile("[\u0600-\u06ff][\u00c0-\u00ff]|[\u00c0-\u00ff][\u0600-\u06ff]")
_SINGLE_BYTE_FAMILIES = ("cp125", "iso8859", "latin", "koi8", "mac", "cp8", "cp4", "tis")


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # Python codec name, e.g. "utf-8", "cp1256", "iso8859-6"
    source: str  # bom | http | xml | meta | detected
    rejected: tuple[str, ...] = ()  # declarations refused, as "source:codec"


def codec_name(label: str | None) -> str | None:
    """The codec a label means (WHATWG rules), or None when unknown."""
    if not label:
        return None
    label = label.strip().strip("\"'")
    found = resolve_encoding(label)
    if found is None:
        try:
            found = codecs.lookup(label).name
        except LookupError:
            return None
    return codecs.lookup(found).name


def charset_from_content_type(content_type: str | None) -> str | None:
    return codec_name(http_content_type_encoding(content_type or ""))


def declared_charsets(body: bytes, content_type: str | None) -> list[tuple[str, str]]:
    """(source, codec) of every charset the response declares, in order of authority."""
    found: list[tuple[str, str]] = []
    http = charset_from_content_type(content_type)
    if http:
        found.append(("http", http))
    head = body[:_HEAD_BYTES]
    xml = _XML_DECL_RE.search(head)
    if xml and (codec := codec_name(xml.group(1).decode("ascii", "ignore"))):
        found.append(("xml", codec))
    meta = _META_RE.search(head)
    if meta and (codec := codec_name(meta.group(1).decode("ascii", "ignore"))):
        found.append(("meta", codec))
    return found


def _is_single_byte(codec: str) -> bool:
    return codec.replace("_", "").replace("-", "").startswith(_SINGLE_BYTE_FAMILIES)


def _has_multibyte_utf8(body: bytes) -> bool:
    # bytes.isascii is a C scan; a generator over the bytes cost about 5 ms for a
    # 250 KB page, paid by every undeclared page and every ASCII page that declares a
    # single-byte charset (English pages labelled ISO-8859-1 are common).
    if body.isascii():
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        # A body cut mid-character at the size cap is still UTF-8.
        if error.start < len(body) - 3 or error.reason != "unexpected end of data":
            return False
    return True


def looks_garbled(text: str) -> bool:
    """Mojibake of the kinds Arabic pages suffer: Latin-1 letters inside Arabic words
    (ISO-8859-6 read as windows-1256), or a whole alphabet of them (windows-1256 read as
    windows-1252). No real language writes either.

    Runs on every fetched page, so the exact counts (``_counted_garbled``) are taken only
    when cheap bounds cannot settle it: both rules need Latin-1 letters; the first needs
    them to outnumber a quarter of all letters (ASCII letters alone are a lower bound of
    those), the second needs one next to an Arabic-block character. A 250 KB page costs
    about 1 ms instead of 15.
    """
    latin1_at = [match.start() for match in _LATIN1_LETTER.finditer(text)]
    if not latin1_at:
        return False
    if 4 * len(latin1_at) <= _ascii_letters(text) and not any(
        "\u0600" <= around <= "\u06ff"
        for at in latin1_at
        for around in text[max(at - 1, 0) : at + 2]
    ):
        return False
    return _counted_garbled(text)


def _ascii_letters(text: str) -> int:
    raw = text.encode("utf-8", "surrogatepass")  # ASCII bytes in UTF-8 are ASCII characters
    return len(raw) - len(raw.translate(None, _ASCII_LETTER_BYTES))


def _counted_garbled(text: str) -> bool:
    """``looks_garbled`` by exact counts."""
    letters = len(_LETTER.findall(text))
    if letters < 20:
        return False
    latin1 = len(_LATIN1_LETTER.findall(text))
    if latin1 > 0.25 * letters:
        return True
    arabic = len(_ARABIC_LETTER.findall(text))
    glued = len(_GLUED.findall(text))
    return glued >= 3 and glued > 0.01 * max(arabic, 1)


# Every ASCII byte, then the escapes of the 7-bit codecs that shift into other
# characters (ISO-2022's ESC $ B, HZ's ~{, UTF-7's +...-): their bodies are ASCII bytes
# that do not mean ASCII text.
_ASCII_PROBE = bytes(range(128)) + b"\x1b$B0!\x1b(B ~{0!~} +AGEAYQ-"


@functools.cache
def _reads_ascii_as_ascii(codec: str) -> bool:
    """Whether ``codec`` reads every ASCII body as that ASCII text (UTF-8 and the
    single-byte families do; UTF-16, EBCDIC and the 7-bit shifting codecs do not)."""
    try:
        return _ASCII_PROBE.decode(codec, errors="strict") == _ASCII_PROBE.decode("ascii")
    except (LookupError, UnicodeDecodeError):
        return False


def plausible_decoding(body: bytes, codec: str) -> str | None:
    """The text if ``body`` reads plausibly as ``codec``, else None."""
    if body.isascii() and _reads_ascii_as_ascii(codec):
        # Every check below passes on ASCII under such a codec (no replacement, no
        # UTF-8 sequence, no Latin-1 letter): settled by one C scan, not four passes.
        return body.decode("ascii")
    try:
        text = body.decode(codec, errors="replace")
    except LookupError:
        return None
    if text.count("\ufffd") > MAX_REPLACEMENT_SHARE * max(len(text), 1):
        return None
    if _is_single_byte(codec) and _has_multibyte_utf8(body):
        return None  # UTF-8 bytes under a single-byte label
    if (codec != "utf-8" or _utf8_may_look_garbled(body)) and looks_garbled(text):
        return None
    return text


_COUNT_BLOCK = 16384


def _utf8_may_look_garbled(body: bytes) -> bool:
    """False when ``looks_garbled`` of ``body`` read as UTF-8 is certainly False, judged on
    the bytes (C-speed scans, no decoding): a Latin-1 letter (U+00C0-U+00FF) is always
    lead byte C3, an Arabic-block character (U+0600-U+06FF) lead byte D8-DB, and ASCII
    letters are themselves. Without Latin-1 letters neither rule fires; with few of them
    against ASCII letters and no Arabic at all, neither does."""
    latin1_at_most = body.count(b"\xc3")
    if not latin1_at_most:
        return False
    if any(lead in body for lead in (b"\xd8", b"\xd9", b"\xda", b"\xdb")):
        return True
    # ASCII letters counted a block at a time: the count so far is a lower bound, and on
    # a Latin page the first block nearly always settles it (counting a whole 250 KB page
    # was a third of decoding's time).
    needed = 4 * latin1_at_most
    counted = 0
    for start in range(0, len(body), _COUNT_BLOCK):
        block = body[start : start + _COUNT_BLOCK]
        counted += len(block) - len(block.translate(None, _ASCII_LETTER_BYTES))
        if counted >= needed:
            return False
    return True


def _arabic_share(text: str) -> float:
    letters = len(_LETTER.findall(text))
    return len(_ARABIC_LETTER.findall(text)) / letters if letters else 0.0


def detect(body: bytes) -> str:
    """Codec for bytes no declaration explains."""
    sample = body[:_DETECT_BYTES]
    if sample.isascii() or _has_multibyte_utf8(sample):
        return "utf-8"
    for codec in ("iso8859-6", "cp1256"):
        text = plausible_decoding(sample, codec)
        if text is not None and _arabic_share(text) >= 0.3:
            return codec
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    return (best and codec_name(best.encoding)) or "cp1256"


def decode_document(body: bytes, content_type: str | None = None) -> Decoded:
    """Decode a fetched document; undecodable bytes become U+FFFD, never an exception."""
    bom_codec, bom = read_bom(body)
    if bom_codec:
        codec = codecs.lookup(bom_codec).name
        return Decoded(body[len(bom) :].decode(codec, errors="replace"), codec, "bom")
    rejected: list[str] = []
    for source, codec in declared_charsets(body, content_type):
        text = plausible_decoding(body, codec)
        if text is not None:
            return Decoded(text, codec, source, tuple(rejected))
        rejected.append(f"{source}:{codec}")
    codec = detect(body)
    return Decoded(body.decode(codec, errors="replace"), codec, "detected", tuple(rejected))


def decode_body(body: bytes, content_type: str | None) -> tuple[str, str]:
    """``(text, codec)``; see ``decode_document`` for the source of the choice."""
    decoded = decode_document(body, content_type)
    return decoded.text, decoded.encoding


def recode_as_utf8(body: bytes, content_type: str | None) -> tuple[bytes, Decoded]:
    """The body re-encoded as UTF-8 with its declarations made true, for parsers (such as
    feedparser) that would otherwise trust a wrong label. Returns (bytes, decoding)."""
    decoded = decode_document(body, content_type)
    text = decoded.text
    if decoded.source != "bom":
        text = _XML_DECL_ENCODING.sub(r'\1"utf-8"', text, count=1)
    return text.encode("utf-8"), decoded


_XML_DECL_ENCODING = re.compile(r"""^(\s*<\?xml[^>]{0,200}?encoding\s*=\s*)["'][^"']*["']""")
