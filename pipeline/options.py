"""marsad's pipeline options, declared once.

The same declarations feed Beam's ``PipelineOptions`` (so Dataflow and templates
see them) and the CLI's ``--help``. Defaults are documented in the help text.
"""

from __future__ import annotations

import argparse

from apache_beam.options.pipeline_options import PipelineOptions

from marsad.dedup.neardup import NearDupConfig
from marsad.errors import InputError, UsageError
from marsad.feeds.sitemaps import DEFAULT_WINDOW_DAYS, SitemapConfig
from marsad.fetch.crawl import PolitenessConfig
from marsad.fetch.http import FetchConfig
from marsad.fetch.ledger import LedgerConfig
from marsad.fetch.netguard import HostAllowance, parse_network
from marsad.text.extract import DEFAULT_MAX_TEXT_CHARS, DEFAULT_MIN_CHARS

_FETCH = FetchConfig()
_POLITE = PolitenessConfig()
_LEDGER = LedgerConfig()
DEFAULT_MAX_FAILED_FEEDS = 0.25


def add_marsad_arguments(parser: argparse.ArgumentParser | object) -> None:
    """Declare marsad's options on an argparse parser (or Beam's wrapper of one)."""
    add = parser.add_argument  # type: ignore[attr-defined]
    add(
        "--sources",
        help="Outlets to watch: a .yaml sources file (per outlet `feeds:` RSS/Atom/JSON Feed "
        "URLs, `sitemaps:` Google News sitemaps or sitemap indexes, and/or `site:` a homepage "
        "whose feeds and sitemaps are discovered; see `marsad sources --discover`) or an .opml "
        "subscription list.",
    )
    add(
        "--output",
        help="Output folder (local path or gs://...): articles/, failures/, runs/ and state.",
    )
    add("--run_id", default=None, help="Id of this run (default: UTC timestamp plus random).")
    add(
        "--connect_timeout",
        type=float,
        default=_FETCH.connect_timeout,
        help=f"Seconds to wait for a TCP/TLS connection (default {_FETCH.connect_timeout}).",
    )
    add(
        "--read_timeout",
        type=float,
        default=_FETCH.read_timeout,
        help=f"Seconds to wait between bytes of a response (default {_FETCH.read_timeout}).",
    )
    add(
        "--total_timeout",
        type=float,
        default=_FETCH.total_timeout,
        help=f"Seconds one response may take in all (default {_FETCH.total_timeout}).",
    )
    add(
        "--max_bytes",
        type=int,
        default=_FETCH.max_bytes,
        help=f"Largest response body accepted, after decompression (default {_FETCH.max_bytes}).",
    )
    add(
        "--max_redirects",
        type=int,
        default=_FETCH.max_redirects,
        help=f"Redirect hops followed per request (default {_FETCH.max_redirects}).",
    )
    add(
        "--max_attempts",
        type=int,
        default=_FETCH.max_attempts,
        help=f"Attempts per URL for timeouts, 429 and 5xx (default {_FETCH.max_attempts}).",
    )
    add(
        "--http_user_agent",
        default=_FETCH.user_agent,
        help="User-Agent header sent with every request (default names marsad and its version).",
    )
    add(
        "--max_concurrency",
        type=int,
        default=_POLITE.max_concurrency,
        help=f"Requests in flight per worker, all hosts together (default {_POLITE.max_concurrency}).",
    )
    add(
        "--per_host",
        type=int,
        default=_POLITE.per_host,
        help=f"Requests in flight to one host (default {_POLITE.per_host}).",
    )
    add(
        "--min_interval",
        type=float,
        default=_POLITE.min_interval,
        help="Seconds between the starts of two requests to one host; a longer robots.txt "
        f"Crawl-delay wins (default {_POLITE.min_interval}).",
    )
    add(
        "--max_crawl_delay",
        type=float,
        default=_POLITE.max_crawl_delay,
        help=f"Cap on a robots.txt Crawl-delay, in seconds (default {_POLITE.max_crawl_delay}).",
    )
    add(
        "--ignore_robots",
        action="store_true",
        default=False,
        help="Do not fetch or obey robots.txt. Only for sites you run yourself.",
    )
    add(
        "--allow_host",
        "--allow-host",
        dest="allow_host",
        action="append",
        default=None,
        metavar="HOST[:PORT]",
        help="Allow fetching this host (name or address, optionally one port) even though it "
        "is loopback or private; repeatable. Internal addresses are refused by default so a "
        "feed cannot steer the crawler into internal services.",
    )
    add(
        "--allow_network",
        "--allow-network",
        dest="allow_network",
        action="append",
        default=None,
        metavar="CIDR",
        help="Allow fetching addresses in this network (e.g. 10.20.0.0/16); repeatable. "
        "Link-local and cloud-metadata addresses (169.254.0.0/16, fd00:ec2::254) stay "
        "refused unless an allowance names them exactly.",
    )
    add(
        "--warc",
        action="store_true",
        default=False,
        help="Also archive every fetched response as WARC under OUTPUT/warc/<run_id>/.",
    )
    add(
        "--compact",
        action="store_true",
        default=False,
        help="After the run, merge the small files of the partitions it wrote (marsad compact; "
        "docs/storage.md). Local runs only: the driver does it under the run's lock.",
    )
    add(
        "--max_text_chars",
        type=int,
        default=DEFAULT_MAX_TEXT_CHARS,
        help="Longest article text stored, in characters; longer texts are cut there and "
        f"flagged text_truncated (default {DEFAULT_MAX_TEXT_CHARS}).",
    )
    add(
        "--entry_max_attempts",
        type=int,
        default=_LEDGER.max_attempts,
        help="Runs in which an entry that failed for a transient reason (timeout, 5xx, 429 ...) "
        f"is tried before it is recorded as given up (default {_LEDGER.max_attempts}).",
    )
    add(
        "--entry_retry_backoff",
        type=float,
        default=_LEDGER.backoff_s,
        help="Seconds before a transiently failed entry is tried again; doubles with each "
        f"failed run (default {_LEDGER.backoff_s:g}).",
    )
    add(
        "--sitemap_window_days",
        type=float,
        default=DEFAULT_WINDOW_DAYS,
        help="Sitemap entries (news:publication_date, else lastmod) older than this many days "
        f"are skipped, as are undated ones (default {DEFAULT_WINDOW_DAYS:g}: what Google News "
        "sitemaps list).",
    )
    add(
        "--min_chars",
        type=int,
        default=DEFAULT_MIN_CHARS,
        help="Extracted text shorter than this falls back to the feed's content "
        f"(default {DEFAULT_MIN_CHARS}).",
    )
    add(
        "--workers",
        type=int,
        default=None,
        help="Processes that extract, clean and tag articles beside the pipeline's own "
        "(1: all in one process). Default: one per core on a local runner, 1 on a remote "
        "runner or with --direct_running_mode=multi_processing (docs/performance.md).",
    )
    add_dedup_arguments(add)
    add(
        "--topic",
        default=None,
        help="Topic definition YAML (default: the bundled Iraq troop-withdrawal topic).",
    )
    add(
        "--topic_threshold",
        type=float,
        default=None,
        help="One relevance threshold for every language (default: the topic weights "
        "file's, one per language, chosen by cross-validation).",
    )
    add(
        "--max_failed_feeds",
        type=float,
        default=DEFAULT_MAX_FAILED_FEEDS,
        help="Share of feeds (0-1) that may fail before the run exits with code 5, 'too many "
        f"feeds failed' (default {DEFAULT_MAX_FAILED_FEEDS}); when every feed fails the exit "
        "code is 4 whatever this says.",
    )


