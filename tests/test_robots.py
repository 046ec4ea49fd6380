"""robots.txt by RFC 9309: the RFC's own examples, Google's published test cases, and the
fetch conventions (status codes, redirects, size limit, refused addresses) against real
loopback servers.

Sources of the cases (transcribed as data, with their expected answers):
- RFC 9309 §5.1 "Simple Example", §5.2 "Longest Match", §2.2.2 percent-encoding table,
  §2.2.3 special characters (as published in google/robotstxt protocol-draft/rfc9309.xml).
- google/robotstxt ``robots_test.cc`` (Apache-2.0, commit 21fc90b3): the ``ID_*`` tests,
  which check the protocol, and ``GoogleOnly_DocumentationChecks``, the examples of
  Google's robots.txt documentation. Google-only leniencies (``index.html`` as directory,
  lines over 16 KB) are Googlebot's choices, not the protocol's, and are not claimed.
"""

from __future__ import annotations

import pytest

from marsad.errors import FetchError
from marsad.fetch.crawl import PoliteFetcher, PolitenessConfig
from marsad.fetch.http import FetchConfig, HttpClient
from marsad.fetch.robots import ROBOTS_PARSE_LIMIT, parse_robots
from tests.routesite import Reply, RouteSite

RFC_SIMPLE = """User-Agent: *
Disallow: *.gif$
Disallow: /example/
Allow: /publications/

User-Agent: foobot
Disallow:/
Allow:/example/page.html
Allow:/example/allowed.gif

User-Agent: barbot
User-Agent: bazbot
Disallow: /example/page.html

User-Agent: quxbot

EOF
"""


@pytest.mark.parametrize(
    ("agent", "path", "allowed"),
    [
        ("somebot", "/publications/report.html", True),
        ("somebot", "/example/anything", False),
        ("somebot", "/images/photo.gif", False),
        ("somebot", "/images/photo.gif?x=1", True),
        ("somebot", "/other", True),
        ("foobot", "/example/page.html", True),
        ("foobot", "/example/allowed.gif", True),
        ("foobot", "/example/other.html", False),
        ("foobot", "/publications/", False),
        ("barbot", "/example/page.html", False),
        ("bazbot", "/example/page.html", False),
        ("barbot", "/example/other.gif", True),
        ("quxbot", "/example/page.html", True),
    ],
)
def test_rfc9309_simple_example(agent, path, allowed):
    assert parse_robots(RFC_SIMPLE).allows(f"https://example.com{path}", agent) is allowed


def test_rfc9309_longest_match():
    rules = parse_robots(
        "User-Agent: foobot\nAllow: /example/page/\nDisallow: /example/page/disallowed.gif\n"
    )
    assert not rules.allows("https://example.com/example/page/disallowed.gif", "foobot")
    assert rules.allows("https://example.com/example/page/other.gif", "foobot")


def test_rfc9309_special_characters_and_percent_encoding():
    rules = parse_robots(
        "User-agent: *\nDisallow: /\nAllow: / # comment in line\n"
        "User-agent: foobot\nDisallow: /\nAllow: /this/path/exactly$\nAllow: /that/*/exactly\n"
        "Allow: /foo/bar/ツ\nAllow: /path/file-with-a-%2A.html\n"
    )
    assert rules.allows("https://example.com/anything", "otherbot")
    assert rules.allows("https://example.com/this/path/exactly", "foobot")
    assert not rules.allows("https://example.com/this/path/exactly/not", "foobot")
    assert rules.allows("https://example.com/that/some/thing/exactly", "foobot")
    assert not rules.allows("https://example.com/that/exactly", "foobot")
    assert rules.allows("https://example.com/foo/bar/%E3%83%84", "foobot")
    assert rules.allows("https://example.com/path/file-with-a-*.html", "foobot")


