"""Corpora and the pair judge shared by the dedup benchmarks (built at run time, never stored).

* ``load_ant``: the ANT corpus (``../shared/eval/arabic_text``), one ``Doc`` per row,
  ids ``ant<row>`` (the row numbers ``ant_pairs.parquet`` uses).
* ``Judge``: the labelling rule of the mined pairs, recomputed for any pair: word
  5-gram Jaccard after light Arabic normalisation (tashkeel and tatweel removed, alef
  forms folded, ى→ي, ة→ه, tokens = runs of word characters). It reproduces the
  ``jaccard5`` column of ``ant_pairs.parquet`` to its 4 decimals on every pair, so
  pairs the miner never listed (inside a cluster, or among synthetic copies) are
  labelled exactly as the held-out judge labels its own.
* ``syndicate_corpus``: a supplement of realistic wire syndication built on ANT
  articles: each story is carried by several of 14 outlets, each outlet with its own
  habits (dateline, truncation, a background paragraph, a credit or chrome around the
  body, light rewording, changed numbers, developing-story updates). Follow-ups that
  quote a story as background and digests that quote two stories are the traps for
  precision. Its pairs are labelled by ``Judge``, not by construction.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
from collections.abc import Iterable
from datetime import UTC
from email.utils import parsedate_to_datetime
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from marsad.dedup.neardup import Doc

ROOT = Path(__file__).resolve().parents[1]


def default_eval_dir() -> Path:
    """``$MARSAD_EVAL_DIR``, else ``../shared/eval`` beside the checkout (or beside the
    folder holding it, for a git worktree such as ``wt/<name>``)."""
    if os.environ.get("MARSAD_EVAL_DIR"):
        return Path(os.environ["MARSAD_EVAL_DIR"])
    for base in (ROOT.parent, ROOT.parent.parent):
        if (base / "shared" / "eval").is_dir():
            return base / "shared" / "eval"
    return ROOT.parent / "shared" / "eval"


EVAL_DIR = default_eval_dir()
ANT_PATH = Path("arabic_text") / "ant_multisource_v2.1.parquet"
PAIRS_PATH = Path("neardup") / "ant_pairs.parquet"
HOUR_US = 3_600_000_000

SAME, DIFFERENT = 0.5, 0.3  # the labels' bands: >= SAME one story, < DIFFERENT two


def eval_files(eval_dir: Path) -> list[Path]:
    return [eval_dir / ANT_PATH, eval_dir / PAIRS_PATH]


def missing_eval_files(eval_dir: Path) -> list[str]:
    return [str(path) for path in eval_files(eval_dir) if not path.exists()]


def published_us(value: str | None) -> int | None:
    try:
        return int(parsedate_to_datetime(value).astimezone(UTC).timestamp() * 1_000_000)
    except (TypeError, ValueError):
        return None


def load_ant(eval_dir: Path, limit: int = 0) -> tuple[list[Doc], list[str]]:
    """(documents, category per document) of the ANT corpus, in row order."""
    table = pq.read_table(eval_dir / ANT_PATH, columns=["src", "cat", "time", "text"])
    if limit:
        table = table.slice(0, limit)
    docs, categories = [], []
    for row, record in enumerate(table.to_pylist()):
        docs.append(
            Doc(
                f"ant{row}", record["text"] or "", record["src"] or "", published_us(record["time"])
            )
        )
        categories.append(record["cat"] or "")
    return docs, categories


def load_mined_pairs(eval_dir: Path) -> list[dict]:
    """Rows of ant_pairs.parquet with ``a``/``b`` as document ids."""
    rows = pq.read_table(eval_dir / PAIRS_PATH).to_pylist()
    for row in rows:
        row["a"], row["b"] = f"ant{row['doc_a']}", f"ant{row['doc_b']}"
    return rows


# --- the judge ---------------------------------------------------------------------

_TASHKEEL = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_ALEF = re.compile("[إأآ]")
_WORD = re.compile(r"\w+")


def judge_tokens(text: str) -> list[str]:
    text = _ALEF.sub("ا", _TASHKEEL.sub("", text or ""))
    return _WORD.findall(text.replace("ى", "ي").replace("ة", "ه"))


def _shingle_set(tokens: list[str], size: int = 5) -> np.ndarray:
    if len(tokens) < size:
        return np.empty(0, dtype=np.int64)
    grams = {hash(tuple(tokens[i : i + size])) for i in range(len(tokens) - size + 1)}
    return np.fromiter(grams, dtype=np.int64, count=len(grams))


class Judge:
    """Exact word 5-gram Jaccard of two documents' texts, as the mined pairs are labelled."""

    def __init__(self, docs: Iterable[Doc]) -> None:
        self.texts = {doc.doc_id: doc.text for doc in docs}
        self._sets: dict[str, np.ndarray] = {}

    def _set(self, doc_id: str) -> np.ndarray:
        found = self._sets.get(doc_id)
        if found is None:
            found = self._sets[doc_id] = np.sort(_shingle_set(judge_tokens(self.texts[doc_id])))
        return found

    def similarity(self, a: str, b: str) -> float:
        left, right = self._set(a), self._set(b)
        if not left.size or not right.size:
            return 0.0
        common = np.intersect1d(left, right, assume_unique=True).size
        return common / (left.size + right.size - common)

    def label(self, a: str, b: str) -> str:
        similarity = self.similarity(a, b)
        return "same" if similarity >= SAME else "different" if similarity < DIFFERENT else "grey"


