"""Clean one article's text: repeated paragraphs and the outlet chrome around the body.

Extraction leaves debris that is not the story and that differs between the
outlets carrying one story, so it both pollutes the corpus and hides syndicated
copies from each other. Three rules, applied to lines (a line is a paragraph);
comparisons use ``normalize_for_matching``, the kept lines are returned as written.

1. Edges. From the end, lines are removed while each one is boilerplate:
   no letter or digit at all ("-", "|"); a bare URL; a short line (at most
   ``MAX_PHRASE_TOKENS`` tokens) containing one of ``TRAILING_PHRASES`` ("تابعنا على",
   "الرابط المختصر", "جميع الحقوق محفوظة", "follow us", a Kurdish "related" or
   "rights reserved" footer ...) or starting with a credit (``CREDIT_PREFIXES``:
   "المصدر", "نقلا عن"); a very short share prompt (at most ``MAX_SHARE_TOKENS``
   tokens with a word of ``SHARE_WORDS``); or an outlet line (below). Removal stops
   at the first line that is none of these, so the body is never cut in the middle.
   From the start only letterless lines and outlet lines are removed: a
   title, byline or dateline up there is part of the article.
2. Outlet lines: a line of at most ``MAX_OUTLET_LINE_TOKENS`` tokens seen at the
   edge of at least ``min_outlet_pages`` articles of the same outlet (a disclaimer,
   "فرانس 24 / أ ف ب", "نقلا عن ..."). Counting needs every page of the outlet, so
   the caller passes the set (``edge_lines`` gives each page's candidates). Pages with
   one title are one article (``article_key``): an article served at several addresses
   (updated, re-posted, a print or AMP page) shares its own short lines — a heading, a
   standfirst, a caption — and they are not the outlet's. A title that is only the
   outlet's name identifies no article: such pages count one each.
3. Repeats. A paragraph of at least ``MIN_REPEAT_TOKENS`` tokens equal to an
   earlier one is removed; one of at least ``MIN_CONTAINED_TOKENS`` tokens found
   word for word inside a longer paragraph (a standfirst repeated as the first
   body paragraph, a pull quote) is removed, the longer one kept, so no sentence is
   lost. "Read also" link lines (``READ_ALSO_PREFIXES``) are removed wherever they are.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from marsad.text.normalize import normalize_for_matching

MAX_PHRASE_TOKENS = 20
MAX_SHARE_TOKENS = 5
MAX_OUTLET_LINE_TOKENS = 10
MIN_REPEAT_TOKENS = 4
MIN_CONTAINED_TOKENS = 8
MAX_READ_ALSO_TOKENS = 25
EDGE_WINDOW = 6  # lines at each edge considered by edge_lines()
DEFAULT_MIN_OUTLET_PAGES = 5

TRAILING_PHRASES = [
    # Arabic: follow / share / links / rights / related / subscribe / corrections
    "تابعنا على",
    "تابعنا عبر",
    "تابعنا في",
    "تابعونا",
    "الرابط المختصر",
    "رابط مختصر",
    "رابط المقال",
    "رابط الخبر",
    "الرابط الدائم",
    "الحقوق محفوظة",
    "حقوق النشر",
    "حقوق الطبع",
    "شارك الخبر",
    "شارك المقال",
    "شارك هذا",
    "شارك على",
    "شارك عبر",
    "انشر على",
    "انشر الخبر",
    "مواضيع ذات صلة",
    "أخبار ذات صلة",
    "مقالات ذات صلة",
    "أخبار متعلقة",
    "الأكثر قراءة",
    "الأكثر مشاهدة",
    "اشترك في",
    "اشترك الآن",
    "حمل تطبيق",
    "كلمات مفتاحية",
    "الكلمات المفتاحية",
    "إذا كنت تعتقد",
    "أرسل تصحيحا",
    "قدم شكوى",
    "تمثل رأي كتابها",
    # Kurdish (Sorani) footers, with and without the Kurdish letter ە
    "بابەتی پەیوەندیدار",
    "بابهتی پهیوهندیدار",
    "مافی بەرهەمەکان",
    "مافی بهرههمهكان",
    # English
    "follow us",
    "share this",
    "share on",
    "share via",
    "all rights reserved",
    "copyright",
    "related articles",
    "related stories",
    "short link",
    "shortlink",
    "subscribe to",
    "sign up for",
    "newsletter",
    "developed by",
    "powered by",
    "designed by",
    "click here",
    "download our app",
]
CREDIT_PREFIXES = ["المصدر", "نقلا عن", "source", "via"]
MAX_CREDIT_TOKENS = 8
READ_ALSO_PREFIXES = [
    "اقرأ أيضا",
    "اقرأ المزيد",
    "شاهد أيضا",
    "للمزيد",
    "read also",
    "read more",
    "see also",
]
SHARE_WORDS = {
    "شارك",
    "شاركوا",
    "مشاركة",
    "انشر",
    "طباعة",
    "فيسبوك",
    "تويتر",
    "واتساب",
    "تلغرام",
    "تيليغرام",
    "share",
    "tweet",
    "print",
    "email",
    "facebook",
    "twitter",
    "whatsapp",
    "telegram",
}

_URL_ONLY = re.compile(r"^\W*(?:https?://|www\.)\S+\W*$", re.IGNORECASE)
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")


def _phrases(raw: Iterable[str]) -> list[tuple[str, ...]]:
    return [tuple(normalize_for_matching(p).split()) for p in raw]


_TRAILING = _phrases(TRAILING_PHRASES)
_CREDITS = _phrases(CREDIT_PREFIXES)
_READ_ALSO = _phrases(READ_ALSO_PREFIXES)
_SHARE = {normalize_for_matching(w) for w in SHARE_WORDS}


@dataclass(frozen=True)
class Cleaned:
    """A cleaned article: ``text`` as written minus removed lines, ``tokens`` normalised."""

    text: str
    tokens: list[str]
    repeats_removed: int = 0
    boilerplate_removed: int = 0


def _contains(tokens: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    width = len(phrase)
    return any(tokens[i : i + width] == phrase for i in range(len(tokens) - width + 1))


def _starts_with(tokens: tuple[str, ...], phrases: list[tuple[str, ...]]) -> bool:
    return any(tokens[: len(p)] == p for p in phrases)


def is_trailing_boilerplate(raw: str, tokens: tuple[str, ...], outlet_lines: frozenset) -> bool:
    """Rule 1 for one line at the end of an article (see module doc)."""
    if not _LETTER_OR_DIGIT.search(raw) or _URL_ONLY.match(raw.strip()):
        return True
    if " ".join(tokens) in outlet_lines and len(tokens) <= MAX_OUTLET_LINE_TOKENS:
        return True
    if len(tokens) <= MAX_SHARE_TOKENS and _SHARE.intersection(tokens):
        return True
    if len(tokens) <= MAX_CREDIT_TOKENS and _starts_with(tokens, _CREDITS):
        return True
    return len(tokens) <= MAX_PHRASE_TOKENS and (
        "©" in raw or any(_contains(tokens, p) for p in _TRAILING)
    )


def _is_leading_boilerplate(raw: str, tokens: tuple[str, ...], outlet_lines: frozenset) -> bool:
    if not _LETTER_OR_DIGIT.search(raw):
        return True
    return len(tokens) <= MAX_OUTLET_LINE_TOKENS and " ".join(tokens) in outlet_lines


def edge_lines(text: str, window: int = EDGE_WINDOW) -> set[str]:
    """Normalised short lines near the start and end: the candidates for outlet lines."""
    lines = [line for line in text.splitlines() if line.strip()]
    edges = lines if len(lines) <= 2 * window else lines[:window] + lines[-window:]
    # Cheap pre-filter: a line of many words cannot normalise to a short one.
    short = (line for line in edges if len(line.split()) <= 2 * MAX_OUTLET_LINE_TOKENS)
    found = (normalize_for_matching(line) for line in short)
    return {line for line in found if line and len(line.split()) <= MAX_OUTLET_LINE_TOKENS}


def article_key(title: str, page_id: str, sitename: str = "") -> bytes:
    """Which article a page is, for counting outlet lines (rule 2): its normalised title,
    or the page itself when it has none, or only the outlet's name (a site whose pages
    all carry one title: they are not one article). Eight bytes of a hash: the same in
    every process (Python's ``hash`` of a string is not), and small beside the line."""
    norm = normalize_for_matching(title) if title else ""
    if norm and sitename and norm == normalize_for_matching(sitename):
        norm = ""
    name = f"title\0{norm}" if norm else f"page\0{page_id}"
    return hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()


def _repeated(norms: list[tuple[str, ...]], kept: list[int]) -> set[int]:
    """Indexes (into ``norms``) of paragraphs repeated verbatim or contained in a longer one."""
    removed: set[int] = set()
    seen: set[tuple[str, ...]] = set()
    for i in kept:
        if len(norms[i]) >= MIN_REPEAT_TOKENS:
            if norms[i] in seen:
                removed.add(i)
            seen.add(norms[i])
    # Once equal copies are gone, a paragraph found twice in the joined text
    # (lines never span the "\n" between paragraphs) sits inside a longer one.
    distinct = [i for i in kept if i not in removed]
    joined = " \n ".join(" ".join(norms[i]) for i in distinct)
    joined = f" {joined} "
    for i in distinct:
        if len(norms[i]) >= MIN_CONTAINED_TOKENS and joined.count(f" {' '.join(norms[i])} ") > 1:
            removed.add(i)
    return removed


def clean_article(text: str, outlet_lines: Iterable[str] = ()) -> Cleaned:
    """Apply the module's rules to ``text``; ``outlet_lines`` are normalised outlet lines."""
    outlet = frozenset(outlet_lines)
    raw_lines = text.splitlines()
    norms = [tuple(normalize_for_matching(line).split()) for line in raw_lines]
    body = [i for i, line in enumerate(raw_lines) if line.strip()]
    boiler: set[int] = set()
    while body and is_trailing_boilerplate(raw_lines[body[-1]], norms[body[-1]], outlet):
        boiler.add(body.pop())
    while body and _is_leading_boilerplate(raw_lines[body[0]], norms[body[0]], outlet):
        boiler.add(body.pop(0))
    for i in body:
        if len(norms[i]) <= MAX_READ_ALSO_TOKENS and _starts_with(norms[i], _READ_ALSO):
            boiler.add(i)
    body = [i for i in body if i not in boiler]
    repeats = _repeated(norms, body)
    kept = [i for i in body if i not in repeats]
    tokens = [token for i in kept for token in norms[i]]
    if not boiler and not repeats:
        return Cleaned(text, tokens)
    lines: list[str] = []
    dropped = boiler | repeats
    for i, line in enumerate(raw_lines):
        if i in dropped or (not line.strip() and (not lines or not lines[-1].strip())):
            continue
        lines.append(line)
    while lines and not lines[-1].strip():
        lines.pop()
    return Cleaned("\n".join(lines), tokens, len(repeats), len(boiler))
