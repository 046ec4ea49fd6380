"""Text normalisation for matching (hashing, shingling, term lookup).

The stored text stays as extracted; this form exists only to compare texts.
Arabic spelling varies in ways readers ignore: diacritics, tatweel, hamza seats,
alef maqsura vs ya, ta marbuta vs ha, Arabic-Indic vs ASCII digits. Punctuation
is replaced by a space rather than deleted: deleting it glues tokens together
(«العراق» → العراق is fine, but "واشنطن،بغداد" must stay two tokens).

The rule, in order: NFKC; tashkeel and tatweel removed; letter and digit folds;
casefold; invisible format marks (Cf: bidi marks, ZWJ/ZWNJ) removed; every run of
punctuation, symbols, separators and controls (Unicode categories P*, S*, Z*, C* other
than Cn/Co/Cs, below U+20000) becomes one space; ends stripped.

Speed: this runs on every article twice (dedup and tagging). A ``str.translate`` with a
dict table looks every character up in a Python dict (~45 ns a character); here each
step is a C-level pass instead — ``str.replace`` for each fold letter present, one
bitmap character class for the separators that also collapses their runs — 2.5 times
faster on news text (165 → 66 µs for a 1,400-character ANT article), same output
(``tests/test_textnorm.py`` checks it against the table-driven reference).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_TASHKEEL_AND_TATWEEL = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")

# Letter folds: each character is replaced only when present (``in`` and ``replace``
# are C loops over the string, far cheaper than a per-character table lookup).
LETTER_FOLDS: dict[str, str] = {
    **{alef: "ا" for alef in "أإآٱٲٳ"},
    "ى": "ي",
    "ئ": "ي",
    "ی": "ي",  # Persian/Kurdish ya
    "ة": "ه",
    "ؤ": "و",
    "ک": "ك",  # Persian/Kurdish kaf
}
_DIGITS = {chr(0x0660 + d): str(d) for d in range(10)} | {
    chr(0x06F0 + d): str(d) for d in range(10)
}
_INDIC_DIGIT = re.compile("[\u0660-\u0669\u06f0-\u06f9]")

_LAST_CODE_POINT = 0x20000  # BMP and SMP: beyond them no text we match lives
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _ranges(codes: list[int]) -> str:
    """A regex character class body for sorted code points, as ranges."""
    parts, start, previous = [], -2, -2
    for code in [*codes, -1]:
        if code == previous + 1:
            previous = code
            continue
        if start >= 0:
            first, last = re.escape(chr(start)), re.escape(chr(previous))
            parts.append(first if start == previous else f"{first}-{last}")
        start = previous = code
    return "".join(parts)


def _category_classes() -> dict[str, re.Pattern]:
    """Invisible format marks (Cf) and separators (P, S, Z, C but Cn/Co/Cs), each split
    into a BMP class (compiled by ``re`` to a bitmap: one lookup a character) and an
    astral class (a list of ranges: slow, so used only when the text has such chars)."""
    codes: dict[str, list[int]] = {"invisible": [], "separator": []}
    for code in range(_LAST_CODE_POINT):
        category = unicodedata.category(chr(code))
        if category == "Cf":
            codes["invisible"].append(code)
        elif category[0] in "PSZC" and category not in ("Cn", "Co", "Cs"):
            codes["separator"].append(code)
    classes = {}
    for kind, found in codes.items():
        bmp = [c for c in found if c < 0x10000]
        astral = [c for c in found if c >= 0x10000]
        classes[kind] = re.compile(f"[{_ranges(bmp)}]")
        classes[kind + "_astral"] = re.compile(f"[{_ranges(astral)}]")
    classes["separator_run"] = re.compile(classes["separator"].pattern + "+")
    return classes


_CLASSES = _category_classes()
_INVISIBLE, _SEPARATOR_RUN = _CLASSES["invisible"], _CLASSES["separator_run"]
_INVISIBLE_ASTRAL, _SEPARATOR_ASTRAL = _CLASSES["invisible_astral"], _CLASSES["separator_astral"]
# What the three rare steps act on (Arabic-Indic digits, invisible marks, characters
# beyond the BMP), as one character class: nearly every text holds none of it (under 2%
# of ANT's Arabic articles, about 3% of English pages), and one scan then replaces three.
# Tashkeel is not rare in Arabic news (three articles in four): its step always runs.
_RARE = re.compile(
    "[" + "".join(pattern.pattern[1:-1] for pattern in (_INDIC_DIGIT, _INVISIBLE, _ASTRAL)) + "]"
)


def normalize_for_matching(text: str) -> str:
    """Fold ``text`` to the form used for hashing and matching (see module doc)."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text)
    # Removing tashkeel, folding and casefolding create none of what the rare steps act
    # on (checked for every BMP character in tests/test_textnorm.py).
    rare = _RARE.search(text) is not None
    text = _TASHKEEL_AND_TATWEEL.sub("", text)
    for variant, letter in LETTER_FOLDS.items():
        if variant in text:
            text = text.replace(variant, letter)
    if rare and _INDIC_DIGIT.search(text):
        text = _INDIC_DIGIT.sub(lambda match: _DIGITS[match.group()], text)
    text = text.casefold()
    if rare and _ASTRAL.search(text):
        text = _SEPARATOR_ASTRAL.sub(" ", _INVISIBLE_ASTRAL.sub("", text))
    if rare and _INVISIBLE.search(text):
        text = _INVISIBLE.sub("", text)
    return _SEPARATOR_RUN.sub(" ", text).strip(" ")


def tokens(text: str) -> list[str]:
    """Tokens of the normalised text."""
    normalised = normalize_for_matching(text)
    return normalised.split() if normalised else []


def content_hash(text: str) -> str:
    """SHA-256 (32 hex chars) of the normalised text; equal for spelling-only differences."""
    return hashlib.sha256(normalize_for_matching(text).encode("utf-8")).hexdigest()[:32]
