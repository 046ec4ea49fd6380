"""Conditional-GET state per feed: validators and a body hash, kept beside the output.

``state/feeds.json`` maps feed URL → {etag, last_modified, body_sha256, checked_at}.
The next run sends ``If-None-Match`` / ``If-Modified-Since``; a 304, or a 200 whose
body hashes the same as last time (servers that ignore or fake validators),
skips parsing. The state is promoted by the driver only after a successful run,
and a feed whose entries failed for a transient reason keeps its old state, so
the next run sees those entries again and retries them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

RETRYABLE_REASONS = frozenset(
    {
        "timeout",
        "connection_error",
        "truncated_response",
        "dns_error",
        "robots_unavailable",
        "internal_error",
        "http_429",
        "http_408",
    }
)


def is_retryable(reason: str) -> bool:
    return reason in RETRYABLE_REASONS or reason.startswith("http_5")


@dataclass(frozen=True)
class FeedState:
    """``kind``/``links``: what a sitemap index lists (``sitemap_index``: child URLs) or
    what discovery found on a homepage (``site``: ``"feed URL"`` / ``"sitemap URL"``),
    so an unchanged index or a recently discovered site needs no new requests."""

    feed_url: str
    etag: str = ""
    last_modified: str = ""
    body_sha256: str = ""
    checked_at: str = ""
    kind: str = ""
    links: tuple[str, ...] = ()


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def conditional_headers(state: FeedState | None) -> dict[str, str]:
    if state is None:
        return {}
    headers = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


def dumps_state(states: dict[str, FeedState]) -> bytes:
    document = {url: asdict(state) for url, state in sorted(states.items())}
    return json.dumps(document, indent=1, ensure_ascii=False).encode("utf-8")


def loads_state(data: bytes) -> dict[str, FeedState]:
    if not data.strip():
        return {}
    document = json.loads(data.decode("utf-8"))
    return {
        url: FeedState(**{**fields, "links": tuple(fields.get("links") or ())})
        for url, fields in document.items()
    }
