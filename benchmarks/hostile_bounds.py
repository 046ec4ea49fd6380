"""Measured bounds against the hostile site (``make bench`` or run alone).

1. Seconds to give up on a server that drips its body (and, separately, its header
   block) one byte a second, at the default ``--total_timeout`` (60 s) and at 5 s.
2. Peak resident memory of a whole ``marsad run`` (a subprocess, ``os.wait4``) on a
   feed of one page: a normal article (the baseline), a 10 MiB page (just under the
   default ``--max_bytes``) and a 5 MB page that is one line of text — side by side,
   as ratios to the baseline.

    python benchmarks/hostile_bounds.py [--quick]    # --quick: skip the 60 s drips
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from marsad.errors import FetchError  # noqa: E402
from marsad.fetch.http import FetchConfig, HttpClient  # noqa: E402
from tests.hostile import site as hs  # noqa: E402
from tests.hostile.harness import Dataset, run_marsad, write_sources  # noqa: E402


def give_up_seconds(site: hs.HostileSite, path: str, total_timeout: float) -> tuple[float, str]:
    client = HttpClient(FetchConfig(total_timeout=total_timeout, allow_networks=(hs.NETWORK,)))
    started = time.monotonic()
    try:
        client.fetch(site.url("main", path))
        outcome = "fetched (!)"
    except FetchError as error:
        outcome = error.reason
    finally:
        client.close()
    return time.monotonic() - started, outcome


def page_memory(site: hs.HostileSite, root: Path, name: str) -> tuple[float, float, dict]:
    feed = site.add(
        "main",
        f"/feeds/{name}.xml",
        hs.send(
            body=hs.rss([{"title": name, "link": site.url("main", f"/p/{name}"), "guid": name}]),
            content_type="application/rss+xml",
        ),
    )
    sources = write_sources(root / f"{name}.yaml", {name: [feed]})
    output = root / f"out-{name}"
    result = run_marsad(output, sources, "--allow_network", hs.NETWORK, "--min_interval", "0")
    if result.returncode != 0:
        raise SystemExit(f"{name}: marsad run failed:\n{result.stderr[-2000:]}")
    rows = Dataset(output).articles
    detail = {
        "rows": len(rows),
        "text_chars": rows[0]["text_chars"] if rows else 0,
        "text_truncated": rows[0]["text_truncated"] if rows else None,
    }
    return result.max_rss_mb, result.wall_s, detail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 60 s default-deadline drips")
    args = parser.parse_args()
    print(f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with hs.HostileSite() as site, tempfile.TemporaryDirectory() as scratch:
        site.add("main", "/drip-body", hs.drip_body)
        site.add("main", "/drip-headers", hs.drip_headers)
        print("\n-- give up on a 1 byte/s drip")
        for total in [5.0] if args.quick else [5.0, 60.0]:
            for path in ("/drip-body", "/drip-headers"):
                seconds, outcome = give_up_seconds(site, path, total)
                print(
                    f"--total_timeout {total:4.0f}  {path:14s} gave up after {seconds:6.2f} s ({outcome})"
                )

        print("\n-- peak RSS of a whole run on one page")
        site.add("main", "/p/baseline", hs.send(body=hs.article_html("baseline")))
        site.add("main", "/p/page-10mib", hs.big_page(10 * 1024 * 1024 - 4096, one_line=False))
        site.add("main", "/p/line-5mb", hs.big_page(5 * 1000 * 1000, one_line=True))
        root = Path(scratch)
        baseline = None
        for name in ("baseline", "page-10mib", "line-5mb"):
            rss, wall, detail = page_memory(site, root, name)
            baseline = baseline or rss
            print(
                f"{name:11s} peak RSS {rss:7.0f} MB  ({rss / baseline:4.2f}x baseline, "
                f"+{rss - baseline:5.0f} MB)  wall {wall:5.1f} s  {detail}"
            )
    print(f"\nload average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
