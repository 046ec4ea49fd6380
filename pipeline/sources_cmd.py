"""``marsad sources FILE [--discover]``: check a sources file; list what discovery finds.

Without ``--discover`` it validates the file and lists each outlet's feeds, sitemaps and
sites. With ``--discover`` it prints the sources file again as YAML with every ``site:``
replaced by the feeds and sitemaps found for it, ready to pin: from the feed state of
``--output`` when that holds a fresh discovery (what the last run used), else by
discovering now (politely: robots.txt first, one request per second per host).
"""

from __future__ import annotations

import argparse
import sys
from collections import OrderedDict

import yaml

from marsad.feeds.discovery import Discovery, cached_discovery, discover
from marsad.feeds.sources import load_sources
from marsad.fetch.crawl import PoliteFetcher, PolitenessConfig
from marsad.fetch.http import FetchConfig, HttpClient
from schemas.records import SourceFeed

_KEY = {"feed": "feeds", "sitemap": "sitemaps"}


def add_sources_parser(commands) -> None:
    parser = commands.add_parser(
        "sources",
        help="Check a sources file; with --discover, list the feeds and sitemaps of its sites.",
        description="Validate a sources file (.yaml or .opml) and list its outlets. With "
        "--discover, print it back as YAML with each `site:` replaced by the feeds and "
        "sitemaps discovered on that homepage, so they can be pinned.",
    )
    parser.add_argument("file", help="The sources file.")
    parser.add_argument(
        "--discover",
        action="store_true",
        help="Discover the feeds and sitemaps of `site:` outlets.",
    )
    parser.add_argument(
        "--output",
        help="Use the discovery cached in this output folder's feed state when still fresh.",
    )
    parser.add_argument(
        "--allow_host",
        "--allow-host",
        dest="allow_host",
        action="append",
        metavar="HOST[:PORT]",
        help="Allow this loopback or private host (as for `marsad run`); repeatable.",
    )
    parser.add_argument(
        "--allow_network",
        "--allow-network",
        dest="allow_network",
        action="append",
        metavar="CIDR",
        help="Allow addresses in this network (as for `marsad run`); repeatable.",
    )


def _cached_states(output: str | None) -> dict:
    if not output:
        return {}
    from transforms.feed_state import feed_state_path, read_feed_state

    return read_feed_state(feed_state_path(output))


def _discover_live(site: SourceFeed, fetcher: PoliteFetcher) -> Discovery:
    response = fetcher.fetch_one(site.feed_url, "text/html, */*;q=0.5")
    robots = fetcher.robots.rules_for(site.feed_url)
    return discover(
        site.feed_url,
        response.body,
        response.content_type,
        robots.sitemaps,
        fetch=lambda url: fetcher.fetch_one(url, "*/*"),
    )


def run_sources(args: argparse.Namespace) -> int:
    sources = load_sources(args.file)
    outlets: OrderedDict[str, dict] = OrderedDict()
    for source in sources:
        entry = outlets.setdefault(source.source, {"name": source.source})
        if source.language:
            entry.setdefault("language", source.language)
        if source.country:
            entry.setdefault("country", source.country)
        if source.kind == "site":
            entry["site"] = source.feed_url
        else:
            entry.setdefault(_KEY[source.kind], []).append(source.feed_url)
        if source.tags:
            entry.setdefault("tags", list(source.tags))
    if not args.discover:
        for entry in outlets.values():
            print(entry["name"])
            for key in ("feeds", "sitemaps"):
                for url in entry.get(key, []):
                    print(f"  {key[:-1]:8s} {url}")
            if "site" in entry:
                print(f"  site     {entry['site']}  (feeds and sitemaps discovered at run time)")
        return 0
    states = _cached_states(args.output)
    client = HttpClient(
        FetchConfig(
            allow_hosts=tuple(args.allow_host or ()),
            allow_networks=tuple(args.allow_network or ()),
        )
    )
    fetcher = PoliteFetcher(client, PolitenessConfig())
    notes = []
    try:
        for source in sources:
            if source.kind != "site":
                continue
            entry = outlets[source.source]
            found = cached_discovery(states.get(source.feed_url))
            origin = "cached in the feed state"
            if found is None:
                origin = "discovered now"
                try:
                    found = _discover_live(source, fetcher)
                except Exception as error:  # report and go on with the other sites
                    reason = getattr(error, "reason", error.__class__.__name__)
                    notes.append(f"# {source.source}: {source.feed_url} failed [{reason}]: {error}")
                    continue
            if not found.found:
                notes.append(f"# {source.source}: nothing found on {source.feed_url}")
                continue
            entry.pop("site", None)
            for url in found.feeds:
                entry.setdefault("feeds", []).append(url)
            for url in found.sitemaps:
                entry.setdefault("sitemaps", []).append(url)
            notes.append(f"# {source.source}: {origin} from {source.feed_url} ({found.checked_at})")
    finally:
        fetcher.close()
        client.close()
    print("# marsad sources --discover: pin these in your sources file")
    for note in notes:
        print(note)
    document = {"sources": [_ordered(entry) for entry in outlets.values()]}
    sys.stdout.write(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    return 0


def _ordered(entry: dict) -> dict:
    order = ("name", "language", "country", "feeds", "sitemaps", "site", "tags")
    return {key: entry[key] for key in order if key in entry}