# (robots.txt, user agent, URL, allowed) from google/robotstxt robots_test.cc.
GOOGLE_CASES = [
    # ID_LineSyntax_Line
    ("user-agent: FooBot\ndisallow: /\n", "FooBot", "http://foo.bar/x/y", False),
    ("foo: FooBot\nbar: /\n", "FooBot", "http://foo.bar/x/y", True),
    # ID_LineSyntax_Groups
    *[
        (
            "allow: /foo/bar/\n\nuser-agent: FooBot\ndisallow: /\nallow: /x/\nuser-agent: BarBot\n"
            "disallow: /\nallow: /y/\n\n\nallow: /w/\nuser-agent: BazBot\n\nuser-agent: FooBot\n"
            "allow: /z/\ndisallow: /\n",
            agent,
            url,
            allowed,
        )
        for agent, url, allowed in [
            ("FooBot", "http://foo.bar/x/b", True),
            ("FooBot", "http://foo.bar/z/d", True),
            ("FooBot", "http://foo.bar/y/c", False),
            ("BarBot", "http://foo.bar/y/c", True),
            ("BarBot", "http://foo.bar/w/a", True),
            ("BarBot", "http://foo.bar/z/d", False),
            ("BazBot", "http://foo.bar/z/d", True),
            ("FooBot", "http://foo.bar/foo/bar/", False),
            ("BarBot", "http://foo.bar/foo/bar/", False),
            ("BazBot", "http://foo.bar/foo/bar/", False),
        ]
    ],
    # ID_REPLineNamesCaseInsensitive, ID_UserAgentValueCaseInsensitive
    ("USER-AGENT: FooBot\nALLOW: /x/\nDISALLOW: /\n", "FooBot", "http://foo.bar/x/y", True),
    ("uSeR-aGeNt: FooBot\nAlLoW: /x/\ndIsAlLoW: /\n", "FooBot", "http://foo.bar/a/b", False),
    # (Google's own versions use "FOO BAR", read up to the first space: a Googlebot
    # leniency; RFC 9309 product tokens have no spaces.)
    ("User-Agent: FOOBOT\nAllow: /x/\nDisallow: /\n", "foobot", "http://foo.bar/x/y", True),
    ("User-Agent: foobot\nAllow: /x/\nDisallow: /\n", "FooBot", "http://foo.bar/a/b", False),
    # ID_GlobalGroups_Secondary
    ("", "FooBot", "http://foo.bar/x/y", True),
    ("user-agent: *\nallow: /\nuser-agent: FooBot\ndisallow: /\n", "FooBot", "http://foo.bar/x/y", False),
    ("user-agent: *\nallow: /\nuser-agent: FooBot\ndisallow: /\n", "BarBot", "http://foo.bar/x/y", True),
    ("user-agent: FooBot\nallow: /\nuser-agent: BarBot\ndisallow: /\n", "QuxBot", "http://foo.bar/x/y", True),
    # ID_AllowDisallow_Value_CaseSensitive
    ("user-agent: FooBot\ndisallow: /x/\n", "FooBot", "http://foo.bar/x/y", False),
    ("user-agent: FooBot\ndisallow: /X/\n", "FooBot", "http://foo.bar/x/y", True),
    # ID_LongestMatch
    ("user-agent: FooBot\ndisallow: /x/page.html\nallow: /x/\n", "FooBot", "http://foo.bar/x/page.html", False),
    ("user-agent: FooBot\nallow: /x/page.html\ndisallow: /x/\n", "FooBot", "http://foo.bar/x/page.html", True),
    ("user-agent: FooBot\nallow: /x/page.html\ndisallow: /x/\n", "FooBot", "http://foo.bar/x/", False),
    ("user-agent: FooBot\ndisallow: \nallow: \n", "FooBot", "http://foo.bar/x/page.html", True),
    ("user-agent: FooBot\ndisallow: /\nallow: /\n", "FooBot", "http://foo.bar/x/page.html", True),
    ("user-agent: FooBot\ndisallow: /x\nallow: /x/\n", "FooBot", "http://foo.bar/x", False),
    ("user-agent: FooBot\ndisallow: /x\nallow: /x/\n", "FooBot", "http://foo.bar/x/", True),
    ("user-agent: FooBot\ndisallow: /x/page.html\nallow: /x/page.html\n", "FooBot", "http://foo.bar/x/page.html", True),
    ("user-agent: FooBot\nallow: /page\ndisallow: /*.html\n", "FooBot", "http://foo.bar/page.html", False),
    ("user-agent: FooBot\nallow: /page\ndisallow: /*.html\n", "FooBot", "http://foo.bar/page", True),
    ("user-agent: FooBot\nallow: /x/page.\ndisallow: /*.html\n", "FooBot", "http://foo.bar/x/page.html", True),
    ("user-agent: FooBot\nallow: /x/page.\ndisallow: /*.html\n", "FooBot", "http://foo.bar/x/y.html", False),
    ("User-agent: *\nDisallow: /x/\nUser-agent: FooBot\nDisallow: /y/\n", "FooBot", "http://foo.bar/x/page", True),
    ("User-agent: *\nDisallow: /x/\nUser-agent: FooBot\nDisallow: /y/\n", "FooBot", "http://foo.bar/y/page", False),
    # ID_Encoding
    (
        "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar?qux=taz&baz=http://foo.bar?tar&par\n",
        "FooBot",
        "http://foo.bar/foo/bar?qux=taz&baz=http://foo.bar?tar&par",
        True,
    ),
    ("User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/ツ\n", "FooBot", "http://foo.bar/foo/bar/%E3%83%84", True),
    ("User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/%E3%83%84\n", "FooBot", "http://foo.bar/foo/bar/%E3%83%84", True),
    # ID_SpecialCharacters
    ("User-agent: FooBot\nDisallow: /foo/bar/quz\nAllow: /foo/*/qux\n", "FooBot", "http://foo.bar/foo/bar/quz", False),
    ("User-agent: FooBot\nDisallow: /foo/bar/quz\nAllow: /foo/*/qux\n", "FooBot", "http://foo.bar/foo/quz", True),
    ("User-agent: FooBot\nDisallow: /foo/bar/quz\nAllow: /foo/*/qux\n", "FooBot", "http://foo.bar/foo//quz", True),
    ("User-agent: FooBot\nDisallow: /foo/bar/quz\nAllow: /foo/*/qux\n", "FooBot", "http://foo.bar/foo/bax/quz", True),
    ("User-agent: FooBot\nDisallow: /foo/bar$\nAllow: /foo/bar/qux\n", "FooBot", "http://foo.bar/foo/bar", False),
    ("User-agent: FooBot\nDisallow: /foo/bar$\nAllow: /foo/bar/qux\n", "FooBot", "http://foo.bar/foo/bar/qux", True),
    ("User-agent: FooBot\nDisallow: /foo/bar$\nAllow: /foo/bar/qux\n", "FooBot", "http://foo.bar/foo/bar/", True),
    ("User-agent: FooBot\nDisallow: /foo/bar$\nAllow: /foo/bar/qux\n", "FooBot", "http://foo.bar/foo/bar/baz", True),
    ("User-agent: FooBot\n# Disallow: /\nDisallow: /foo/quz#qux\nAllow: /\n", "FooBot", "http://foo.bar/foo/bar", True),
    ("User-agent: FooBot\n# Disallow: /\nDisallow: /foo/quz#qux\nAllow: /\n", "FooBot", "http://foo.bar/foo/quz", False),
    # Line endings: CR LF, CR alone, no final newline (ID_LinesNumbersAreCountedCorrectly)
    ("User-Agent: foo\r\nAllow: /some/path\r\nUser-Agent: bar\r\n\r\n\r\nDisallow: /\r\n", "bar", "http://foo.bar/x", False),
    ("User-Agent: foo\rAllow: /some/path\rUser-Agent: bar\r\r\rDisallow: /\r", "bar", "http://foo.bar/x", False),
    ("User-Agent: foo\nAllow: /some/path\nUser-Agent: bar\n\n\nDisallow: /", "bar", "http://foo.bar/x", False),
]  # fmt: skip

