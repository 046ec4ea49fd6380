"""Canonicalize: FeedEntry → FeedEntry with canonical_url and article_id."""

from __future__ import annotations

import dataclasses
from urllib.parse import urljoin

import apache_beam as beam

from marsad.errors import EntryError
from marsad.feeds.urls import article_id, canonicalize_url
from schemas.records import FeedEntry
from transforms.common import StageDoFn, apply_stage


class CanonicalizeFn(StageDoFn):
    stage = "canonicalize"

    def describe(self, entry: FeedEntry):
        return entry.link, {"source": entry.source, "feed_url": entry.feed_url}

    def handle(self, entry: FeedEntry):
        try:
            canonical = canonicalize_url(entry.link, base=entry.feed_url)
        except ValueError as exc:
            raise EntryError(f"unusable article link: {exc}", reason="url_invalid") from exc
        yield dataclasses.replace(
            entry,
            link=urljoin(entry.feed_url, entry.link),
            canonical_url=canonical,
            article_id=article_id(canonical),
        )


class Canonicalize(beam.PTransform):
    """Canonical URL and stable article id for every entry."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def expand(self, entries):
        return apply_stage(entries, "CanonicalizeUrls", CanonicalizeFn(self.run_id))
