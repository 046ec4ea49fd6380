"""A small hostile-site set-up for the crash and storage tests: a few good pages,
one permanent failure, one feed; runs take seconds."""

from __future__ import annotations

from pathlib import Path

from tests.hostile import site as hs
from tests.hostile.harness import write_sources

GOOD = [f"good-{n}" for n in range(6)]
OPTIONS = [
    "--allow_network",
    hs.NETWORK,
    "--min_interval",
    "0.01",
    "--per_host",
    "4",
    "--total_timeout",
    "5",
    "--entry_retry_backoff",
    "0",
]


def small_site(site: hs.HostileSite, root: Path, extra: list[str] = ()) -> Path:
    """Feed with the good pages, a 404 and ``extra`` page names; returns the sources file."""
    items = [
        {
            "title": name,
            "link": site.url("main", f"/page/{name}"),
            "guid": name,
            "pubDate": hs._date(-1),
        }
        for name in [*GOOD, *extra]
    ]
    items.append({"title": "gone", "link": site.url("main", "/gone"), "guid": "gone"})
    feed = site.add(
        "main", "/feeds/small.xml", hs.send(body=hs.rss(items), content_type="application/rss+xml")
    )
    return write_sources(root / "sources.yaml", {"small": [feed]})
