"""robots.txt per host (RFC 9309), fetched once per run and cached.

Parsing and matching are ``protego``'s (Scrapy's parser): groups, the most specific
user-agent group before ``*``, ``*`` and ``$`` wildcards, longest match with Allow winning
ties, percent-encoding, decimal ``Crawl-delay``, ``Sitemap:`` lines. marsad adds what the
RFC leaves to the crawler, where protego has no opinion:

- a 2xx robots.txt is obeyed; only its first ``ROBOTS_PARSE_LIMIT`` bytes are parsed
  (RFC 9309 §2.5: at least 500 KiB), cut at a line end;
- redirects are followed (``HttpClient``, up to ``--max_redirects``, 5 by default, as
  §2.3.1.2 asks) and the rules apply to the host first asked;
- 4xx means "unavailable": no rules, everything allowed (§2.3.1.3);
- 5xx, timeouts, connection and DNS errors, or a robots.txt too large to read, mean
  "unreachable": complete disallow (§2.3.1.4). The host is skipped for this run and its
  URLs fail with ``robots_unavailable``, which the next run retries;
- a robots.txt URL refused before any request (the address guard's ``blocked_address``,
  ``scheme_not_allowed``, ``invalid_url``) fails the host's URLs with that same reason,
  so the failure row says why, rather than pretending the server was down.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from protego import Protego

from marsad.errors import FetchError

ROBOTS_AGENT = "marsad"
ROBOTS_PARSE_LIMIT = 512 * 1024
# Failures of the robots.txt request that say nothing about the server: pass them on.
_REFUSED_BEFORE_ASKING = frozenset({"blocked_address", "scheme_not_allowed", "invalid_url"})


@dataclass
class RobotsRules:
    """What a host's robots.txt lets us do. ``status``: ``rules`` (obey ``parser``),
    ``allow_all`` (no robots.txt, or robots disabled), ``unavailable`` (unreachable:
    disallow all this run) or ``refused`` (our own guard refused the request)."""

    status: str
    parser: Protego | None = None
    reason: str = ""
    failure_reason: str = "robots_unavailable"
    sitemaps: list[str] = field(default_factory=list)

    def allows(self, url: str, agent: str = ROBOTS_AGENT) -> bool:
        if self.status == "allow_all":
            return True
        if self.status != "rules" or self.parser is None:
            return False
        return self.parser.can_fetch(url, agent)

    def crawl_delay(self, agent: str = ROBOTS_AGENT) -> float | None:
        """Crawl-delay (seconds, decimals allowed) of the group for ``agent``, else of ``*``."""
        if self.parser is None:
            return None
        return self.parser.crawl_delay(agent)


def parse_robots(text: str) -> RobotsRules:
    """Rules from robots.txt text (only its first ``ROBOTS_PARSE_LIMIT`` bytes count)."""
    text = _within_parse_limit(text)
    parser = Protego.parse(text)
    return RobotsRules(status="rules", parser=parser, sitemaps=list(parser.sitemaps))


def _within_parse_limit(text: str) -> str:
    data = text.encode("utf-8")
    if len(data) <= ROBOTS_PARSE_LIMIT:
        return text
    head = data[:ROBOTS_PARSE_LIMIT]
    # A rule cut in half could disallow less (or more) than written: drop the partial line.
    head = head[: head.rfind(b"\n") + 1] if b"\n" in head else b""
    return head.decode("utf-8", errors="ignore")


def decode_robots(body: bytes) -> str:
    """robots.txt is UTF-8 (RFC 9309 §2.3); a BOM is dropped, stray bytes replaced."""
    return body[:ROBOTS_PARSE_LIMIT].decode("utf-8-sig", errors="replace")


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
            if 400 <= status < 500 and status != 429:
                return RobotsRules(status="allow_all", reason=f"robots.txt answered {status}")
            if error.reason in _REFUSED_BEFORE_ASKING:
                return RobotsRules(
                    status="refused",
                    reason=f"robots.txt not requested: {error}",
                    failure_reason=error.reason,
                )
            return RobotsRules(
                status="unavailable", reason=f"robots.txt unreachable ({error.reason}): {error}"
            )
        return parse_robots(decode_robots(response.body))
