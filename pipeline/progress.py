"""The live progress line of a local run, drawn with ``rich`` on the terminal.

    ⠼ feeds 7/8 (1 failed) · entries 19 · articles 12/18 fetched, 11 extracted, 1 failed · 3.1/s · 0:00:06

Counts come from ``marsad.live_counts`` (every process of the local runner appends
its counted outcomes to a file; the display sums them), because Beam's metrics are
not readable before a local run ends. The display is on only for local runners,
when stderr is a terminal and without ``-q``; otherwise nothing is drawn and no
count is written.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from marsad.live_counts import ENV, LiveCountsReader

LOCAL_RUNNERS = {
    "",
    "FnApiRunner",
    "DirectRunner",
    "BundleBasedDirectRunner",
    "SwitchingDirectRunner",
    "PrismRunner",
}


def is_local(options) -> bool:
    from apache_beam.options.pipeline_options import StandardOptions

    runner = options.view_as(StandardOptions).runner
    name = runner if isinstance(runner, str) else type(runner).__name__ if runner else ""
    return name.rsplit(".", 1)[-1] in LOCAL_RUNNERS


def _sum(counts: Counter[str], prefix: str) -> int:
    return sum(value for name, value in counts.items() if name.startswith(prefix))


def progress_text(counts: Counter[str], total_feeds: int, elapsed_s: float) -> str:
    """The progress line for ``counts`` (``<stage>.<outcome>`` → n)."""
    # A feed fails at fetching, or as a whole at parsing (entry_* failures are entries').
    feeds_failed = (
        _sum(counts, "fetch_feeds.failed.")
        + _sum(counts, "parse_feeds.failed.")
        - _sum(counts, "parse_feeds.failed.entry_")
    )
    # Sitemap indexes and discovered feeds add fetches as the run goes: the total grows.
    started = counts["fetch_feeds.in"]
    finished = sum(
        value
        for name, value in counts.items()
        if name.startswith("fetch_feeds.") and name not in ("fetch_feeds.in", "fetch_feeds.ms")
    )
    feeds_done = min(finished, started)
    total_feeds = max(total_feeds, started)
    fetched = counts["fetch_articles.out"]
    failed = sum(
        _sum(counts, f"{stage}.failed.")
        for stage in ("canonicalize", "fetch_articles", "extract", "tag")
    )
    to_fetch = counts["dedup_urls.out"]
    rate = fetched / elapsed_s if elapsed_s > 0 else 0.0
    minutes, seconds = divmod(int(elapsed_s), 60)
    hours, minutes = divmod(minutes, 60)
    feeds = f"feeds {feeds_done}/{total_feeds}" + (
        f" ({feeds_failed} failed)" if feeds_failed else ""
    )
    articles = (
        f"articles {fetched}/{to_fetch} fetched" if to_fetch else f"articles {fetched} fetched"
    )
    return (
        f"{feeds} · entries {counts['parse_feeds.entries']} · {articles}, "
        f"{counts['extract.out']} extracted, {failed} failed · {rate:.1f}/s · "
        f"{hours}:{minutes:02d}:{seconds:02d}"
    )


class ProgressDisplay:
    """A ``rich.live.Live`` line redrawn from the live counts four times a second."""

    def __init__(self, folder: str, total_feeds: int, stream=None) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.spinner import Spinner

        self.reader = LiveCountsReader(folder)
        self.total_feeds = total_feeds
        self.started = time.monotonic()
        self.console = Console(file=stream or sys.stderr, highlight=False)
        self.spinner = Spinner("dots", text="starting…")
        self.live = Live(
            console=self.console,
            get_renderable=self._render,
            refresh_per_second=4,
            transient=False,
            redirect_stdout=True,
            redirect_stderr=True,
        )
        self._log_streams: list[tuple[logging.StreamHandler, object]] = []

    def _render(self):
        text = progress_text(self.reader.poll(), self.total_feeds, self.elapsed)
        self.spinner.update(text=text)
        return self.spinner

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def __enter__(self) -> ProgressDisplay:
        self.live.start()
        # Log lines (-v) go through the live console, above the progress line.
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream in (
                sys.__stderr__,
                self.console.file,
            ):
                self._log_streams.append((handler, handler.setStream(sys.stderr)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handler, stream in self._log_streams:
            handler.setStream(stream)  # type: ignore[arg-type]
        self.live.update(self._render(), refresh=True)  # the final counts stay on screen
        self.live.stop()


def wants_progress(options, quiet: bool, stream=None) -> bool:
    stream = stream or sys.stderr
    return not quiet and is_local(options) and hasattr(stream, "isatty") and stream.isatty()


@contextmanager
def live_progress(options, feeds, quiet: bool = False) -> Iterator[None]:
    """Show progress around a local run when a person is watching; else do nothing."""
    if not wants_progress(options, quiet):
        yield
        return
    folder = tempfile.mkdtemp(prefix="marsad-live-")
    previous = os.environ.get(ENV)
    os.environ[ENV] = folder  # inherited by the runner's worker processes
    try:
        with ProgressDisplay(folder, len(feeds)):
            yield
    finally:
        if previous is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = previous
        shutil.rmtree(folder, ignore_errors=True)