# --- realistic syndication -----------------------------------------------------------

DATELINES = [
    "بغداد - (رويترز) - ",
    "واشنطن (أ ف ب) - ",
    "دبي - العربية.نت: ",
    "القاهرة - وكالات: ",
    "بيروت - «الحياة» - ",
    "عمان - بترا - ",
    "الرياض - واس - ",
]
CREDITS = [
    "(إعداد محمد علي للنشرة العربية - تحرير سامح الخطيب)",
    "المصدر: وكالات",
    "المصدر: فرانس برس",
    "(رويترز)",
    "نقلا عن وكالة الأناضول",
]
CHROME = [
    ["الرئيسية » أخبار » الشرق الأوسط"],
    ["آخر تحديث: منذ ساعتين"],
    ["شارك الخبر", "تابعنا على تويتر وفيسبوك"],
    ["الرابط المختصر https://example.net/?p=1234"],
    ["جميع الحقوق محفوظة © 2018"],
]
_NUMBER = re.compile(r"\d+")


@dataclasses.dataclass(frozen=True)
class OutletStyle:
    """How one outlet edits wire copy (probabilities, fractions)."""

    name: str
    dateline: str | None
    truncate: float  # chance to keep only the first paragraphs
    background: float  # chance to add a paragraph of its own
    credit: str | None
    chrome: tuple[str, ...]  # lines around the body on every page of this outlet
    reword: float  # share of words changed
    numbers: float  # chance to change a figure


def outlet_styles(rng: random.Random, count: int = 14) -> list[OutletStyle]:
    styles = []
    for number in range(count):
        chrome = tuple(line for block in rng.sample(CHROME, rng.randint(0, 2)) for line in block)
        styles.append(
            OutletStyle(
                name=f"outlet{number + 1:02d}",
                dateline=rng.choice([None, *DATELINES]),
                truncate=rng.choice([0.0, 0.2, 0.5]),
                background=rng.choice([0.0, 0.2, 0.4]),
                credit=rng.choice([None, None, *CREDITS]),
                chrome=chrome,
                reword=rng.choice([0.0, 0.01, 0.02, 0.04]),
                numbers=rng.choice([0.0, 0.3]),
            )
        )
    return styles


