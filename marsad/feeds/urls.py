"""URL canonicalisation and stable article ids.

The canonical form is what two feeds pointing at the same article agree on:
lower-case scheme and host, no default port, no fragment, no tracking
parameters, remaining query parameters sorted, IDNA host, percent-encoding
normalised. The article id is a hash of that form, so it is stable across runs,
machines and Python versions.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

DEFAULT_PORTS = {"http": 80, "https": 443}

# Parameters that identify a campaign or a click, never the document.
TRACKING_PARAM_PREFIXES = ("utm_", "mtm_", "pk_", "hsa_", "oly_")
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "ref_src",
        "ref_url",
        "cmpid",
        "ocid",
        "at_medium",
        "at_campaign",
        "rss",
        "from_rss",
        "spm",
        "share",
        "amp",
    }
)

# Characters left unescaped in paths and queries: RFC 3986 unreserved + sub-delims
# that are safe in their component. Arabic slugs become percent-encoded UTF-8,
# the form every HTTP client sends, so encoded and raw spellings agree.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_QUERY_SAFE = ":@!$'()*+,;/?-._~"
_ID_PREFIX = "a_"


def is_tracking_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PARAM_PREFIXES)


def _normalise_host(host: str) -> str:
    host = host.strip().rstrip(".").lower()
    if not host or host.startswith("["):
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def _normalise_path(path: str) -> str:
    if not path:
        return "/"
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if len(segments) > 1:
                segments.pop()
        elif segment != ".":
            segments.append(segment)
    path = "/".join(segments)
    if not path.startswith("/"):
        path = "/" + path
    return quote(unquote(path), safe=_PATH_SAFE)


def canonicalize_url(url: str, base: str | None = None) -> str:
    """Return the canonical form of ``url``, resolved against ``base`` if relative.

    Raises ``ValueError`` for anything that is not an absolute http(s) URL after
    resolution (``mailto:``, ``javascript:``, an empty string ...).
    """
    url = (url or "").strip()
    if base:
        url = urljoin(base, url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"not an http(s) URL: {url!r}")
    host = _normalise_host(parts.hostname or "")
    if not host:
        raise ValueError(f"URL has no host: {url!r}")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"URL has an invalid port: {url!r}") from exc
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query_pairs = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not is_tracking_param(key)
    ]
    query = urlencode(sorted(query_pairs), safe=_QUERY_SAFE, quote_via=quote)
    return urlunsplit((scheme, netloc, _normalise_path(parts.path), query, ""))


def article_id(canonical_url: str) -> str:
    """Stable id of an article: a prefix and 16 hex chars of SHA-256 of its canonical URL."""
    digest = hashlib.sha256(canonical_url.encode("utf-8")).hexdigest()
    return _ID_PREFIX + digest[:16]


_HOST_RE = re.compile(r"^[a-z][a-z0-9+.-]*://([^/?#]+)", re.IGNORECASE)


def host_of(url: str) -> str:
    """Host (with port) of a URL, for politeness keys and reporting."""
    return (urlsplit(url).netloc or "").lower()
