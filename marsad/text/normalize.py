"""Text normalisation for matching (hashing, shingling, term lookup).

The stored text stays as extracted; this form exists only to compare texts.
Arabic spelling varies in ways readers ignore: diacritics, tatweel, hamza seats,
alef maqsura vs ya, ta marbuta vs ha, Arabic-Indic vs ASCII digits. Punctuation
is replaced by a space rather than deleted: deleting it glues tokens together
(«العراق» → العراق is fine, but "واشنطن،بغداد" must stay two tokens).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_TASHKEEL_AND_TATWEEL = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_FOLD = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ٲ": "ا",
        "ٳ": "ا",
        "ى": "ي",
        "ة": "ه",
        "ؤ": "و",
        "ئ": "ي",
        "ی": "ي",  # Persian/Kurdish ya
        "ک": "ك",  # Persian/Kurdish kaf
        **{chr(0x0660 + d): str(d) for d in range(10)},
        **{chr(0x06F0 + d): str(d) for d in range(10)},
    }
)
_WHITESPACE = re.compile(r"\s+")


def _separator_table() -> dict[int, str]:
    """Punctuation, symbols, separators and controls → space; invisible format marks
    (bidi marks, ZWJ/ZWNJ) → nothing. Built once: str.translate beats a per-char loop."""
    table: dict[int, str] = {}
    for code in range(0x20000):  # BMP and SMP: beyond them no text we match lives
        category = unicodedata.category(chr(code))
        if category == "Cf":
            table[code] = ""
        elif category[0] in "PSZC" and category not in ("Cn", "Co", "Cs"):
            table[code] = " "
    return table


_SEPARATORS = _separator_table()


def normalize_for_matching(text: str) -> str:
    """Fold ``text`` to the form used for hashing and matching (see module doc)."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text)
    text = _TASHKEEL_AND_TATWEEL.sub("", text)
    text = text.translate(_FOLD).casefold().translate(_SEPARATORS)
    return _WHITESPACE.sub(" ", text).strip()


def tokens(text: str) -> list[str]:
    """Tokens of the normalised text."""
    normalised = normalize_for_matching(text)
    return normalised.split() if normalised else []


def content_hash(text: str) -> str:
    """SHA-256 (32 hex chars) of the normalised text; equal for spelling-only differences."""
    return hashlib.sha256(normalize_for_matching(text).encode("utf-8")).hexdigest()[:32]