_FISH = "user-agent: FooBot\ndisallow: /\nallow: {pattern}\n"
# GoogleOnly_DocumentationChecks: pattern → (allowed paths, disallowed paths).
GOOGLE_DOCUMENTATION = {
    "/fish": (
        ["/fish", "/fish.html", "/fish/salmon.html", "/fishheads", "/fishheads/yummy.html",
         "/fish.html?id=anything"],
        ["/bar", "/Fish.asp", "/catfish", "/?id=fish"],
    ),
    "/fish*": (
        ["/fish", "/fish.html", "/fish/salmon.html", "/fishheads", "/fishheads/yummy.html",
         "/fish.html?id=anything"],
        ["/bar", "/Fish.bar", "/catfish", "/?id=fish"],
    ),
    "/fish/": (
        ["/fish/", "/fish/salmon", "/fish/?salmon", "/fish/salmon.html", "/fish/?id=anything"],
        ["/bar", "/fish", "/fish.html", "/Fish/Salmon.html"],
    ),
    "/*.php": (
        ["/filename.php", "/folder/filename.php", "/folder/filename.php?parameters",
         "//folder/any.php.file.html", "/filename.php/", "/index?f=filename.php/"],
        ["/bar", "/php/", "/index?php", "/windows.PHP"],
    ),
    "/*.php$": (
        ["/filename.php", "/folder/filename.php"],
        ["/bar", "/filename.php?parameters", "/filename.php/", "/filename.php5", "/php/",
         "/filename?php", "/aaaphpaaa", "//windows.PHP"],
    ),
    "/fish*.php": (
        ["/fish.php", "/fishheads/catfish.php?parameters"],
        ["/bar", "/Fish.PHP"],
    ),
}  # fmt: skip
GOOGLE_PRECEDENCE = [
    ("user-agent: FooBot\nallow: /p\ndisallow: /\n", "http://example.com/page", True),
    ("user-agent: FooBot\nallow: /folder\ndisallow: /folder\n", "http://example.com/folder/page", True),
    ("user-agent: FooBot\nallow: /page\ndisallow: /*.htm\n", "http://example.com/page.htm", False),
    ("user-agent: FooBot\nallow: /$\ndisallow: /\n", "http://example.com/", True),
    ("user-agent: FooBot\nallow: /$\ndisallow: /\n", "http://example.com/page.html", False),
]  # fmt: skip


