"""The labelled corpus the topic scorer is trained and judged on, and its fixed test split.

``data/topic/labelled.jsonl`` (provenance in ``data/topic/README.md``) holds one real,
published article or excerpt per line: ``id``, ``url``, ``outlet``, ``date``, ``year``,
``language``, ``label`` (0/1), ``period`` or ``negative_kind``, ``title`` and ``text``.
Items from the ANT corpus carry no text: ``ant_row`` (row number) and ``id`` (its docno)
point into ``../shared/eval/arabic_text/ant_multisource_v2.1.parquet``, read at run time;
when that file is absent they are skipped with a message, never an error.

``data/topic/split.json`` fixes which items are held out (``test``): chosen once,
before any tuning, stratified by language, period and label, deterministic (ordered by a
salted hash of the id), and stored with the hash of its id list. Items labelled later
are assigned by :func:`assign_new` (the same salted hash, one in three to the test
side) and appended, so the test side never depends on what training saw.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from marsad.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "topic"
DEFAULT_CORPUS = DATA / "labelled.jsonl"
DEFAULT_SPLIT = DATA / "split.json"
DEFAULT_AUDIT = DATA / "audit.jsonl"
SALT = "marsad-topic-split-v1"


ANT_IN_SHARED = Path("shared") / "eval" / "arabic_text" / "ant_multisource_v2.1.parquet"


def default_ant_path() -> Path:
    """``$MARSAD_ANT``, else ``../shared/eval/...`` beside the project (or beside the
    folder holding it, for a git worktree)."""
    if os.environ.get("MARSAD_ANT"):
        return Path(os.environ["MARSAD_ANT"])
    candidates = [ROOT.parent / ANT_IN_SHARED, ROOT.parent.parent / ANT_IN_SHARED]
    return next((path for path in candidates if path.exists()), candidates[0])


@dataclass
class Corpus:
    items: list[dict]
    skipped: dict[str, int] = field(default_factory=dict)  # reason → count
    sha256: str = ""  # of the label file's bytes

    def by_id(self) -> dict[str, dict]:
        return {item["id"]: item for item in self.items}


def _ant_texts(path: Path, rows: list[int]) -> dict[int, dict]:
    import pyarrow.parquet as pq  # only when ANT items are asked for

    table = pq.read_table(path, columns=["docno", "title", "text"])
    return {row: table.slice(row, 1).to_pylist()[0] for row in rows if 0 <= row < len(table)}


def load_corpus(path: str | Path = DEFAULT_CORPUS, ant_path: str | Path | None = None) -> Corpus:
    """Labelled items with their texts (ANT texts read from ``ant_path`` when present)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read labelled corpus {path}: {exc}") from None
    items: list[dict] = []
    for number, line in enumerate(raw.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} line {number} is not JSON: {exc.msg}") from None
        if item.get("label") not in (0, 1):
            raise InputError(f"{path} line {number}: needs a label 0/1")
        if "id" not in item:
            # A labelling round's own file (no ids yet): score it before its labels
            # are used, e.g. `marsad eval topic --labels round.jsonl --no-split`.
            item["id"] = f"{path.name}:{number}"
        items.append(item)
    corpus = Corpus([], {}, hashlib.sha256(raw).hexdigest())
    ant_rows = [int(i["ant_row"]) for i in items if "ant_row" in i and not i.get("text")]
    ant_path = Path(ant_path) if ant_path else default_ant_path()
    ant = _ant_texts(ant_path, ant_rows) if ant_rows and ant_path.exists() else {}
    for item in items:
        if "ant_row" in item and not item.get("text"):
            found = ant.get(int(item["ant_row"]))
            if found is None:
                corpus.skipped["ANT corpus absent"] = corpus.skipped.get("ANT corpus absent", 0) + 1
                continue
            if found["docno"] != item["id"]:
                raise InputError(f"ANT row {item['ant_row']} is {found['docno']}, not {item['id']}")
            item = {**item, "title": found["title"] or "", "text": found["text"] or ""}
        corpus.items.append(item)
    return corpus


# -- the label audit ----------------------------------------------------------------------
def audited_label(entry: dict) -> int:
    """The label a blind second reading leaves: the first one where both readers agreed,
    else the third reader's (who saw both readings and their reasons, not the scorer's)."""
    first, second = int(entry["first"]), int(entry["second"])
    if first == second:
        return first
    if entry.get("adjudicated") not in (0, 1):
        raise InputError(
            f"audit entry {entry.get('id')}: the readers disagree and no third reading"
        )
    return int(entry["adjudicated"])


