"""Load and validate the list of outlets and their sources (YAML or OPML).

An outlet lists at least one of:
- ``feeds:`` RSS, Atom or JSON Feed URLs;
- ``sitemaps:`` Google News sitemaps, sitemaps or sitemap indexes (``.xml`` or ``.xml.gz``);
- ``site:`` its homepage, whose feeds and sitemaps marsad discovers (``<link
  rel="alternate">``, robots.txt ``Sitemap:`` lines, common paths) and caches;
  ``marsad sources --discover FILE`` lists what was found, to pin it.

A malformed file fails here, before any fetch, with a message naming the entry
and the problem. The format follows the file extension: ``.yaml``/``.yml`` or
``.opml``/``.xml``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from urllib.parse import urlsplit

import yaml

from marsad.errors import SourcesError
from schemas.records import SourceFeed

_LANG_RE = re.compile(r"^[a-z]{2,3}$")
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
_ALLOWED_KEYS = {"name", "language", "country", "feeds", "sitemaps", "site", "tags"}


def _check_feed_url(url: object, where: str, what: str = "feed") -> str:
    if not isinstance(url, str) or not url.strip():
        raise SourcesError(f"{where}: {what} URL must be a non-empty string, got {url!r}")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SourcesError(f"{where}: {what} URL {url!r} is not an absolute http(s) URL")
    return url.strip()


def _url_list(entry: dict, key: str, where: str) -> list[object]:
    urls = entry.get(key)
    if urls is None:
        return []
    if isinstance(urls, str):
        return [urls]
    if not isinstance(urls, list):
        raise SourcesError(f"{where}: '{key}' must be a list of URLs")
    return urls


# A sources file lists a few hundred outlets; anything far larger is a mistake or an attack.
MAX_SOURCES_BYTES = 5 * 1024 * 1024


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases (``*name``): nested aliases expand exponentially
    (a 524-byte "billion laughs" took 48 s and 6 GB), and a sources file never needs them."""

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                f"YAML aliases (*{event.anchor}) are not allowed in a sources file; "
                "write each value out",
                event.start_mark,
            )
        return super().compose_node(parent, index)


def parse_yaml_sources(text: str, origin: str = "sources") -> list[SourceFeed]:
    try:
        document = yaml.load(text, Loader=_NoAliasLoader)
    except yaml.YAMLError as exc:
        raise SourcesError(f"{origin}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("sources"), list):
        raise SourcesError(f"{origin}: expected a mapping with a 'sources:' list at the top")
    feeds: list[SourceFeed] = []
    seen_names: set[str] = set()
    for index, entry in enumerate(document["sources"]):
        where = f"{origin}: sources[{index}]"
        if not isinstance(entry, dict):
            raise SourcesError(f"{where}: expected a mapping with name/feeds, got {entry!r}")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise SourcesError(f"{where}: 'name' is missing or empty")
        where = f"{origin}: sources[{index}] ({name})"
        unknown = set(entry) - _ALLOWED_KEYS
        if unknown:
            raise SourcesError(
                f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_ALLOWED_KEYS)}"
            )
        if name in seen_names:
            raise SourcesError(f"{where}: duplicate outlet name")
        seen_names.add(name)
        language = str(entry.get("language") or "").strip().lower()
        if language and not _LANG_RE.match(language):
            raise SourcesError(
                f"{where}: language {language!r} is not an ISO 639-1 (or 639-3) code"
            )
        country = str(entry.get("country") or "").strip().upper()
        if country and not _COUNTRY_RE.match(country):
            raise SourcesError(f"{where}: country {country!r} is not an ISO 3166-1 alpha-2 code")
        feed_urls = _url_list(entry, "feeds", where)
        sitemap_urls = _url_list(entry, "sitemaps", where)
        site = entry.get("site")
        if site is not None and not isinstance(site, str):
            raise SourcesError(f"{where}: 'site' must be one homepage URL")
        if not feed_urls and not sitemap_urls and not site:
            raise SourcesError(
                f"{where}: 'feeds', 'sitemaps' (lists of URLs) or 'site' (a homepage URL): "
                "list at least one"
            )
        tags = entry.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise SourcesError(f"{where}: 'tags' must be a list of strings")
        listed = [("feed", f"feeds[{n}]", url) for n, url in enumerate(feed_urls)]
        listed += [("sitemap", f"sitemaps[{n}]", url) for n, url in enumerate(sitemap_urls)]
        listed += [("site", "site", site)] if site else []
        for kind, key, url in listed:
            label = f"{where} {key}"
            feeds.append(
                SourceFeed(
                    source=name.strip(),
                    feed_url=_check_feed_url(url, label, kind),
                    language=language,
                    country=country,
                    tags=tuple(tags),
                    kind=kind,
                )
            )
    return _unique(feeds, origin)


