"""SSRF guard: refuse to connect to loopback, private, link-local, multicast or
reserved addresses unless the user named them.

Allowances are narrow on purpose: ``--allow_host HOST[:PORT]`` lets one host
name (or literal address) through, ``--allow_network CIDR`` one network. There is
no switch that turns the guard off. Link-local addresses and cloud metadata
endpoints (169.254.0.0/16, fe80::/10, fd00:ec2::254, ``metadata.google.internal``)
stay refused even inside a broad allowance such as ``10.0.0.0/8`` or ``::/0``: only
an allowance that names them exactly (the address, a network inside the
link-local range, or the metadata host name) lets them through.

The check runs inside the HTTP connection itself, after DNS resolution and on
the address actually connected to, so it covers every redirect hop, odd host
spellings (``127.1``, ``2130706433``, ``0x7f.1``) and names that resolve to
internal addresses — including DNS answers that change between a check and the
connection (rebinding). Only addresses that pass are dialled.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from marsad.errors import FetchError
from marsad.fetch.deadline import WATCHDOG

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


# Where cloud instance credentials live: never reached through a broad allowance.
_LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
_METADATA_ADDRESSES = frozenset({ipaddress.ip_address("fd00:ec2::254")})
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})


def _normal_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def is_sensitive(address: str) -> bool:
    """Link-local or a cloud metadata address: refused unless named exactly."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip in _METADATA_ADDRESSES or any(
        ip in net for net in _LINK_LOCAL if ip.version == net.version
    )


@dataclass(frozen=True)
class HostAllowance:
    """``--allow_host HOST[:PORT]``: a host name or literal address, optionally one port."""

    host: str
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> HostAllowance:
        text = text.strip()
        if not text:
            raise ValueError("empty --allow_host value")
        host, port = text, None
        if text.startswith("["):  # [v6]:port
            inside, _, rest = text[1:].partition("]")
            host = inside
            if rest.startswith(":") and rest[1:]:
                port = rest[1:]
        elif text.count(":") == 1:
            host, port = text.split(":")
        if port is not None and (not str(port).isdigit() or not 0 < int(port) < 65536):
            raise ValueError(f"--allow_host {text!r}: port must be 1-65535")
        if not host or "/" in host:
            raise ValueError(f"--allow_host {text!r}: expected HOST or HOST:PORT")
        return cls(_normal_host(host), int(port) if port is not None else None)

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if _normal_host(host) == self.host:
            return True
        literal, named = literal_host_address(host), literal_host_address(self.host)
        return literal is not None and literal == named


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError as exc:
        raise ValueError(f"--allow_network {text!r} is not a CIDR network: {exc}") from exc


def _names_sensitive(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    """True when ``network`` lies inside link-local space or is a metadata address itself."""
    if network.num_addresses == 1 and network.network_address in _METADATA_ADDRESSES:
        return True
    return any(
        network.version == ll.version and network.subnet_of(ll)  # type: ignore[arg-type]
        for ll in _LINK_LOCAL
    )


@dataclass(frozen=True)
class AddressGuard:
    """Which addresses connections may reach: public ones, plus what the user named.

    ``hosts`` (``--allow_host``) let a host's resolved addresses through; ``networks``
    (``--allow_network``) let addresses inside them through. Sensitive addresses
    (link-local, metadata) pass only an allowance naming them exactly.
    """

    hosts: tuple[HostAllowance, ...] = ()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    resolver: Resolver = system_resolver

    @classmethod
    def from_options(
        cls, hosts: tuple[str, ...] | list[str] = (), networks: tuple[str, ...] | list[str] = ()
    ) -> AddressGuard:
        return cls(
            hosts=tuple(HostAllowance.parse(h) for h in hosts),
            networks=tuple(parse_network(n) for n in networks),
        )

    def _verdict(self, host: str, port: int, address: str) -> str | None:
        """None when ``address`` (of ``host``) may be dialled, else why not."""
        name = _normal_host(host)
        host_allowed = any(allowance.matches(host, port) for allowance in self.hosts)
        sensitive = is_sensitive(address) or name in METADATA_HOSTS
        ip = ipaddress.ip_address(address.split("%")[0])
        in_network = [n for n in self.networks if ip.version == n.version and ip in n]
        if sensitive:
            named_host = host_allowed and (
                name in METADATA_HOSTS or literal_host_address(host) is not None
            )
            if named_host or any(_names_sensitive(n) for n in in_network):
                return None
            return "link_local/metadata (allowed only when named exactly)"
        if host_allowed or in_network:
            return None
        return classify_address(address)

    def allowed_addresses(self, host: str, port: int) -> list[str]:
        """Addresses of ``host`` that may be dialled; raises BlockedAddressError if none."""
        literal = literal_host_address(host)
        addresses = [literal] if literal else self.resolver(host, port)
        allowed, refused = [], []
        for address in addresses:
            reason = self._verdict(host, port, address)
            if reason:
                refused.append((address, reason))
            else:
                allowed.append(address)
        if not allowed:
            detail = ", ".join(f"{a} is {r}" for a, r in refused) or "no address"
            raise BlockedAddressError(
                f"refusing to fetch {host}: {detail}. Internal addresses are blocked by default; "
                "name the host with --allow_host HOST[:PORT] or its network with "
                "--allow_network CIDR to fetch it (demo, tests, intranet feeds).",
            )
        return allowed


class TruncatedHeadersError(http.client.HTTPException):
    """The header block ended (connection closed) before its closing blank line."""


class _LastLine:
    """Wraps the response stream while headers are read, remembering the last line."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.last = b"\r\n"

    def readline(self, limit: int = -1) -> bytes:
        line = self.raw.readline(limit)
        self.last = line
        return line

    def __getattr__(self, name: str):
        return getattr(self.raw, name)


class CheckedHeadersResponse(http.client.HTTPResponse):
    """http.client takes EOF inside the header block for its end; a cut-off header
    block (a server dying, or our deadline shutting the socket) must not read as a
    complete response."""

    def begin(self) -> None:
        if self.headers is not None:
            return
        raw = self.fp
        recorder = _LastLine(raw)
        self.fp = recorder
        try:
            super().begin()
        finally:
            if self.fp is recorder:
                self.fp = raw
        if recorder.last not in (b"\r\n", b"\n"):
            raise TruncatedHeadersError("connection closed inside the response header block")


class _GuardedConnectionMixin:
    guard: AddressGuard
    response_class = CheckedHeadersResponse

    def getresponse(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        # Waiting for the header block is where a drip-feeding server holds us; the
        # attempt's watchdog may shut this socket at the deadline (fetch/deadline.py).
        attempt = WATCHDOG.current()
        if attempt is not None:
            attempt.attach(self.sock)  # type: ignore[attr-defined]
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]

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
