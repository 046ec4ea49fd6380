"""What a finished run amounts to: its exit code and one plain sentence about it.

A run "completes" even when no feed could be reached (every failure is a row), so
the verdict looks at the feeds: how many failed, at which hosts, and why. The
reasons are grouped per host (one host usually fails all its feeds the same way)
and turned into words with the likely fix, e.g.::

    no feed could be fetched: DNS lookups failed for all 32 hosts — is this machine online?

The failure rows are read back from this run's ``failures/`` files (through Beam's
FileSystems, so ``gs://`` outputs work), which carry the URL and message that
counters do not.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from urllib.parse import urlsplit

from pipeline.exits import ExitCode

FEED_STAGES = ("fetch_feeds", "parse_feeds")

# reason → (what happened, for "… for N hosts", what to do). The first part must
# read after "for all 32 hosts" / "for 3 hosts (a, b, c)".
_CAUSES: dict[str, tuple[str, str]] = {
    "dns_error": (
        "DNS lookups failed",
        "is this machine online? (check its DNS resolver and proxy settings)",
    ),
    "connection_error": (
        "connections failed",
        "is a firewall or proxy in the way, or are the sites down?",
    ),
    "timeout": (
        "requests timed out",
        "a slow or filtered network? Try again, or raise --connect_timeout / --read_timeout",
    ),
    "blocked_address": (
        "the host names resolve to private or loopback addresses, refused",
        "allow such hosts explicitly only if you run them (docs/fetching.md)",
    ),
    "robots_unavailable": (
        "robots.txt could not be fetched",
        "the sites may be down or blocking us; the next run retries",
    ),
    "robots_disallowed": (
        "robots.txt forbids fetching",
        "respect it, or ask the outlet; remove those feeds from the sources file",
    ),
    "too_many_redirects": ("redirects looped", "check the feed URLs in a browser"),
    "too_large": ("responses exceeded --max_bytes", "raise --max_bytes if the feeds are genuine"),
    "feed_malformed": (
        "the feeds could not be parsed",
        "check the feed URLs: the sites may have changed their feeds",
    ),
    "not_a_feed": (
        "the URLs did not return feeds",
        "check the feed URLs: they may now point at web pages",
    ),
    "unsupported_content_type": (
        "the URLs did not return feeds",
        "check the feed URLs: they may now point at web pages",
    ),
}
_HTTP_4XX = (
    "the feeds answered HTTP {status}",
    "the feed URLs may have moved; update the sources file",
)
_HTTP_5XX = ("the servers answered HTTP {status}", "the sites have trouble; the next run retries")
_FALLBACK = ("feeds failed with {reason}", "see docs/troubleshooting.md#{reason}")


def cause_of(reason: str, message: str) -> str:
    """The underlying reason: a robots.txt that was unreachable says why in its message."""
    if reason == "robots_unavailable":
        inner = re.search(r"robots\.txt unreachable \((\w+)\)", message or "")
        if inner and inner.group(1) in _CAUSES:
            return inner.group(1)
    return reason


def describe_cause(cause: str) -> tuple[str, str]:
    """(what happened, what to do) for a reason code."""
    if cause in _CAUSES:
        return _CAUSES[cause]
    status = re.fullmatch(r"http_(\d{3})", cause)
    if status:
        what, fix = _HTTP_5XX if status.group(1).startswith("5") else _HTTP_4XX
        return what.format(status=status.group(1)), fix
    return _FALLBACK[0].format(reason=cause), _FALLBACK[1].format(reason=cause)


def host_of(url: str) -> str:
    try:
        return urlsplit(url).hostname or url
    except ValueError:
        return url


@dataclass(frozen=True)
class FeedFailure:
    feed_url: str
    stage: str
    reason: str
    message: str


def hosts_by_cause(failures: list[FeedFailure]) -> dict[str, list[str]]:
    """cause → hosts, each host under the cause most of its feeds failed with."""
    per_host: dict[str, Counter] = defaultdict(Counter)
    for failure in failures:
        per_host[host_of(failure.feed_url)][cause_of(failure.reason, failure.message)] += 1
    grouped: dict[str, list[str]] = defaultdict(list)
    for host, causes in sorted(per_host.items()):
        grouped[causes.most_common(1)[0][0]].append(host)
    return dict(sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0])))


def _hosts(hosts: list[str], total_hosts: int, shown: int = 3) -> str:
    if len(hosts) == total_hosts and total_hosts > 1:
        return f"all {total_hosts} hosts"
    if len(hosts) == 1:
        return f"host {hosts[0]}"
    names = ", ".join(hosts[:shown]) + (", …" if len(hosts) > shown else "")
    return f"{len(hosts)} hosts ({names})"


def explain(failures: list[FeedFailure]) -> tuple[str, str]:
    """(why, what to do) in words, from the feed failures of a run."""
    grouped = hosts_by_cause(failures)
    total = sum(len(hosts) for hosts in grouped.values())
    parts = []
    for cause, hosts in list(grouped.items())[:3]:
        what, _ = describe_cause(cause)
        parts.append(f"{what} for {_hosts(hosts, total)}")
    if len(grouped) > 3:
        parts.append(f"other reasons for {sum(len(h) for h in list(grouped.values())[3:])} hosts")
    main_cause = next(iter(grouped), "")
    return "; ".join(parts), describe_cause(main_cause)[1] if main_cause else ""


def read_feed_failures(output: str, run_id: str) -> list[FeedFailure]:
    """Feed-level failure rows this run wrote (fetch failures, unparseable feeds)."""
    import pyarrow.parquet as pq
    from apache_beam.io.filesystems import FileSystems

    pattern = FileSystems.join(output, "failures", "*", f"part-{run_id}-*.parquet")
    found = []
    for match in FileSystems.match([pattern])[0].metadata_list:
        with FileSystems.open(match.path) as handle:
            table = pq.read_table(handle, columns=["stage", "reason", "message", "url", "feed_url"])
        for row in table.to_pylist():
            # An entry's failure at parse time has the entry's URL, not the feed's.
            feed_level = row["stage"] == "fetch_feeds" or (
                row["stage"] == "parse_feeds" and row["url"] == row["feed_url"]
            )
            if feed_level:
                found.append(
                    FeedFailure(
                        row["feed_url"] or row["url"] or "",
                        row["stage"],
                        row["reason"] or "",
                        row["message"] or "",
                    )
                )
    return found


def verdict(
    *,
    status: str,
    balanced: bool,
    feeds: int,
    failures: list[FeedFailure],
    max_failed_feeds: float,
    articles: int,
) -> dict:
    """The outcome of a run: ``code`` name, ``exit_code``, ``message`` and ``advice``."""
    failed = len({failure.feed_url for failure in failures})
    share = failed / feeds if feeds else 0.0
    why, advice = explain(failures) if failures else ("", "")
    base = {"feeds": feeds, "feeds_failed": failed, "max_failed_feeds": max_failed_feeds}
    if not status.endswith("DONE"):
        return {
            **base,
            "code": "failed",
            "exit_code": int(ExitCode.FAILED),
            "message": f"the pipeline did not finish (state {status})",
            "advice": "rerun with -v to see the error; nothing of this run was committed",
        }
    if not balanced:
        return {
            **base,
            "code": "failed",
            "exit_code": int(ExitCode.FAILED),
            "message": "the run completed but its accounting does not balance (a lost record)",
            "advice": "this is a bug in marsad; please report it with runs/<run_id>.json",
        }
    if feeds and failed >= feeds:
        return {
            **base,
            "code": "nothing_fetched",
            "exit_code": int(ExitCode.NOTHING_FETCHED),
            "message": f"no feed could be fetched: {why}",
            "advice": advice,
        }
    if share > max_failed_feeds:
        return {
            **base,
            "code": "too_many_failed",
            "exit_code": int(ExitCode.TOO_MANY_FAILED),
            "message": f"{failed} of {feeds} feeds failed ({share:.0%}, more than "
            f"--max_failed_feeds {max_failed_feeds:.0%}): {why}",
            "advice": advice,
        }
    message = (
        f"complete: {_plural(articles, 'new article row')} from {feeds - failed} of {feeds} feeds"
    )
    if failed:
        message += f"; {_plural(failed, 'feed')} failed: {why}"
    return {
        **base,
        "code": "complete",
        "exit_code": int(ExitCode.OK),
        "message": message,
        "advice": advice,
    }


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def sentence(outcome: dict) -> str:
    """The outcome as the one line the summary ends with."""
    advice = outcome.get("advice") or ""
    return outcome["message"] + (f" — {advice}" if advice else "")


def judge_run(manifest: dict, max_failed_feeds: float) -> dict:
    """The outcome of the run described by ``manifest`` (see ``verdict``)."""
    failures = read_feed_failures(manifest["output"], manifest["run_id"])
    return verdict(
        status=manifest["status"],
        balanced=bool(manifest["accounting"]["balanced"]),
        feeds=int(manifest["feeds"]),
        failures=failures,
        max_failed_feeds=max_failed_feeds,
        articles=int(manifest["counts"].get("write_articles.rows", 0)),
    )
