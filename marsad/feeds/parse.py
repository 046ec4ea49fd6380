"""Turn feed bytes into ``FeedEntry`` records with feedparser.

The bytes are decoded by ``marsad.fetch.encoding`` (declared charsets checked, windows-1256
and ISO-8859-6 detected) and handed to feedparser as UTF-8, and the final URL goes in as
Content-Location so relative links resolve against the feed.
"""

from __future__ import annotations

import calendar
import html
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin

import feedparser

from marsad.errors import EntryError, FeedError, bounded
from marsad.fetch.encoding import recode_as_utf8
from marsad.fetch.ledger import entry_key
from marsad.text.htmltext import html_to_text
from schemas.records import FeedEntry, FeedFetch

# feedparser marks these as bozo but still parses them correctly.
_HARMLESS_BOZO = (
    feedparser.CharacterEncodingOverride,
    feedparser.NonXMLContentType,
)


@dataclass
class EntryProblem:
    """An entry that cannot become a ``FeedEntry``: it ends as its own failure row."""

    error: EntryError
    url: str  # the entry's link when it has one, else ``<feed>#entry-<n>``
    key: str  # stable across runs (feed + guid/link/title), for the failure ledger


@dataclass
class ParsedFeed:
    entries: list[FeedEntry]
    problems: list[EntryProblem]
    version: str
    bozo_reason: str = ""


def _problem(
    fetch: FeedFetch, position: int, reason: str, what: str, identity: str = ""
) -> EntryProblem:
    feed_url = fetch.feed.feed_url
    return EntryProblem(
        error=EntryError(
            bounded(f"entry #{position + 1} of {feed_url}: {what}", 500), reason=reason
        ),
        url=f"{feed_url}#entry-{position + 1}",
        key=entry_key(feed_url, identity or f"#{position + 1}"),
    )