# Allowed range of each numeric option: (low, high, low_inclusive). Checked before any
# fetch so a typo such as --connect_timeout 0 fails at once, naming the option.
_RANGES: dict[str, tuple[float, float | None, bool]] = {
    "connect_timeout": (0, None, False),
    "read_timeout": (0, None, False),
    "total_timeout": (0, None, False),
    "max_bytes": (1, None, True),
    "max_redirects": (0, None, True),
    "max_attempts": (1, None, True),
    "max_concurrency": (1, None, True),
    "per_host": (1, None, True),
    "min_interval": (0, None, True),
    "max_crawl_delay": (0, None, True),
    "min_chars": (0, None, True),
    "workers": (1, None, True),
    "dedup_threshold": (0, 1, False),
    "lookback_days": (0, None, True),
    "topic_threshold": (0, 1, True),
    "max_failed_feeds": (0, 1, True),
}


def check_option_ranges(options) -> None:
    """Raise ``UsageError`` naming the first option whose value is out of its range."""
    for name, (low, high, low_inclusive) in _RANGES.items():
        value = getattr(options, name, None)
        if value is None:
            continue
        too_low = value < low if low_inclusive else value <= low
        if too_low or (high is not None and value > high):
            bound = f"{'at least' if low_inclusive else 'more than'} {low}"
            if high is not None:
                bound = f"in {'[' if low_inclusive else '('}{low}, {high}]"
            raise UsageError(
                f"--{name} must be {bound}, got {value}",
                reason="option_invalid",
                hint="`marsad run --help` gives each option's meaning and default",
            )


