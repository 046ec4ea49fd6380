"""Article body and metadata from a page, with the feed as fallback.

trafilatura does the extraction. When it yields nothing or less than
``min_chars``, the feed's own full content (``content:encoded`` / Atom content)
is used if it is longer, then the feed summary; ``extraction_method`` records
which one produced the text so analysts can filter on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import trafilatura

from marsad.errors import ExtractionError
from marsad.text.htmltext import html_to_text
from marsad.text.language import detect_language
from marsad.text.normalize import normalize_for_matching

DEFAULT_MIN_CHARS = 250
# Longest text stored per article (--max_text_chars). Long-form news runs to ~60,000
# characters; beyond this a "page" is a dump (a whole archive, a log), and every later
# stage (normalisation, shingling, MinHash) costs memory in proportion to it.
DEFAULT_MAX_TEXT_CHARS = 200_000
# Publication dates before this are parse errors or placeholders (year 1, 1970), not news.
EARLIEST_DATE = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=1)


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


def cap_text(text: str, max_chars: int = DEFAULT_MAX_TEXT_CHARS) -> tuple[str, bool]:
    """``text`` cut to ``max_chars`` at the last paragraph or space before the limit."""
    if len(text) <= max_chars:
        return text, False
    cut = text[:max_chars]
    for mark in ("\n", " "):
        at = cut.rfind(mark)
        if at >= max_chars * 0.9:
            cut = cut[:at]
            break
    return cut.rstrip(), True


def plausible_date(value: datetime | None, fetched_at: datetime | None) -> bool:
    """A publication date a news article can have: from 1990 to a day after the fetch."""
    if value is None:
        return False
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    latest = (fetched_at or datetime.now(UTC)) + FUTURE_TOLERANCE
    return EARLIEST_DATE <= value <= latest


def choose_date(
    candidates: list[tuple[datetime | None, str]], fetched_at: datetime | None
) -> tuple[datetime | None, str]:
    """The first plausible (date, source) of ``candidates``, else the fetch time."""
    for value, source in candidates:
        if plausible_date(value, fetched_at):
            return value, source
    return fetched_at, "fetched" if fetched_at else ""
