"""SSRF guard: refuse to connect to loopback, private, link-local, multicast or
reserved addresses unless explicitly allowed.

The check runs inside the HTTP connection itself, after DNS resolution and on
the address actually connected to, so it covers every redirect hop, odd host
spellings (``127.1``, ``2130706433``, ``0x7f.1``) and names that resolve to
internal addresses — including DNS answers that change between a check and the
connection (rebinding). Only addresses that pass are dialled.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from marsad.errors import FetchError

Resolver = Callable[[str, int], list[str]]

# 100.64.0.0/10 (carrier-grade NAT) is neither private nor global in ipaddress.
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def classify_address(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why ``address`` must not be fetched by default, or None when it is public.

    Embedded IPv4 addresses (IPv4-mapped, 6to4, Teredo, NAT64) are judged by the
    address they carry.
    """
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = classify_address(embedded)
            return f"{inner} (embedded in {ip.compressed})" if inner else None
        if ip.scope_id:
            return "link_local"
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link_local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("shared_address_space", ip in _SHARED if ip.version == 4 else False),
        ("private", ip.is_private),
        ("site_local", getattr(ip, "is_site_local", False)),
        ("reserved", ip.is_reserved),
    )
    for reason, hit in checks:
        if hit:
            return reason
    return None if ip.is_global else "reserved"


def literal_host_address(host: str) -> str | None:
    """The IP a host string denotes without DNS, accepting the spellings libc accepts.

    ``127.1``, ``2130706433``, ``0x7f000001`` and ``0177.0.0.1`` are all 127.0.0.1 to
    ``inet_aton`` (and so to most HTTP stacks); brackets around IPv6 are removed.
    """
    host = host.strip().strip("[]")
    try:
        return str(ipaddress.ip_address(host.split("%")[0]))
    except ValueError:
        pass
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


class BlockedAddressError(FetchError):
    reason = "blocked_address"


@dataclass(frozen=True)
class AddressGuard:
    """Which addresses connections may reach. ``allow_private`` turns the guard off."""

    allow_private: bool = False
    resolver: Resolver = system_resolver
    # Addresses treated as public even if internal (tests; a known intranet feed host).
    exempt: frozenset[str] = frozenset()

    def allowed_addresses(self, host: str, port: int) -> list[str]:
        """Addresses of ``host`` that may be dialled; raises BlockedAddressError if none."""
        literal = literal_host_address(host)
        addresses = [literal] if literal else self.resolver(host, port)
        if self.allow_private:
            return addresses
        allowed, refused = [], []
        for address in addresses:
            reason = None if address in self.exempt else classify_address(address)
            (refused if reason else allowed).append((address, reason))
        if not allowed:
            detail = ", ".join(f"{a} is {r}" for a, r in refused) or "no address"
            raise BlockedAddressError(
                f"refusing to fetch {host}: {detail}. Internal addresses are blocked by default; "
                "pass --allow-private-networks to fetch them (demo, tests, intranet feeds).",
            )
        return [address for address, _ in allowed]


class _GuardedConnectionMixin:
    guard: AddressGuard

    def _new_conn(self) -> socket.socket:  # type: ignore[override]
        host, port = self._dns_host, self.port  # type: ignore[attr-defined]
        try:
            addresses = self.guard.allowed_addresses(host, port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[attr-defined]
        last_error: OSError | None = None
        for address in addresses:
            try:
                sock = socket.create_connection(
                    (address, port),
                    self.timeout,  # type: ignore[attr-defined]
                    source_address=self.source_address,  # type: ignore[attr-defined]
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(
                    self,
                    f"Connection to {host} timed out (connect timeout={self.timeout})",  # type: ignore[attr-defined]
                ) from exc
            except OSError as exc:
                last_error = exc
                continue
            for option in self.socket_options or ():  # type: ignore[attr-defined]
                sock.setsockopt(*option)
            return sock
        raise NewConnectionError(self, f"Failed to establish a new connection: {last_error}")


def guarded_pool_classes(guard: AddressGuard) -> dict[str, type]:
    """urllib3 pool classes whose connections dial only addresses ``guard`` allows."""
    http_conn = type(
        "GuardedHTTPConnection", (_GuardedConnectionMixin, HTTPConnection), {"guard": guard}
    )
    https_conn = type(
        "GuardedHTTPSConnection", (_GuardedConnectionMixin, HTTPSConnection), {"guard": guard}
    )
    return {
        "http": type(
            "GuardedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}
        ),
        "https": type(
            "GuardedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}
        ),
    }