def _paragraphs(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _reword(paragraph: str, share: float, vocabulary: list[str], rng: random.Random) -> str:
    if share <= 0:
        return paragraph
    words = paragraph.split()
    for index in range(len(words)):
        draw = rng.random()
        if draw < share / 2:
            words[index] = rng.choice(vocabulary)  # a synonym, a different verb form
        elif draw < share:
            words[index] = ""  # a dropped word
    return " ".join(word for word in words if word)


def outlet_copy(
    body: list[str],
    style: OutletStyle,
    rng: random.Random,
    vocabulary: list[str],
    background: list[str],
) -> str:
    """One outlet's version of a wire story given as paragraphs."""
    paragraphs = list(body)
    if len(paragraphs) >= 4 and rng.random() < style.truncate:
        paragraphs = paragraphs[: rng.randint(max(2, len(paragraphs) // 2), len(paragraphs) - 1)]
    if len(paragraphs) >= 5 and rng.random() < 0.15:
        del paragraphs[rng.randrange(1, len(paragraphs) - 1)]  # a middle paragraph cut
    paragraphs = [_reword(p, style.reword, vocabulary, rng) for p in paragraphs]
    if rng.random() < style.numbers:
        spots = [(i, m) for i, p in enumerate(paragraphs) for m in _NUMBER.finditer(p)]
        if spots:
            i, match = rng.choice(spots)
            changed = str(int(match.group()) + rng.randint(1, 9))
            paragraphs[i] = paragraphs[i][: match.start()] + changed + paragraphs[i][match.end() :]
    if background and rng.random() < style.background:
        paragraphs.insert(rng.randint(1, len(paragraphs)), rng.choice(background))
    if style.dateline:
        paragraphs[0] = style.dateline + paragraphs[0]
    if style.credit:
        paragraphs.append(style.credit)
    half = len(style.chrome) // 2
    return "\n".join([*style.chrome[:half], *paragraphs, *style.chrome[half:]])


@dataclasses.dataclass
class Supplement:
    docs: list[Doc]
    stories: dict[str, list[str]]  # story id -> ids of its copies (original first)
    traps: dict[str, str]  # follow-up / digest id -> kind


def syndicate_corpus(
    ant: list[Doc],
    categories: list[str],
    stories: int,
    seed: int,
    id_prefix: str = "syn",
    half: int | None = None,
) -> Supplement:
    """Wire stories carried by several outlets, plus follow-ups and digests (see module doc).

    Originals are ANT articles of at least 4 paragraphs and 120 words, drawn with
    ``seed``; ``half`` (0 or 1) draws them only from even or odd rows, so a dev and a
    test supplement never share an original.
    """
    rng = random.Random(seed)
    styles = outlet_styles(rng)
    eligible = [
        i
        for i, doc in enumerate(ant)
        if len(_paragraphs(doc.text)) >= 4
        and len(doc.text.split()) >= 120
        and doc.published_us
        and (half is None or i % 2 == half)
    ]
    by_category: dict[str, list[int]] = {}
    for i, doc in enumerate(ant):
        if len(doc.text.split()) >= 40:
            by_category.setdefault(categories[i], []).append(i)
    chosen = rng.sample(eligible, min(stories, len(eligible)))
    docs: list[Doc] = []
    story_ids: dict[str, list[str]] = {}
    traps: dict[str, str] = {}
    for number, index in enumerate(chosen):
        original = ant[index]
        body = _paragraphs(original.text)
        vocabulary = original.text.split()
        related = by_category.get(categories[index], [])
        background = [
            p
            for j in rng.sample(related, min(3, len(related)))
            for p in _paragraphs(ant[j].text)[:1]
        ]
        # Copies per story: most stories reach a few outlets, some reach most of them.
        carriers = rng.sample(styles, min(len(styles), 1 + int(rng.expovariate(1 / 3.0))))
        members = [original.doc_id]
        start = original.published_us or 0
        for c, style in enumerate(carriers):
            version = body
            if rng.random() < 0.2:  # a developing story: the wire sent an update first
                extra = rng.choice(background) if background else body[-1]
                version = [body[0], extra, *body[1:]]
            copy_id = f"{id_prefix}{number}-{c}"
            when = start + int(rng.expovariate(1 / 3.0) * HOUR_US) + 60_000_000
            docs.append(
                Doc(
                    copy_id,
                    outlet_copy(version, style, rng, vocabulary, background),
                    style.name,
                    when,
                )
            )
            members.append(copy_id)
        story_ids[f"{id_prefix}{number}"] = members
        if number % 10 == 0 and related:  # a follow-up quoting two paragraphs as background
            other = _paragraphs(ant[rng.choice(related)].text)
            text = "\n".join([*other[:4], *body[:2]])
            trap = f"{id_prefix}{number}-followup"
            docs.append(Doc(trap, text, rng.choice(styles).name, start + 30 * HOUR_US))
            traps[trap] = "follow_up"
        if number % 10 == 5 and number > 0:  # a digest quoting this story and the previous one
            previous = _paragraphs(ant[chosen[number - 1]].text)
            text = "\n".join(["أبرز أخبار اليوم", *previous, *body])
            trap = f"{id_prefix}{number}-digest"
            docs.append(Doc(trap, text, "digest-outlet", start + 12 * HOUR_US))
            traps[trap] = "digest"
    return Supplement(docs, story_ids, traps)