def parse_opml_sources(text: str, origin: str = "sources") -> list[SourceFeed]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise SourcesError(f"{origin}: not valid OPML/XML: {exc}") from exc
    if root.tag != "opml":
        raise SourcesError(f"{origin}: root element is <{root.tag}>, expected <opml>")
    feeds: list[SourceFeed] = []
    for index, outline in enumerate(root.iter("outline")):
        url = outline.get("xmlUrl")
        if url is None:
            continue  # a folder outline
        name = (outline.get("title") or outline.get("text") or "").strip()
        where = f"{origin}: outline #{index + 1}" + (f" ({name})" if name else "")
        if not name:
            raise SourcesError(f"{where}: outline with xmlUrl has neither title nor text")
        language = (outline.get("language") or "").strip().lower()[:2]
        country = (outline.get("country") or "").strip().upper()
        # OPML 2.0: category="/iraqi,/tv" (comma-separated, slash-delimited paths).
        tags = [t.strip().strip("/") for t in (outline.get("category") or "").split(",")]
        feeds.append(
            SourceFeed(
                source=name,
                feed_url=_check_feed_url(url, where),
                language=language,
                country=country,
                tags=tuple(tag for tag in tags if tag),
            )
        )
    return _unique(feeds, origin)


def _unique(feeds: Iterable[SourceFeed], origin: str) -> list[SourceFeed]:
    result: list[SourceFeed] = []
    seen: dict[str, str] = {}
    for feed in feeds:
        if feed.feed_url in seen:
            raise SourcesError(
                f"{origin}: {feed.kind} {feed.feed_url} is listed twice "
                f"({seen[feed.feed_url]} and {feed.source})"
            )
        seen[feed.feed_url] = feed.source
        result.append(feed)
    if not result:
        raise SourcesError(f"{origin}: no feeds, sitemaps or sites declared")
    return result


def parse_sources(text: str, path: str) -> list[SourceFeed]:
    """Parse a sources document; the format follows the file extension of ``path``."""
    lowered = path.lower()
    if lowered.endswith((".yaml", ".yml")):
        return parse_yaml_sources(text, path)
    if lowered.endswith((".opml", ".xml")):
        return parse_opml_sources(text, path)
    raise SourcesError(f"{path}: unknown sources format; use .yaml, .yml or .opml")


def load_sources(path: str) -> list[SourceFeed]:
    """Read a sources file (any Beam filesystem path) and validate it."""
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(path) as handle:
            data = handle.read(MAX_SOURCES_BYTES + 1)
        if len(data) > MAX_SOURCES_BYTES:
            raise SourcesError(
                f"{path}: sources file is over {MAX_SOURCES_BYTES // (1024 * 1024)} MB; "
                "split it or check that it is the right file"
            )
        text = data.decode("utf-8-sig")
    except OSError as exc:
        raise SourcesError(f"{path}: cannot read sources file: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise SourcesError(f"{path}: sources file is not UTF-8: {exc}") from exc
    return parse_sources(text, path)
