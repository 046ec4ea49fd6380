"""Token-based phrase matching for topic tagging (Arabic and English).

The text is normalised once with ``marsad.text.normalize.normalize_for_matching`` (the same
form dedup uses) and split into tokens; sentence and paragraph ends survive
normalisation as private-use marker tokens. Each distinct token is resolved once
(cached) to the ids of the term words it can stand for:

* Arabic: the token itself and the token minus a proclitic cluster
  (و ف ب ل ك ال وال بال لل ...), so «وبالقوات» and «للعراق» reach «قوات» and «عراق»;
  an accusative «…يا» also stands for its bare form («جنديا» → «جندي»).
  Term words drop their own «ال» when indexed, so «العراق» in a topic file matches
  «العراق», «بالعراق», «للعراق» and «والعراق».
* English: the token and its singular (-s, -es, -ies → -y); case is already folded.
* Spelling rewrites from the topic file (الأميركية → الأمريكية) apply to both sides.
* A term word ending in ``*`` matches any token variant that starts with it
  (``امريك*`` → الأمريكية, الأمريكيين; ``withdr*`` → withdrawal, withdrew).

Phrases are found with a dict keyed by the first word's id, leftmost-longest, so a
specific phrase («القوات العراقية») shadows the generic word inside it («القوات»).
No per-term regular expression ever scans the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from marsad.text.normalize import normalize_for_matching

SENTENCE_MARK = "\ue000"
PARAGRAPH_MARK = "\ue001"

# Longest first: «وبال» must be tried before «وب» and «و».
ARABIC_PROCLITICS = tuple(
    sorted(
        {
            "و", "ف", "ب", "ل", "ك", "ال", "وال", "فال", "بال", "كال", "لل", "ولل", "فلل",
            "وب", "فب", "ول", "فل", "وك", "وبال", "فبال", "وكال", "لا",
        },
        key=len,
        reverse=True,
    )
)  # fmt: skip
_MIN_STEM = 2
_PHRASE = -1  # trie key of the phrase ending at a node
_MIN_WILDCARD = 3

# "U.S." / "U.N." lose their dots so that the period does not end a sentence. Every
# abbreviation holds ".X.", a pattern that starts with a literal: re finds it with a
# fast scan, while the full pattern (a word boundary first) is tried at every position
# (0.3 ms for a 4,600-character English article), so it runs only where the hint is.
_ABBREVIATION = re.compile(r"\b(?:[A-Za-z]\.){2,}")
_ABBREVIATION_HINT = re.compile(r"\.[A-Za-z]\.")
# The apostrophe first and the letter before it checked after: a pattern that starts
# with a character class is scanned for it in C, a look-behind is tried everywhere.
_POSSESSIVE = re.compile(r"['’]s\b(?<=[A-Za-z]['’]s)")
_LATIN = re.compile(r"[A-Za-z]")
_SENTENCE_END = re.compile(r"[.!?؟؛;]+(?=\s|$)")


def _is_arabic(token: str) -> bool:
    return "\u0600" <= token[0] <= "\u06ff"


def token_variants(token: str) -> list[str]:
    """Forms of ``token`` a term word may be indexed under (see module doc)."""
    variants = [token]
    if _is_arabic(token):
        for clitic in ARABIC_PROCLITICS:
            if token.startswith(clitic) and len(token) - len(clitic) >= _MIN_STEM:
                variants.append(token[len(clitic) :])
        # The accusative of a nisba adjective or noun ends in «يًا»; without its
        # diacritic it is «يا»: «جنديا أمريكيا إضافيا» reaches «جندي», «إضافي».
        if len(token) >= 4 and token.endswith("يا"):
            variants += [variant[:-1] for variant in list(variants) if len(variant) >= 4]
    elif len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        if token.endswith("ies"):
            variants.append(token[:-3] + "y")
        elif token.endswith("es"):
            variants.append(token[:-2])
        variants.append(token[:-1])
    return variants


def term_word_key(word: str) -> str:
    """Index key of one normalised term word: Arabic words drop a leading «ال»."""
    if _is_arabic(word) and word.startswith("ال") and len(word) - 2 >= _MIN_STEM:
        return word[2:]
    return word


def split_units(text: str) -> str:
    """Raw text → normalised text with sentence and paragraph marker tokens."""
    if not text:
        return ""
    if _LATIN.search(text):
        if _ABBREVIATION_HINT.search(text):
            text = _ABBREVIATION.sub(lambda m: m.group().replace(".", ""), text)
        text = _POSSESSIVE.sub("", text)  # "coalition's presence" → "coalition presence"
    text = _SENTENCE_END.sub(f" {SENTENCE_MARK} ", text)
    return normalize_for_matching(text.replace("\n", f" {PARAGRAPH_MARK} "))


def plain_tokens(text: str) -> list[str]:
    """The normalised tokens of ``text`` without the sentence and paragraph markers."""
    return split_units(text).replace(SENTENCE_MARK, " ").replace(PARAGRAPH_MARK, " ").split()


class PhraseIndex:
    """Leftmost-longest phrase lookup over token ids; ``payloads[i]`` belongs to phrase i."""

    def __init__(
        self,
        phrases: Iterable[tuple[str, object]],
        rewrites: Iterable[tuple[str, str]] = (),
    ) -> None:
        # Spelling rewrites (e.g. اميرك → امريك) fold variants on both sides.
        self._rewrites = [
            (normalize_for_matching(old), normalize_for_matching(new)) for old, new in rewrites
        ]
        self.payloads: list[object] = []
        self._word_ids: dict[str, int] = {}
        self._prefix_ids: dict[int, dict[str, int]] = {}
        self._trie: dict[int, dict] = {}  # word id → child node; key -1 holds the phrase
        self._cache: dict[str, tuple[int, ...]] = {}
        for phrase, payload in phrases:
            ids: list[int] = []
            for raw_word in phrase.split():
                words = normalize_for_matching(raw_word.rstrip("*")).split()
                for position, word in enumerate(words):
                    wildcard = raw_word.endswith("*") and position == len(words) - 1
                    key = self._rewrite(term_word_key(word))
                    ids.append(self._word_id(key, wildcard))
            if not ids:
                continue
            node = self._trie
            for word_id in ids:
                node = node.setdefault(word_id, {})
            node.setdefault(_PHRASE, len(self.payloads))  # first definition wins
            self.payloads.append(payload)
        self._prefix_lengths = sorted(self._prefix_ids, reverse=True)

    def _rewrite(self, word: str) -> str:
        for old, new in self._rewrites:
            if old in word:
                word = word.replace(old, new)
        return word

    def _word_id(self, key: str, wildcard: bool) -> int:
        name = key + "*" if wildcard else key
        if name not in self._word_ids:
            self._word_ids[name] = len(self._word_ids)
            if wildcard and len(key) >= _MIN_WILDCARD:
                self._prefix_ids.setdefault(len(key), {})[key] = self._word_ids[name]
        return self._word_ids[name]

    def ids_of(self, token: str) -> tuple[int, ...]:
        """Word ids ``token`` can stand for (cached per distinct token)."""
        found = self._cache.get(token)
        if found is not None:
            return found
        ids: list[int] = []
        for variant in token_variants(self._rewrite(token)):
            word_id = self._word_ids.get(variant)
            if word_id is not None:
                ids.append(word_id)
            for length in self._prefix_lengths:
                if length <= len(variant):
                    word_id = self._prefix_ids[length].get(variant[:length])
                    if word_id is not None:
                        ids.append(word_id)
        found = tuple(ids)
        if len(self._cache) > 500_000:  # bound memory on endless streams
            self._cache.clear()
        self._cache[token] = found
        return found

    def find(self, tokens: list[str]) -> list[tuple[int, int]]:
        """Leftmost-longest ``(phrase, start)`` hits in ``tokens`` (one unit, no markers)."""
        ids = list(map(self._cache.get, tokens))
        for position, found in enumerate(ids):
            if found is None:
                ids[position] = self.ids_of(tokens[position])
        hits: list[tuple[int, int]] = []
        end, resume = len(ids), 0
        trie = self._trie
        for position in [p for p, found in enumerate(ids) if found]:
            if position < resume:
                continue
            best_size, best_phrase = 0, -1
            frontier, cursor = [trie], position
            while frontier and cursor < end:
                following = []
                for node in frontier:
                    for word_id in ids[cursor]:
                        child = node.get(word_id)
                        if child is not None:
                            following.append(child)
                            phrase = child.get(_PHRASE)
                            if phrase is not None and cursor - position + 1 > best_size:
                                best_size, best_phrase = cursor - position + 1, phrase
                frontier, cursor = following, cursor + 1
            if best_size:
                hits.append((best_phrase, position))
                resume = position + best_size
        return hits