def _text(value: object, field_name: str) -> str:
    """A string field of a JSON Feed item; anything else makes the item malformed."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"{field_name} must be a string, got {type(value).__name__}")
    return value


def _to_datetime(value: object) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None


def _entry_link(entry: feedparser.FeedParserDict) -> str:
    link = entry.get("link") or ""
    if link:
        return link
    for candidate in entry.get("links", []):
        if candidate.get("rel", "alternate") == "alternate" and candidate.get("href"):
            return candidate["href"]
    guid = entry.get("id") or ""
    if guid.startswith(("http://", "https://")):
        return guid
    return ""


def _authors(entry: feedparser.FeedParserDict) -> list[str]:
    names = [a.get("name", "").strip() for a in entry.get("authors", []) if a.get("name")]
    if not names and entry.get("author"):
        names = [entry["author"].strip()]
    return [n for n in dict.fromkeys(names) if n]


def _content_html(entry: feedparser.FeedParserDict) -> str:
    parts = [c.get("value", "") for c in entry.get("content", []) if c.get("value")]
    return max(parts, key=len) if parts else ""


def _looks_like_json_feed(fetch: FeedFetch) -> bool:
    content_type = fetch.headers.get("content-type", "").lower()
    return "json" in content_type or fetch.body.lstrip()[:1] == b"{"


def _iso_datetime(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_json_feed(fetch: FeedFetch) -> ParsedFeed:
    """JSON Feed 1.0/1.1 (https://jsonfeed.org), which feedparser does not read."""
    try:
        document = json.loads(fetch.body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FeedError(
            f"feed {fetch.feed.feed_url} is not valid JSON: {exc}",
            reason="feed_malformed",
            http_status=fetch.status,
        ) from exc
    if not isinstance(document, dict) or "jsonfeed.org/version" not in str(document.get("version")):
        raise FeedError(
            f"{fetch.feed.feed_url} is JSON but not a JSON Feed (no jsonfeed.org version)",
            reason="not_a_feed",
            http_status=fetch.status,
        )
    home = document.get("home_page_url")
    base = home if isinstance(home, str) and home else fetch.final_url
    raw_authors = document.get("authors")
    feed_authors = [
        a["name"]
        for a in (raw_authors if isinstance(raw_authors, list) else [])
        if isinstance(a, dict) and isinstance(a.get("name"), str)
    ]
    items = document.get("items")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise FeedError(
            f"{fetch.feed.feed_url}: JSON Feed 'items' is a {type(items).__name__}, not a list",
            reason="feed_malformed",
            http_status=fetch.status,
        )
    language = document.get("language")
    language = language[:2] if isinstance(language, str) else ""
    entries: list[FeedEntry] = []
    problems: list[EntryProblem] = []
    for position, item in enumerate(items):
        identity = ""
        try:
            if not isinstance(item, dict):
                raise TypeError(f"item is a {type(item).__name__}, not an object")
            # JSON Feed 1.1: a numeric id must be coerced to a string.
            raw_id = item.get("id")
            guid = str(raw_id) if isinstance(raw_id, (str, int, float)) else ""
            identity = guid
            link = _text(item.get("url"), "url") or _text(item.get("external_url"), "external_url")
            if not link and guid.startswith(("http://", "https://")):
                link = guid
            identity = guid or link or str(item.get("title", ""))[:200]
            if not link:
                problems.append(
                    _problem(
                        fetch, position, "entry_no_link", f"item {guid or '#'} has no url", identity
                    )
                )
                continue
            item_authors = item.get("authors")
            authors = [
                a["name"]
                for a in (item_authors if isinstance(item_authors, list) else [])
                if isinstance(a, dict) and isinstance(a.get("name"), str)
            ]
            entries.append(
                FeedEntry(
                    source=fetch.feed.source,
                    feed_url=fetch.feed.feed_url,
                    link=urljoin(base, link.strip()),
                    guid=guid,
                    title=html_to_text(_text(item.get("title"), "title")),
                    summary=html_to_text(_text(item.get("summary"), "summary")),
                    content=_text(item.get("content_html"), "content_html")
                    or html.escape(_text(item.get("content_text"), "content_text")),
                    authors=[a for a in authors or feed_authors if a],
                    published_at=_iso_datetime(item.get("date_published")),
                    updated_at=_iso_datetime(item.get("date_modified")),
                    language=fetch.feed.language or language,
                    country=fetch.feed.country,
                    source_tags=list(fetch.feed.tags),
                )
            )
        except Exception as exc:  # one bad item is its own failure; the rest go on
            problems.append(
                _problem(
                    fetch,
                    position,
                    "entry_malformed",
                    f"malformed item: {type(exc).__name__}: {exc}",
                    identity or repr(item)[:200],
                )
            )
    return ParsedFeed(entries=entries, problems=problems, version="json")


def parse_feed(fetch: FeedFetch) -> ParsedFeed:
    """Parse one fetched feed. Raises ``FeedError`` when nothing usable comes out."""
    if _looks_like_json_feed(fetch):
        return parse_json_feed(fetch)
    headers = dict(fetch.headers)
    headers["content-location"] = fetch.final_url
    # feedparser trusts the first declared charset and falls back to windows-1252: a
    # windows-1256 feed labelled UTF-8 would come out as mojibake. It gets UTF-8 we decoded.
    body, _decoded = recode_as_utf8(fetch.body, headers.get("content-type"))
    media_type = headers.get("content-type", "").split(";")[0].strip() or "application/xml"
    headers["content-type"] = f"{media_type}; charset=utf-8"
    parsed = feedparser.parse(
        body, response_headers=headers, sanitize_html=True, resolve_relative_uris=True
    )
    bozo = parsed.get("bozo_exception")
    version = parsed.get("version") or ""
    if not parsed.entries:
        if bozo is not None and not isinstance(bozo, _HARMLESS_BOZO):
            raise FeedError(
                f"feed {fetch.feed.feed_url} is malformed and yielded no entries: "
                f"{bozo.__class__.__name__}: {str(bozo)[:200]}",
                reason="feed_malformed",
                http_status=fetch.status,
            )
        if not version:
            raise FeedError(
                f"{fetch.feed.feed_url} is not an RSS/Atom feed "
                f"(content-type {fetch.headers.get('content-type', 'unknown')!r})",
                reason="not_a_feed",
                http_status=fetch.status,
            )
    feed_language = (parsed.feed.get("language") or "").split("-")[0].lower()
    entries: list[FeedEntry] = []
    problems: list[EntryProblem] = []
    for position, item in enumerate(parsed.entries):
        identity = ""
        try:
            link = _entry_link(item)
            title = html_to_text(item.get("title", ""))
            identity = (item.get("id") or "") or link or title
            if not link:
                label = item.get("id") or title or f"entry #{position + 1}"
                problems.append(
                    _problem(
                        fetch, position, "entry_no_link", f"entry {label!r} has no link", identity
                    )
                )
                continue
            entries.append(
                FeedEntry(
                    source=fetch.feed.source,
                    feed_url=fetch.feed.feed_url,
                    link=link.strip(),
                    guid=(item.get("id") or "").strip(),
                    title=title,
                    summary=html_to_text(item.get("summary", "")),
                    content=_content_html(item),
                    authors=_authors(item),
                    published_at=_to_datetime(dict.get(item, "published_parsed")),
                    updated_at=_to_datetime(dict.get(item, "updated_parsed")),
                    language=fetch.feed.language or feed_language,
                    country=fetch.feed.country,
                    source_tags=list(fetch.feed.tags),
                )
            )
        except Exception as exc:  # one bad entry is its own failure; the rest go on
            problems.append(
                _problem(
                    fetch,
                    position,
                    "entry_malformed",
                    f"malformed entry: {type(exc).__name__}: {exc}",
                    str(identity),
                )
            )
    return ParsedFeed(
        entries=entries,
        problems=problems,
        version=version,
        bozo_reason=bozo.__class__.__name__ if bozo is not None else "",
    )
