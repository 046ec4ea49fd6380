"""robots.txt per host, fetched once per run and cached.

Conventions (RFC 9309, and what the large crawlers do): a 2xx robots.txt is
obeyed (Disallow/Allow, and Crawl-delay for our User-Agent token); 4xx means no
rules (allow all); 5xx, timeouts and connection errors mean "unreachable": the
host is not crawled in this run and its URLs fail with ``robots_unavailable``, so
the next run retries them instead of hammering a struggling server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from marsad.errors import FetchError

ROBOTS_AGENT = "marsad"


@dataclass
class RobotsRules:
    status: str  # "rules" | "allow_all" | "unavailable"
    parser: RobotFileParser | None = None
    reason: str = ""
    delays: dict[str, float] | None = None

    def allows(self, url: str, agent: str = ROBOTS_AGENT) -> bool:
        if self.status == "allow_all":
            return True
        if self.status == "unavailable" or self.parser is None:
            return False
        return self.parser.can_fetch(agent, url)

    def crawl_delay(self, agent: str = ROBOTS_AGENT) -> float | None:
        """Crawl-delay of the group for ``agent``, else of ``*``."""
        delays = self.delays or {}
        agent = agent.lower()
        for name, delay in delays.items():
            if name != "*" and name in agent:
                return delay
        return delays.get("*")


def _crawl_delays(text: str) -> dict[str, float]:
    """Crawl-delay per user-agent group. The stdlib parser accepts only integers; many
    sites write ``Crawl-delay: 0.5`` or ``2.5``."""
    delays: dict[str, float] = {}
    agents: list[str] = []
    in_rules = False
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        field, value = (part.strip() for part in line.split(":", 1))
        field = field.lower()
        if field == "user-agent":
            if in_rules:
                agents, in_rules = [], False
            agents.append(value.lower())
        elif field == "crawl-delay":
            in_rules = True
            try:
                delay = float(value)
            except ValueError:
                continue
            for agent in agents:
                delays[agent] = delay
        else:
            in_rules = True
    return delays


def parse_robots(text: str) -> RobotsRules:
    parser = RobotFileParser()
    parser.parse(text.splitlines())
    return RobotsRules(status="rules", parser=parser, delays=_crawl_delays(text))


def robots_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/robots.txt"


class RobotsCache:
    """Fetches each host's robots.txt once (thread-safe) with the given client."""

    def __init__(self, client, enabled: bool = True) -> None:
        self.client = client
        self.enabled = enabled
        self._rules: dict[str, RobotsRules] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def known(self, url: str) -> bool:
        return not self.enabled or robots_url(url) in self._rules

    def rules_for(self, url: str, before_fetch: Callable[[], None] | None = None) -> RobotsRules:
        """Rules for ``url``'s host; ``before_fetch`` runs just before a robots.txt request."""
        if not self.enabled:
            return RobotsRules(status="allow_all")
        key = robots_url(url)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._rules:
                if before_fetch is not None:
                    before_fetch()
                self._rules[key] = self._fetch(key)
            return self._rules[key]

    def _fetch(self, url: str) -> RobotsRules:
        try:
            response = self.client.fetch(url, accept="text/plain, */*;q=0.5")
        except FetchError as error:
            status = error.http_status or 0
            if 400 <= status < 500:
                return RobotsRules(status="allow_all", reason=f"robots.txt answered {status}")
            return RobotsRules(
                status="unavailable", reason=f"robots.txt unreachable ({error.reason}): {error}"
            )
        text = response.body.decode("utf-8", errors="replace")
        return parse_robots(text)
