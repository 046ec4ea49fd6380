"""Polite concurrent fetching: many hosts at once, few requests per host.

``PoliteFetcher.fetch_all`` takes (url, payload) pairs and yields
(payload, response-or-error) as each completes. Each host gets up to
``per_host`` lanes; a lane takes the host's next URL once the host's minimum
interval since the previous request start has passed (the larger of
``min_interval`` and the host's robots.txt Crawl-delay, capped at
``max_crawl_delay``). Lanes run on one bounded thread pool
(``max_concurrency``), so hosts proceed in parallel and no host ever sees more
than ``per_host`` requests in flight or requests closer than its interval.

Defaults — 2 requests in flight per host, 1 s between request starts, 32 in
flight overall — are what news sites tolerate from a well-behaved crawler.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from marsad.errors import FetchError, MarsadError
from marsad.feeds.urls import host_of
from marsad.fetch.http import HttpClient, HttpResponse
from marsad.fetch.robots import RobotsCache


@dataclass(frozen=True)
class PolitenessConfig:
    max_concurrency: int = 32
    per_host: int = 2
    min_interval: float = 1.0
    max_crawl_delay: float = 30.0
    respect_robots: bool = True


class HostGate:
    """Spaces request starts to one host by at least ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next_start = 0.0
        self._lock = threading.Lock()

    def widen(self, interval: float) -> None:
        """Raise the interval (e.g. to a robots.txt Crawl-delay), pushing the next turn too."""
        with self._lock:
            if interval > self.interval:
                self._next_start += interval - self.interval
                self.interval = interval

    def wait_turn(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + self.interval
        if start > now:
            time.sleep(start - now)


class PoliteFetcher:
    def __init__(self, client: HttpClient, config: PolitenessConfig | None = None) -> None:
        self.client = client
        self.config = config or PolitenessConfig()
        self.robots = RobotsCache(client, enabled=self.config.respect_robots)
        self._pool = ThreadPoolExecutor(
            max_workers=self.config.max_concurrency, thread_name_prefix="marsad-fetch"
        )
        self._gates: dict[str, HostGate] = {}
        self._gates_lock = threading.Lock()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _gate(self, host: str) -> HostGate:
        with self._gates_lock:
            gate = self._gates.get(host)
            if gate is None:
                gate = self._gates[host] = HostGate(self.config.min_interval)
            return gate

    def _rules(self, url: str, gate: HostGate):
        """robots.txt rules; its fetch waits for the host's turn like any request."""
        fresh = not self.robots.known(url)
        rules = self.robots.rules_for(url, before_fetch=gate.wait_turn)
        if fresh:
            delay = rules.crawl_delay(self.client.config.robots_agent)
            if delay is not None:
                gate.widen(min(delay, self.config.max_crawl_delay))
        return rules

    def fetch_one(
        self, url: str, accept: str, headers: dict[str, str] | None = None
    ) -> HttpResponse:
        """Fetch honouring robots.txt and the host's gate."""
        gate = self._gate(host_of(url))
        rules = self._rules(url, gate)
        if not rules.allows(url, self.client.config.robots_agent):
            if rules.status == "unavailable":
                raise FetchError(
                    f"not fetching {url}: {rules.reason}; will retry in a later run",
                    reason="robots_unavailable",
                )
            if rules.status == "refused":
                raise FetchError(f"not fetching {url}: {rules.reason}", reason=rules.failure_reason)
            raise FetchError(
                f"robots.txt of {host_of(url)} disallows {url} for our user agent",
                reason="robots_disallowed",
            )
        gate.wait_turn()
        return self.client.fetch(url, accept=accept, headers=headers)

    def fetch_all(
        self,
        requests: Iterable[tuple[str, Any, dict[str, str] | None]],
        accept: str,
    ) -> Iterator[tuple[Any, HttpResponse | MarsadError | Exception]]:
        """Fetch (url, payload, extra_headers) triples; yield (payload, result) as they finish.

        At most ``max_concurrency`` finished responses wait for the consumer: when it is
        slower than the network (extraction of pages served fast), lanes pause instead of
        holding every page of the batch in memory.
        """
        by_host: OrderedDict[str, deque] = OrderedDict()
        for url, payload, headers in requests:
            by_host.setdefault(host_of(url), deque()).append((url, payload, headers))
        if not by_host:
            return
        results: queue.Queue = queue.Queue(maxsize=self.config.max_concurrency)
        abandoned = threading.Event()
        lanes = 0
        for pending in by_host.values():
            lock = threading.Lock()
            for _ in range(min(self.config.per_host, len(pending))):
                self._pool.submit(self._lane, pending, lock, accept, results, abandoned)
                lanes += 1
        finished = 0
        try:
            while finished < lanes:
                item = results.get()
                if item is _LANE_DONE:
                    finished += 1
                else:
                    yield item
        finally:
            abandoned.set()  # a consumer that stops early must not leave lanes blocked

    def _lane(
        self,
        pending: deque,
        lock: threading.Lock,
        accept: str,
        results: queue.Queue,
        abandoned: threading.Event,
    ) -> None:
        def hand_over(item: Any) -> None:
            while not abandoned.is_set():
                try:
                    results.put(item, timeout=0.2)
                    return
                except queue.Full:
                    continue

        try:
            while not abandoned.is_set():
                with lock:
                    if not pending:
                        return
                    url, payload, headers = pending.popleft()
                try:
                    hand_over((payload, self.fetch_one(url, accept, headers)))
                except Exception as error:  # every URL gets an answer
                    hand_over((payload, error))
        finally:
            hand_over(_LANE_DONE)


_LANE_DONE = object()
