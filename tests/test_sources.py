import pytest

from marsad.errors import SourcesError
from marsad.feeds.sources import load_sources, parse_sources

GOOD_YAML = """
sources:
  - name: Alsumaria
    language: ar
    country: IQ
    feeds: [https://example.iq/rss, https://example.iq/rss/politics]
    tags: [iraqi, tv]
  - name: Tribune
    language: en
    feeds: https://tribune.example/feed
"""


def test_yaml_sources_expand_to_one_record_per_feed():
    feeds = parse_sources(GOOD_YAML, "s.yaml")
    assert [f.feed_url for f in feeds] == [
        "https://example.iq/rss",
        "https://example.iq/rss/politics",
        "https://tribune.example/feed",
    ]
    assert feeds[0].source == "Alsumaria" and feeds[0].country == "IQ"
    assert feeds[0].tags == ("iraqi", "tv")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("sources: [", "not valid YAML"),
        ("outlets: []", "'sources:' list"),
        ("sources:\n  - language: ar\n    feeds: [https://a.example/rss]", "sources[0]: 'name'"),
        ("sources:\n  - name: A\n    feeds: []", "sources[0] (A): 'feeds'"),
        ("sources:\n  - name: A\n    feeds: [ftp://a.example/rss]", "not an absolute http(s) URL"),
        (
            "sources:\n  - name: A\n    language: arabic\n    feeds: [https://a.example/]",
            "ISO 639-1",
        ),
        ("sources:\n  - name: A\n    feed: [https://a.example/]", "unknown key"),
        (
            "sources:\n  - name: A\n    feeds: [https://a.example/]\n"
            "  - name: A\n    feeds: [https://b.example/]",
            "sources[1] (A): duplicate outlet name",
        ),
        (
            "sources:\n  - name: A\n    feeds: [https://a.example/]\n"
            "  - name: B\n    feeds: [https://a.example/]",
            "listed twice",
        ),
    ],
)
def test_malformed_yaml_names_the_entry_and_problem(document, message):
    with pytest.raises(SourcesError) as caught:
        parse_sources(document, "s.yaml")
    assert message in str(caught.value)


def test_opml_subscription_list():
    opml = """<?xml version="1.0"?>
    <opml version="2.0"><head><title>x</title></head><body>
      <outline text="Iraq">
        <outline type="rss" text="Shafaq" xmlUrl="https://shafaq.example/rss" language="ar"/>
        <outline type="rss" title="Rudaw &amp; Co" text="ignored" xmlUrl="https://rudaw.example/rss"/>
      </outline></body></opml>"""
    feeds = parse_sources(opml, "list.opml")
    assert [(f.source, f.feed_url, f.language) for f in feeds] == [
        ("Shafaq", "https://shafaq.example/rss", "ar"),
        ("Rudaw & Co", "https://rudaw.example/rss", ""),
    ]


def test_opml_outline_without_name_is_rejected():
    opml = '<opml version="2.0"><body><outline xmlUrl="https://a.example/rss"/></body></opml>'
    with pytest.raises(SourcesError, match="outline #1"):
        parse_sources(opml, "list.opml")


def test_unknown_extension_and_missing_file(tmp_path):
    with pytest.raises(SourcesError, match="unknown sources format"):
        parse_sources(GOOD_YAML, "sources.txt")
    with pytest.raises(SourcesError, match="cannot read"):
        load_sources(str(tmp_path / "nope.yaml"))


def test_shipped_default_sources_are_valid():
    from pathlib import Path

    import marsad

    folder = Path(marsad.__file__).parent / "sources"
    yaml_feeds = load_sources(str(folder / "default.yaml"))
    opml_feeds = load_sources(str(folder / "default.opml"))
    assert len({f.source for f in yaml_feeds}) >= 15
    assert {f.feed_url for f in yaml_feeds} == {f.feed_url for f in opml_feeds}
    arabic = [f for f in yaml_feeds if f.language == "ar"]
    assert len(arabic) > len(yaml_feeds) / 2, "the default list is Arabic-first"


BILLION_LAUGHS_YAML = """
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
sources: [*i]
"""


def test_yaml_alias_bombs_are_refused_fast_with_a_short_message():
    # Issue #10.9: 524 bytes of nested aliases took 48 s, 6 GB and printed 2 GB.
    import time

    from marsad.errors import MAX_MESSAGE_CHARS, SourcesError
    from marsad.feeds.sources import parse_yaml_sources

    started = time.monotonic()
    with pytest.raises(SourcesError) as caught:
        parse_yaml_sources(BILLION_LAUGHS_YAML, "bomb.yaml")
    assert time.monotonic() - started < 2
    assert "aliases" in str(caught.value)
    assert len(str(caught.value)) <= MAX_MESSAGE_CHARS


def test_an_oversized_sources_file_is_refused(tmp_path):
    from marsad.errors import SourcesError
    from marsad.feeds.sources import load_sources

    path = tmp_path / "huge.yaml"
    path.write_text("sources:\n" + "# padding\n" * 600_000)
    with pytest.raises(SourcesError, match="over 5 MB"):
        load_sources(str(path))