@pytest.mark.parametrize(("robots", "agent", "url", "allowed"), GOOGLE_CASES)
def test_google_robotstxt_protocol_cases(robots, agent, url, allowed):
    assert parse_robots(robots).allows(url, agent) is allowed


@pytest.mark.parametrize("pattern", sorted(GOOGLE_DOCUMENTATION))
def test_google_documentation_examples(pattern):
    rules = parse_robots(_FISH.format(pattern=pattern))
    allowed, disallowed = GOOGLE_DOCUMENTATION[pattern]
    assert [p for p in allowed if not rules.allows("http://foo.bar" + p, "FooBot")] == []
    assert [p for p in disallowed if rules.allows("http://foo.bar" + p, "FooBot")] == []


@pytest.mark.parametrize(("robots", "url", "allowed"), GOOGLE_PRECEDENCE)
def test_google_order_of_precedence(robots, url, allowed):
    assert parse_robots(robots).allows(url, "FooBot") is allowed


def test_the_issue_reports():
    """The two cases issue #14 found the stdlib parser getting wrong."""
    assert not parse_robots("User-agent: *\nDisallow: /*?print=\n").allows(
        "https://x.com/a?print=1"
    )
    rules = parse_robots("User-agent: *\nDisallow: /news/\nAllow: /news/iraq/\n")
    assert rules.allows("https://x.com/news/iraq/1")
    assert not rules.allows("https://x.com/news/syria/1")


def test_our_group_before_star_and_decimal_crawl_delay():
    rules = parse_robots(
        "User-agent: Googlebot\nCrawl-delay: 9\n\n"
        "User-agent: marsad\nUser-agent: other\nDisallow: /private\nCrawl-delay: 2.5\n\n"
        "User-agent: *\nCrawl-delay: 1\nDisallow: /\n"
    )
    assert rules.crawl_delay("marsad") == 2.5
    assert rules.crawl_delay("somebot") == 1.0
    assert rules.allows("https://x.example/news/1", "marsad")
    assert not rules.allows("https://x.example/private/1", "marsad")
    assert not rules.allows("https://x.example/news/1", "somebot")
    assert parse_robots("User-agent: *\nDisallow:\n").crawl_delay() is None


def test_sitemap_lines_do_not_end_a_group_and_are_collected():
    rules = parse_robots(
        "User-agent: *\nSitemap: https://x.example/news-sitemap.xml\nDisallow: /private\n"
        "site-map: https://x.example/sitemap_index.xml\n"
    )
    assert not rules.allows("https://x.example/private/1")
    assert rules.sitemaps == [
        "https://x.example/news-sitemap.xml",
        "https://x.example/sitemap_index.xml",
    ]


