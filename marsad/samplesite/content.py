"""Load the sample site's content: outlets, articles (Markdown-ish with YAML front matter)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

CONTENT_DIR = Path(__file__).parent / "content"


@dataclass(frozen=True)
class SampleArticle:
    slug: str
    title: str
    language: str
    published: datetime
    summary: str
    paragraphs: tuple[str, ...]
    author: str = ""


@dataclass(frozen=True)
class Placement:
    """One article as one outlet publishes it."""

    article: SampleArticle
    path: str
    # ok | missing | redirect | feed_only | archived (only in an old sitemap, out of the
    # window) | robots_disallowed (listed, but robots.txt forbids fetching it)
    status: str = "ok"


@dataclass
class Outlet:
    key: str
    name: str
    language: str
    country: str
    ip: int
    charset: str
    feed: dict
    chrome: dict
    placements: list[Placement]
    extra_feeds: list[dict] = field(default_factory=list)
    declared_charset: str = ""  # the label sent; differs from charset when mislabelled
    listed_by: str = "feeds"  # what the sources file lists: feeds | sitemaps | site
    robots: str | None = None
    note: str = ""  # which web convention the outlet exercises (shown by the demo)

    @property
    def label(self) -> str:
        return self.declared_charset or self.charset


def load_article(slug: str, content_dir: Path = CONTENT_DIR) -> SampleArticle:
    raw = (content_dir / "articles" / f"{slug}.md").read_text(encoding="utf-8")
    _, front, body = raw.split("---\n", 2)
    meta = yaml.safe_load(front)
    if meta.get("body_file"):
        body = (content_dir / meta["body_file"]).read_text(encoding="utf-8")
        # Seeds are line-oriented: every non-empty line is a paragraph.
        paragraphs = tuple(line.strip() for line in body.splitlines() if line.strip())
    else:
        paragraphs = tuple(p.strip() for p in body.split("\n\n") if p.strip())
    published = meta["published"]
    if isinstance(published, str):
        published = datetime.fromisoformat(published)
    return SampleArticle(
        slug=slug,
        title=str(meta["title"]).strip(),
        language=meta.get("language", "ar"),
        published=published,
        summary=str(meta.get("summary") or "").strip(),
        paragraphs=paragraphs,
        author=str(meta.get("author") or "").strip(),
    )


def load_outlets(content_dir: Path = CONTENT_DIR) -> list[Outlet]:
    config = yaml.safe_load((content_dir / "outlets.yaml").read_text(encoding="utf-8"))
    cache: dict[str, SampleArticle] = {}
    outlets = []
    for spec in config["outlets"]:
        placements = []
        for item in spec["articles"]:
            slug = item["slug"]
            if slug not in cache:
                cache[slug] = load_article(slug, content_dir)
            placements.append(Placement(cache[slug], item["path"], item.get("status", "ok")))
        outlets.append(
            Outlet(
                key=spec["key"],
                name=spec["name"],
                language=spec["language"],
                country=spec["country"],
                ip=int(spec["ip"]),
                charset=spec["charset"],
                feed=spec["feed"],
                chrome=spec.get("chrome", {}),
                placements=placements,
                extra_feeds=spec.get("extra_feeds", []),
                declared_charset=spec.get("declared_charset", ""),
                listed_by=spec.get("listed_by", "feeds"),
                robots=spec.get("robots"),
                note=spec.get("note", ""),
            )
        )
    return outlets
