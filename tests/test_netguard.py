"""SSRF guard: the classifier as a pure function, and refusal end to end on loopback only."""

import ipaddress

import pytest

from marsad.errors import FetchError
from marsad.fetch.http import FetchConfig, HttpClient
from marsad.fetch.netguard import AddressGuard, classify_address, literal_host_address
from tests.faultsite import FaultSite


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.1.2", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link_local"),
        ("fe80::1", "link_local"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("100.64.0.1", "shared_address_space"),
        ("240.0.0.1", "private"),  # reserved class E; ipaddress files it under private
        ("198.18.0.1", "private"),  # benchmarking range
        ("192.0.2.1", "private"),  # documentation range
    ],
)
def test_internal_addresses_are_classified(address, reason):
    assert classify_address(address) == reason


@pytest.mark.parametrize(
    "address", ["::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:7f00:1::", "64:ff9b::a9fe:a9fe"]
)
def test_embedded_ipv4_is_judged_by_what_it_carries(address):
    reason = classify_address(address)
    assert reason is not None and "embedded" in reason


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_addresses_pass(address):
    assert classify_address(address) is None


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("127.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("169.254.169.254", "169.254.169.254"),
        ("news.example.com", None),
    ],
)
def test_odd_host_spellings_are_read_as_libc_reads_them(spelling, address):
    assert literal_host_address(spelling) == address
    if address:
        assert classify_address(ipaddress.ip_address(address)) is not None


def _refused(client: HttpClient, url: str) -> FetchError:
    with pytest.raises(FetchError) as caught:
        client.fetch(url)
    return caught.value


def test_guard_refuses_loopback_in_every_spelling_and_no_request_arrives():
    with FaultSite("127.0.0.1") as site:
        fake_dns = {"news.example.com": ["127.0.0.1"]}
        guard = AddressGuard(resolver=lambda host, port: fake_dns.get(host) or ["127.0.0.1"])
        client = HttpClient(FetchConfig(max_attempts=1), guard=guard)
        port = site.port
        for host in (
            "127.0.0.1",
            "localhost",
            "127.1",
            "2130706433",
            "[::ffff:127.0.0.1]",
            "news.example.com",
        ):
            error = _refused(client, f"http://{host}:{port}/page/secret")
            assert error.reason == "blocked_address", host
            assert "--allow_host" in str(error)
        assert site.hits == [], "no request may reach the server"


def test_guard_checks_every_redirect_hop():
    with FaultSite("127.0.0.1") as internal, FaultSite("127.80.0.9") as redirector:
        # The redirector stands in for a public host: named by address, nothing else.
        guard = AddressGuard.from_options(hosts=["127.80.0.9"])
        client = HttpClient(FetchConfig(max_attempts=1), guard=guard)
        target = f"http://127.0.0.1:{internal.port}/page/secret"
        error = _refused(client, f"{redirector.base}/redirect-to?url={target}")
        assert error.reason == "blocked_address"
        assert redirector.paths() == [f"/redirect-to?url={target}"]
        assert internal.hits == []


def test_a_named_host_lets_loopback_through():
    with FaultSite("127.0.0.1") as site:
        client = HttpClient(FetchConfig(allow_hosts=(f"127.0.0.1:{site.port}",)))
        response = client.fetch(f"{site.base}/page/ok")
        assert response.status == 200 and len(site.hits) == 1
        other_port = HttpClient(FetchConfig(allow_hosts=(f"127.0.0.1:{site.port + 1}",)))
        assert _refused(other_port, f"{site.base}/page/ok").reason == "blocked_address"
        assert len(site.hits) == 1


def test_a_named_network_lets_its_addresses_through_only():
    guard = AddressGuard.from_options(networks=["127.77.0.0/24"])
    assert guard.allowed_addresses("127.77.0.5", 80) == ["127.77.0.5"]
    with pytest.raises(FetchError):
        guard.allowed_addresses("127.78.0.5", 80)


@pytest.mark.parametrize(
    ("hosts", "networks"),
    [
        ((), ("0.0.0.0/0", "::/0")),
        ((), ("169.0.0.0/8",)),
        (("metadata.internal.example",), ()),
        (("169.254.169.253",), ()),
    ],
)
def test_metadata_and_link_local_stay_refused_under_broad_allowances(hosts, networks):
    dns = {
        "metadata.google.internal": ["169.254.169.254"],
        "metadata.internal.example": ["169.254.169.254"],
    }
    guard = AddressGuard(
        hosts=AddressGuard.from_options(hosts=hosts).hosts,
        networks=AddressGuard.from_options(networks=networks).networks,
        resolver=lambda host, port: dns.get(host, ["8.8.8.8"]),
    )
    for host in (
        "169.254.169.254",
        "metadata.google.internal",
        "metadata.internal.example",
        "fd00:ec2::254",
        "fe80::1",
        "[::ffff:169.254.169.254]",
    ):
        with pytest.raises(FetchError) as caught:
            guard.allowed_addresses(host, 80)
        assert caught.value.reason == "blocked_address", host
    if "0.0.0.0/0" in networks:  # the broad allowance still works for what it names
        assert guard.allowed_addresses("10.1.2.3", 80) == ["10.1.2.3"]


@pytest.mark.parametrize(
    ("hosts", "networks", "host"),
    [
        (("169.254.169.254",), (), "169.254.169.254"),
        ((), ("169.254.169.254/32",), "169.254.169.254"),
        ((), ("169.254.0.0/16",), "169.254.1.1"),
        (("metadata.google.internal",), (), "metadata.google.internal"),
        ((), ("fd00:ec2::254/128",), "fd00:ec2::254"),
    ],
)
def test_link_local_and_metadata_pass_when_named_exactly(hosts, networks, host):
    guard = AddressGuard(
        hosts=AddressGuard.from_options(hosts=hosts).hosts,
        networks=AddressGuard.from_options(networks=networks).networks,
        resolver=lambda h, port: ["169.254.169.254"],
    )
    assert guard.allowed_addresses(host, 80)


def test_a_redirect_to_cloud_metadata_is_refused_without_dialling():
    with FaultSite("127.80.0.10") as redirector:
        client = HttpClient(FetchConfig(max_attempts=1, allow_networks=("127.0.0.0/8",)))
        target = "http://169.254.169.254/latest/meta-data/"
        error = _refused(client, f"{redirector.base}/redirect-to?url={target}")
        assert error.reason == "blocked_address"
        assert "169.254.169.254" in str(error)
