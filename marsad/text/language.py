"""Language of a text from its letters, not from what the page declares.

Script counts separate Arabic-script from Latin text reliably; within Arabic
script, letters that Standard Arabic lacks mark Persian or Kurdish (Sorani).
Within Latin script a short stop-word vote picks English, French or German.
"""

from __future__ import annotations

import re

_ARABIC_LETTER = re.compile("[\u0621-\u064a\u0671-\u06d3\u06fa-\u06ff]")
_LATIN_LETTER = re.compile("[A-Za-z\u00c0-\u024f]")
_SORANI_ONLY = re.compile("[ڕڵێۆەڤ]")
_PERSIAN_HINT = re.compile("[پچژگی]")
_WORD = re.compile(r"[a-zà-ÿ]+")
_STOPWORDS = {
    "en": {"the", "and", "of", "to", "in", "is", "that", "for", "on", "with", "said", "was"},
    "fr": {"le", "la", "les", "et", "des", "du", "est", "une", "dans", "pour", "que", "au"},
    "de": {"der", "die", "das", "und", "ist", "nicht", "mit", "den", "von", "zu", "sich", "auf"},
}


def detect_language(text: str, fallback: str = "") -> str:
    """ISO 639 code of the dominant language of ``text``, or ``fallback`` when unsure."""
    sample = text[:5000]
    arabic = len(_ARABIC_LETTER.findall(sample))
    latin = len(_LATIN_LETTER.findall(sample))
    if arabic + latin < 20:
        return fallback
    if arabic >= latin:
        sorani = len(_SORANI_ONLY.findall(sample))
        persian = len(_PERSIAN_HINT.findall(sample))
        if sorani > arabic * 0.02:
            return "ckb"
        if persian > arabic * 0.02:
            return "fa"
        return "ar"
    words = _WORD.findall(sample.lower())
    votes = {lang: sum(w in stops for w in words) for lang, stops in _STOPWORDS.items()}
    best = max(votes, key=votes.get)
    return best if votes[best] >= 2 else (fallback or "und")