def apply_audit(items: list[dict], entries: list[dict]) -> dict[str, int]:
    """Set each audited item's label to :func:`audited_label`, in place.

    An item whose label changes keeps the first one as ``label_first``; every audited item
    says how the audit went in ``audit`` (``agreed``, ``upheld``: the third reader sided
    with the first label, ``changed``). Counts of each are returned. An entry must name an
    item with the first label it recorded: an audit of other labels is refused.
    """
    by_id = {item["id"]: item for item in items}
    counts = {"agreed": 0, "upheld": 0, "changed": 0}
    for entry in entries:
        item = by_id.get(entry["id"])
        if item is None:
            continue  # an item dropped since (ANT absent, a duplicate): nothing to relabel
        first = int(item.get("label_first", item["label"]))
        if first != int(entry["first"]):
            raise InputError(
                f"audit entry {entry['id']}: first label {entry['first']}, corpus {first}"
            )
        label = audited_label(entry)
        outcome = (
            "agreed" if int(entry["second"]) == first else "upheld" if label == first else "changed"
        )
        item["label"], item["audit"] = label, outcome
        if label != first:
            item["label_first"] = first
        counts[outcome] += 1
    return counts


# -- the test split -----------------------------------------------------------------------
def _rank(item_id: str) -> str:
    return hashlib.sha256(f"{SALT}:{item_id}".encode()).hexdigest()


def stratum(item: dict) -> tuple[str, str, int]:
    """(language, period bucket, label): periods of the story, or years for negatives."""
    year = int(item.get("year") or 0)
    bucket = str(item.get("period") or "") if item.get("label") else ""
    if not bucket:
        bucket = "<=2011" if year <= 2011 else "2012-2017" if year <= 2017 else (
            "2018-2021" if year <= 2021 else ">=2022")  # fmt: skip
    return str(item.get("language", "")), bucket, int(item["label"])


def make_split(items: list[dict]) -> list[str]:
    """About a third of each stratum, deterministic: items ordered by salted hash, every
    third one held out, the starting offset carried from stratum to stratum so that
    small strata do not all give their first item to the same side."""
    strata: dict[tuple, list[str]] = defaultdict(list)
    for item in items:
        strata[stratum(item)].append(item["id"])
    test: list[str] = []
    offset = 0
    for key in sorted(strata):
        ids = sorted(strata[key], key=_rank)
        for position, item_id in enumerate(ids):
            if (position + offset) % 3 == 0:
                test.append(item_id)
        offset = (offset + len(ids)) % 3
    return sorted(test)


def assign_new(item_id: str) -> bool:
    """The held-out side of an item labelled after the split was fixed."""
    return int(_rank(item_id)[:8], 16) % 3 == 0


def ids_hash(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()


@dataclass
class Split:
    test: set[str]
    sha256: str
    tuning: set[str] = field(default_factory=set)
    fixed: list = field(default_factory=list)  # stages at which items were assigned
    # Held out whole because they were labelled after the scorer was fixed: the
    # cleanest check, reported on its own by ``marsad eval topic``.
    fresh: set[str] = field(default_factory=set)

    def is_test(self, item_id: str) -> bool:
        """Held out; an item assigned after the split was fixed goes by :func:`assign_new`."""
        if item_id in self.test:
            return True
        return item_id not in self.tuning and assign_new(item_id)

    def parts(self, items: list[dict]) -> tuple[list[dict], list[dict]]:
        """(tuning, test) items."""
        tuning = [i for i in items if not self.is_test(i["id"])]
        return tuning, [i for i in items if self.is_test(i["id"])]


def load_split(path: str | Path = DEFAULT_SPLIT) -> Split:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read split file {path}: {exc}") from None
    test = list(data.get("test") or [])
    if ids_hash(test) != data.get("test_sha256"):
        raise InputError(f"{path}: the test ids do not match their recorded hash")
    fresh = set(data.get("fresh") or [])
    if not fresh <= set(test):
        raise InputError(f"{path}: every fresh item must be on the test side")
    return Split(
        set(test),
        data["test_sha256"],
        set(data.get("tuning") or []),
        data.get("fixed") or [],
        fresh,
    )


def save_split(
    path: str | Path,
    test: list[str],
    tuning: list[str],
    fixed: list[dict],
    note: str,
    fresh: list[str] | None = None,
) -> None:
    """``fixed``: one entry per stage at which items were assigned (date, counts);
    ``fresh``: test items held out whole as a batch labelled after the scorer was fixed."""
    data = {
        "note": note,
        "fixed": fixed,
        "rule": "stratified by (language, period, label), salted-hash order, every third "
        f"held out (salt {SALT!r}); items labelled later: marsad.topic.corpus.assign_new",
        "test_sha256": ids_hash(test),
        "test": sorted(test),
        "tuning": sorted(tuning),
    }
    if fresh:
        data["fresh"] = sorted(fresh)
    Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
