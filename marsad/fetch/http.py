"""HTTP fetching with the limits a crawler needs: timeouts, a size cap that also
holds after decompression, manual redirects with a hop limit, a scheme allow-list,
bounded retries with backoff for transient failures, and a User-Agent naming us.

``HttpClient`` is created once per worker (``DoFn.setup``) and reused; it is
thread-safe for concurrent ``fetch`` calls.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from marsad import __version__
from marsad.errors import FetchError
from marsad.fetch.deadline import WATCHDOG, Attempt
from marsad.fetch.netguard import AddressGuard, TruncatedHeadersError, guarded_pool_classes

USER_AGENT = f"marsad/{__version__} (+https://github.com/marsad-news/marsad; news research crawler)"
ALLOWED_SCHEMES = ("http", "https")
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class FetchConfig:
    """Limits for one fetch. Defaults suit news sites; all are CLI options."""

    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    max_attempts: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    user_agent: str = USER_AGENT
    robots_agent: str = "marsad"
    # --allow_host HOST[:PORT] and --allow_network CIDR: internal places the user named.
    allow_hosts: tuple[str, ...] = ()
    allow_networks: tuple[str, ...] = ()


@dataclass
class HttpResponse:
    url: str
    final_url: str
    status: int
    headers: dict[str, str]
    body: bytes
    attempts: int = 1
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def _retry_after_seconds(value: str | None, cap: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), cap)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, min((when - datetime.now(UTC)).total_seconds(), cap))


class _GuardedAdapter(requests.adapters.HTTPAdapter):
    def __init__(self, guard: AddressGuard, **kwargs) -> None:
        self._pool_classes = guarded_pool_classes(guard)
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pool_classes


class HttpClient:
    """``guard`` decides which addresses may be dialled (default: public ones plus
    ``config.allow_hosts``/``allow_networks``); tests inject a resolver through it."""

    def __init__(
        self, config: FetchConfig | None = None, guard: AddressGuard | None = None
    ) -> None:
        self.config = config or FetchConfig()
        self.guard = guard or AddressGuard.from_options(
            self.config.allow_hosts, self.config.allow_networks
        )
        self.session = requests.Session()
        # Proxies and .netrc from the environment would bypass the address guard.
        self.session.trust_env = False
        adapter = _GuardedAdapter(self.guard, pool_connections=64, pool_maxsize=64, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(
            {
                "User-Agent": self.config.user_agent,
                "Accept-Encoding": "gzip, deflate",
            }
        )

    def close(self) -> None:
        self.session.close()

    def fetch(
        self, url: str, accept: str = "*/*", headers: dict[str, str] | None = None
    ) -> HttpResponse:
        """GET ``url`` following redirects; raise ``FetchError`` with a reason code on failure."""
        attempts = 0
        while True:
            attempts += 1
            try:
                response = self._fetch_once(url, accept, headers or {})
            except FetchError as exc:
                # A spent total deadline is the server's pace, not a blip: retrying now
                # would hold the URL (and the run) for attempts x deadline. Later runs retry.
                retryable = exc.reason in ("timeout", "connection_error") and not getattr(
                    exc, "deadline_exceeded", False
                )
                if not retryable or attempts >= self.config.max_attempts:
                    exc.attempts = attempts
                    raise
                time.sleep(self._backoff(attempts))
                continue
            if response.status in _RETRY_STATUSES and attempts < self.config.max_attempts:
                wait = _retry_after_seconds(
                    response.headers.get("retry-after"), self.config.backoff_max
                )
                time.sleep(wait if wait is not None else self._backoff(attempts))
                continue
            response.attempts = attempts
            if response.status >= 400:
                raise FetchError(
                    f"HTTP {response.status} for {response.final_url}",
                    reason=f"http_{response.status}",
                    http_status=response.status,
                    attempts=attempts,
                )
            return response

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.config.backoff_max, self.config.backoff_base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    def _fetch_once(self, url: str, accept: str, headers: dict[str, str]) -> HttpResponse:
        current = url
        for _hop in range(self.config.max_redirects + 1):
            scheme = urlsplit(current).scheme.lower()
            if scheme not in ALLOWED_SCHEMES:
                raise FetchError(
                    f"refusing {scheme or 'schemeless'} URL {current}: only http/https",
                    reason="scheme_not_allowed",
                )
            raw = self._request(current, accept, headers)
            if raw.status in _REDIRECT_STATUSES and raw.headers.get("location"):
                current = urljoin(current, raw.headers["location"])
                continue
            return HttpResponse(
                url=url, final_url=current, status=raw.status, headers=raw.headers, body=raw.body
            )
        raise FetchError(
            f"more than {self.config.max_redirects} redirects starting at {url}",
            reason="too_many_redirects",
        )

    def _request(self, url: str, accept: str, headers: dict[str, str]) -> HttpResponse:
        """One request under a wall-clock deadline of ``total_timeout``, headers included."""
        with WATCHDOG.attempt(self.config.total_timeout) as attempt:
            try:
                return self._request_within(url, accept, headers, attempt)
            except FetchError:
                # Whatever broke after the watchdog fired was cut by it, not by the server.
                if attempt.expired:
                    raise self._deadline_error(url) from None
                raise

    def _deadline_error(self, url: str) -> FetchError:
        error = FetchError(
            f"{url} took longer than {self.config.total_timeout}s in all (--total_timeout)",
            reason="timeout",
        )
        error.deadline_exceeded = True  # type: ignore[attr-defined]
        return error

    def _request_within(
        self, url: str, accept: str, headers: dict[str, str], attempt: Attempt
    ) -> HttpResponse:
        remaining = max(0.001, attempt.remaining())
        try:
            response = self.session.get(
                url,
                headers={"Accept": accept, **headers},
                timeout=(
                    min(self.config.connect_timeout, remaining),
                    min(self.config.read_timeout, remaining),
                ),
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.Timeout as exc:
            raise FetchError(f"timed out fetching {url}", reason="timeout") from exc
        except requests.exceptions.InvalidURL as exc:
            raise FetchError(f"invalid URL {url}: {exc}", reason="invalid_url") from exc
        except requests.exceptions.RequestException as exc:
            if attempt.expired:
                raise self._deadline_error(url) from exc
            if _caused_by(exc, urllib3.exceptions.NameResolutionError):
                raise FetchError(f"cannot resolve the host of {url}", reason="dns_error") from exc
            if _caused_by(exc, TruncatedHeadersError):
                raise FetchError(
                    f"{url}: the connection closed inside the response headers",
                    reason="truncated_response",
                ) from exc
            raise FetchError(
                f"could not connect to {url}: {exc.__class__.__name__}", reason="connection_error"
            ) from exc
        try:
            body = self._read_capped(response, url)
        finally:
            response.close()
        if attempt.expired:
            raise self._deadline_error(url)
        lowered = {key.lower(): value for key, value in response.headers.items()}
        return HttpResponse(
            url=url, final_url=url, status=response.status_code, headers=lowered, body=body
        )

    def _read_capped(self, response: requests.Response, url: str) -> bytes:
        """Read the decompressed body, stopping at ``max_bytes`` (a gzip bomb stops here too)."""
        limit = self.config.max_bytes
        declared = response.headers.get("content-length")
        if (
            declared
            and declared.isdigit()
            and int(declared) > limit
            and "content-encoding" not in response.headers
        ):
            raise FetchError(
                f"{url} declares {int(declared)} bytes, over the {limit}-byte limit (--max_bytes)",
                reason="too_large",
                http_status=response.status_code,
            )
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in response.raw.stream(64 * 1024, decode_content=True):
                total += len(chunk)
                if total > limit:
                    raise FetchError(
                        f"{url} body exceeds the {limit}-byte limit (--max_bytes)",
                        reason="too_large",
                        http_status=response.status_code,
                    )
                chunks.append(chunk)
        except (urllib3.exceptions.ReadTimeoutError, requests.exceptions.Timeout) as exc:
            raise FetchError(f"timed out reading {url}", reason="timeout") from exc
        except urllib3.exceptions.ProtocolError as exc:
            raise FetchError(
                f"{url}: the connection broke before the body was complete "
                f"({exc.__class__.__name__})",
                reason="truncated_response",
                http_status=response.status_code,
            ) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise FetchError(
                f"connection broke while reading {url}: {exc.__class__.__name__}",
                reason="connection_error",
            ) from exc
        return b"".join(chunks)


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    seen = 0
    current: BaseException | None = error
    while current is not None and seen < 10:
        if isinstance(current, kind) or any(isinstance(a, kind) for a in current.args):
            return True
        nested = [a for a in current.args if isinstance(a, BaseException)]
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            nested.append(reason)
        if any(_caused_by(n, kind) for n in nested):
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False