def add_dedup_arguments(add) -> None:
    """Near-duplicate options, shared by ``marsad run``/``stream`` and ``marsad dedup``."""
    defaults = NearDupConfig()
    add(
        "--dedup_threshold",
        type=float,
        default=defaults.threshold,
        help="Jaccard similarity of 5-word shingle sets at or above which two articles are "
        f"copies of one story (default {defaults.threshold}; see docs/dedup.md).",
    )
    add(
        "--lookback_days",
        type=int,
        default=defaults.lookback_days,
        help="Days of earlier partitions whose texts take part in near-duplicate clustering "
        f"(default {defaults.lookback_days}; older rows still match by exact content hash).",
    )
    add(
        "--drop_duplicates",
        action="store_true",
        default=False,
        help="Leave rows flagged is_duplicate out of the output (counted as dedup_near.dropped).",
    )
    add(
        "--keep_boilerplate",
        action="store_true",
        default=False,
        help="Do not strip repeated paragraphs and outlet boilerplate from article texts.",
    )


def dedup_config(options) -> NearDupConfig:
    if not 0.0 < options.dedup_threshold <= 1.0:
        raise InputError(f"--dedup_threshold must be in (0, 1], got {options.dedup_threshold}")
    if options.lookback_days < 0:
        raise InputError(f"--lookback_days must be 0 or more, got {options.lookback_days}")
    return NearDupConfig(
        threshold=options.dedup_threshold,
        lookback_days=options.lookback_days,
        drop_duplicates=options.drop_duplicates,
        strip_boilerplate=not options.keep_boilerplate,
    )


class MarsadOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        add_marsad_arguments(parser)


def worker_count(options: PipelineOptions) -> int:
    """``--workers``, or its default: every core for a local runner in one process."""
    from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

    from marsad.workers import available_cores

    chosen = options.view_as(MarsadOptions).workers
    if chosen is not None:
        return chosen
    runner = options.view_as(StandardOptions).runner
    name = runner if isinstance(runner, str) else type(runner).__name__ if runner else ""
    local = name.rsplit(".", 1)[-1] in ("", "FnApiRunner", "DirectRunner", "SwitchingDirectRunner")
    in_one_process = options.view_as(DirectOptions).direct_running_mode != "multi_processing"
    return available_cores() if local and in_one_process else 1


def politeness_config(options: MarsadOptions) -> PolitenessConfig:
    return PolitenessConfig(
        max_concurrency=options.max_concurrency,
        per_host=options.per_host,
        min_interval=options.min_interval,
        max_crawl_delay=options.max_crawl_delay,
        respect_robots=not options.ignore_robots,
    )


def sitemap_config(options: MarsadOptions) -> SitemapConfig:
    if options.sitemap_window_days <= 0:
        raise InputError(
            f"--sitemap_window_days must be more than 0, got {options.sitemap_window_days}"
        )
    return SitemapConfig(
        window_days=options.sitemap_window_days,
        max_bytes=min(SitemapConfig().max_bytes, options.max_bytes),
    )


def fetch_config(options: MarsadOptions) -> FetchConfig:
    hosts = tuple(options.allow_host or ())
    networks = tuple(options.allow_network or ())
    try:
        for host in hosts:
            HostAllowance.parse(host)
        for network in networks:
            parse_network(network)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    if options.total_timeout <= 0:
        raise InputError(f"--total_timeout must be positive, got {options.total_timeout}")
    return FetchConfig(
        connect_timeout=options.connect_timeout,
        read_timeout=options.read_timeout,
        total_timeout=options.total_timeout,
        allow_hosts=hosts,
        allow_networks=networks,
        max_bytes=options.max_bytes,
        max_redirects=options.max_redirects,
        max_attempts=options.max_attempts,
        user_agent=options.http_user_agent,
    )


def ledger_config(options: MarsadOptions) -> LedgerConfig:
    if options.entry_max_attempts < 1:
        raise InputError(
            f"--entry_max_attempts must be 1 or more, got {options.entry_max_attempts}"
        )
    if options.entry_retry_backoff < 0:
        raise InputError(
            f"--entry_retry_backoff must be 0 or more, got {options.entry_retry_backoff}"
        )
    return LedgerConfig(
        max_attempts=options.entry_max_attempts, backoff_s=options.entry_retry_backoff
    )


def max_text_chars(options: MarsadOptions) -> int:
    if options.max_text_chars < 1:
        raise InputError(f"--max_text_chars must be 1 or more, got {options.max_text_chars}")
    return options.max_text_chars