def test_only_the_first_500_kib_are_parsed_cut_at_a_line_end():
    filler = "# padding line to make the file large\n" * (ROBOTS_PARSE_LIMIT // 38 + 10)
    rules = parse_robots("User-agent: *\nDisallow: /early\n" + filler + "Disallow: /late\n")
    assert not rules.allows("https://x.example/early/1")
    assert rules.allows("https://x.example/late/1"), "rules past the parse limit are ignored"
    # A rule straddling the limit is dropped whole, not truncated into a broader one.
    head = "User-agent: *\n" + "#" * (ROBOTS_PARSE_LIMIT - 14 - 12) + "\n"
    cut = parse_robots(head + "Disallow: /a/very/specific/path\n")
    assert cut.allows("https://x.example/a/other")


# -- fetching robots.txt from real servers ---------------------------------------------

FAST = FetchConfig(allow_networks=("127.82.0.0/24",), max_attempts=1, backoff_base=0.01)


def _fetch_one(url: str, config: FetchConfig = FAST):
    fetcher = PoliteFetcher(HttpClient(config), PolitenessConfig(min_interval=0.0))
    try:
        ((_, result),) = list(fetcher.fetch_all([(url, "x", None)], "text/html"))
    finally:
        fetcher.close()
    return result


PAGE = Reply(200, b"<html><body><p>ok</p></body></html>", {"Content-Type": "text/html"})


def test_robots_redirects_are_followed_and_rules_apply_to_the_first_host():
    with RouteSite("127.82.0.1") as other, RouteSite("127.82.0.2") as site:
        other.routes["/rules.txt"] = Reply(200, b"User-agent: *\nDisallow: /private\n")
        site.routes["/robots.txt"] = Reply(301, headers={"Location": "/r1"})
        for hop in range(1, 4):
            site.routes[f"/r{hop}"] = Reply(302, headers={"Location": f"/r{hop + 1}"})
        site.routes["/r4"] = Reply(302, headers={"Location": f"{other.base}/rules.txt"})
        site.routes["/private/1"] = site.routes["/public/1"] = PAGE
        blocked = _fetch_one(f"{site.base}/private/1")
        allowed = _fetch_one(f"{site.base}/public/1")
    assert isinstance(blocked, FetchError) and blocked.reason == "robots_disallowed"
    assert allowed.status == 200


def test_more_than_five_robots_redirects_is_unreachable():
    with RouteSite("127.82.0.3") as site:
        site.routes["/robots.txt"] = Reply(302, headers={"Location": "/r1"})
        for hop in range(1, 10):
            site.routes[f"/r{hop}"] = Reply(302, headers={"Location": f"/r{hop + 1}"})
        site.routes["/news/1"] = PAGE
        result = _fetch_one(f"{site.base}/news/1")
        assert "/news/1" not in site.paths()
    assert isinstance(result, FetchError) and result.reason == "robots_unavailable"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(401, "allowed"), (403, "allowed"), (404, "allowed"), (410, "allowed"),
     (429, "robots_unavailable"), (500, "robots_unavailable"), (503, "robots_unavailable")],
)  # fmt: skip
def test_robots_status_codes(status, outcome):
    with RouteSite("127.82.0.4") as site:
        site.routes["/robots.txt"] = Reply(status, b"error")
        site.routes["/news/1"] = PAGE
        result = _fetch_one(f"{site.base}/news/1")
    if outcome == "allowed":
        assert result.status == 200
    else:
        assert isinstance(result, FetchError) and result.reason == outcome


def test_wildcard_rules_from_a_server_with_a_bom_and_crlf():
    body = "User-agent: *\r\nDisallow: /*?print=\r\nDisallow: /*.pdf$\r\n".encode("utf-8-sig")
    with RouteSite("127.82.0.5") as site:
        site.routes["/robots.txt"] = Reply(200, body, {"Content-Type": "text/plain"})
        site.routes["/news/1"] = PAGE
        printed = _fetch_one(f"{site.base}/news/1?print=1")
        pdf = _fetch_one(f"{site.base}/files/report.pdf")
        page = _fetch_one(f"{site.base}/news/1")
    assert isinstance(printed, FetchError) and printed.reason == "robots_disallowed"
    assert isinstance(pdf, FetchError) and pdf.reason == "robots_disallowed"
    assert page.status == 200


def test_refused_address_keeps_the_guards_reason():
    with RouteSite("127.82.0.6") as site:
        site.routes["/news/1"] = PAGE
        result = _fetch_one(f"{site.base}/news/1", FetchConfig(max_attempts=1))
        assert site.paths() == [], "nothing may reach a refused address"
    assert isinstance(result, FetchError)
    assert result.reason == "blocked_address"
    assert "robots.txt" in str(result)
