"""Article body and metadata from a page, with the feed as fallback.

trafilatura does the extraction. When it yields nothing or less than
``min_chars``, the feed's own full content (``content:encoded`` / Atom content)
is used if it is longer, then the feed summary; ``extraction_method`` records
which one produced the text so analysts can filter on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import trafilatura

from marsad.errors import ExtractionError
from marsad.text.htmltext import html_to_text
from marsad.text.language import detect_language
from marsad.text.normalize import normalize_for_matching

DEFAULT_MIN_CHARS = 250


@dataclass
class Extraction:
    text: str
    method: str
    title: str = ""
    authors: list[str] = field(default_factory=list)
    page_date: datetime | None = None
    sitename: str = ""
    declared_language: str = ""
    language: str | None = None


def _page_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _declared_language(html: str) -> str:
    head = html[:4000].lower()
    marker = head.find(" lang=")
    if marker < 0:
        return ""
    value = head[marker + 6 : marker + 16].strip("\"' ")
    return value.split("-")[0].split('"')[0].split("'")[0][:3]


def _drop_leading_title(text: str, title: str) -> str:
    """trafilatura keeps the page's <h1> as the first line; the title has its own column."""
    first, _, rest = text.partition("\n")
    if title and rest and normalize_for_matching(first) == normalize_for_matching(title):
        return rest.lstrip("\n")
    return text


def extract_with_trafilatura(html: str, url: str) -> Extraction:
    document = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        favor_precision=True,
    )
    if document is None:
        return Extraction(text="", method="trafilatura", declared_language=_declared_language(html))
    title = (document.title or "").strip()
    text = _drop_leading_title((document.text or "").strip(), title)
    authors = [a.strip() for a in (document.author or "").split(";") if a.strip()]
    return Extraction(
        text=text,
        method="trafilatura",
        title=title,
        authors=authors,
        page_date=_page_date(document.date),
        sitename=(document.sitename or "").strip(),
        declared_language=_declared_language(html),
    )


def choose_text(
    page: Extraction,
    feed_content_html: str,
    feed_summary: str,
    min_chars: int = DEFAULT_MIN_CHARS,
) -> Extraction:
    """Pick the best text among the page extraction, feed content and feed summary.

    Raises ``ExtractionError`` (``extraction_empty``) when all are empty.
    """
    result = page
    if len(page.text) < min_chars:
        candidates = [
            (html_to_text(feed_content_html), "feed_content"),
            (feed_summary.strip(), "feed_summary"),
        ]
        for text, method in candidates:
            if len(text) > len(result.text) and (len(text) >= min_chars or not result.text):
                result = Extraction(**{**page.__dict__, "text": text, "method": method})
                break
    if not result.text.strip():
        raise ExtractionError(
            "no article text: the page yielded nothing and the feed has no content or summary",
            reason="extraction_empty",
        )
    # The text decides; what the page or sources file declares stays in declared_language.
    result.language = detect_language(result.title + "\n" + result.text) or None
    return result
