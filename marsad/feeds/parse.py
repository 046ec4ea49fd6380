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

from marsad.errors import EntryError, FeedError
from marsad.fetch.encoding import recode_as_utf8
from marsad.text.htmltext import html_to_text
from schemas.records import FeedEntry, FeedFetch

# feedparser marks these as bozo but still parses them correctly.
_HARMLESS_BOZO = (
    feedparser.CharacterEncodingOverride,
    feedparser.NonXMLContentType,
)


@dataclass
class ParsedFeed:
    entries: list[FeedEntry]
    problems: list[tuple[EntryError, str]]  # (error, url or guid of the entry)
    version: str
    bozo_reason: str = ""


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
    base = document.get("home_page_url") or fetch.final_url
    feed_authors = [a.get("name", "") for a in document.get("authors", []) if isinstance(a, dict)]
    entries, problems = [], []
    for position, item in enumerate(document.get("items") or []):
        if not isinstance(item, dict):
            continue
        link = item.get("url") or item.get("external_url") or ""
        if not link and str(item.get("id", "")).startswith(("http://", "https://")):
            link = item["id"]
        if not link:
            problems.append(
                (
                    EntryError(
                        f"item {item.get('id') or position + 1!r} of {fetch.feed.feed_url} has no url",
                        reason="entry_no_link",
                    ),
                    f"{fetch.feed.feed_url}#entry-{position + 1}",
                )
            )
            continue
        authors = [a.get("name", "") for a in item.get("authors", []) if isinstance(a, dict)]
        entries.append(
            FeedEntry(
                source=fetch.feed.source,
                feed_url=fetch.feed.feed_url,
                link=urljoin(base, link),
                guid=str(item.get("id", "")),
                title=html_to_text(item.get("title", "")),
                summary=html_to_text(item.get("summary", "")),
                content=item.get("content_html") or html.escape(item.get("content_text", "")),
                authors=[a for a in authors or feed_authors if a],
                published_at=_iso_datetime(item.get("date_published")),
                updated_at=_iso_datetime(item.get("date_modified")),
                language=fetch.feed.language or str(document.get("language", ""))[:2],
                country=fetch.feed.country,
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
    problems: list[tuple[EntryError, str]] = []
    for position, item in enumerate(parsed.entries):
        link = _entry_link(item)
        title = html_to_text(item.get("title", ""))
        if not link:
            label = item.get("id") or title or f"entry #{position + 1}"
            problems.append(
                (
                    EntryError(
                        f"entry {label!r} of {fetch.feed.feed_url} has no link",
                        reason="entry_no_link",
                    ),
                    f"{fetch.feed.feed_url}#entry-{position + 1}",
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
            )
        )
    return ParsedFeed(
        entries=entries,
        problems=problems,
        version=version,
        bozo_reason=bozo.__class__.__name__ if bozo is not None else "",
    )
