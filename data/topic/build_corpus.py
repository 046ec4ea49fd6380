"""Build data/topic/labelled.jsonl from the labelling files, and fix the test split.

    .venv/bin/python data/topic/build_corpus.py [--labels /work/labels] [--fix-split]
    .venv/bin/python data/topic/build_corpus.py --extend --labels NEW_DIR --fix-split

Inputs: the web excerpts labelled by the guide (every ``<labels>/*.jsonl``: ``en``,
``ar`` and their extensions ``en2``, ``ar2`` …; stored public news pages, text as stored) and the ANT ids labelled by the topic
engineer (``data/topic/ant_labels.jsonl``; ANT texts read from ../shared/eval for the
checks only, never written). Each item is checked (fields, language, label, at least 200
characters of text), given a stable id (web: ``w_`` + 12 hex of the SHA-1 of the URL;
ANT: its docno), and de-duplicated: by normalised URL, then by near-identical text
(two items of one language whose word 5-shingle sets overlap by 80% of the smaller
one: the first labelled is kept). What was dropped and why is printed.

With ``--extend`` the web items already in ``data/topic/labelled.jsonl`` come first and
the label files only add to them, so a new round needs only its own files (the earlier
rounds' files live outside the project).

``data/topic/audit.jsonl``, when present, is applied last: the labels a blind second
reading of the borderline items (and a random control sample) left, the third reader
deciding where the first two disagreed (``marsad.topic.corpus.apply_audit``).

``--fix-split`` assigns every item not yet in ``data/topic/split.json`` (stratified by
language, period and label; marsad.topic.corpus.make_split) and records the stage.
Items already assigned never move. With ``--hold-out-all`` every new item is held out and
listed as ``fresh``: a batch labelled after the scorer was fixed, which ``marsad eval
topic`` reports on its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from marsad.text.normalize import tokens  # noqa: E402
from marsad.topic.corpus import (  # noqa: E402
    DATA,
    DEFAULT_AUDIT,
    DEFAULT_CORPUS,
    DEFAULT_SPLIT,
    apply_audit,
    default_ant_path,
    load_split,
    make_split,
    save_split,
)

FIELDS = ("url", "outlet", "date", "year", "language", "label", "text")
KEEP = (
    "id", "url", "outlet", "date", "date_source", "year", "language", "label", "borderline",
    "period", "negative_kind", "title", "text", "provenance", "note", "audit", "label_first",
)  # fmt: skip
MIN_CHARS = 200
CONTAINMENT = 0.8


def url_key(url: str) -> str:
    parts = urlsplit(url.strip())
    host = parts.netloc.lower().removeprefix("www.").removeprefix("m.")
    return f"{host}{parts.path.rstrip('/')}?{parts.query}"


def shingles(text: str, size: int = 5) -> set[int]:
    words = tokens(text)
    return {hash(" ".join(words[i : i + size])) for i in range(max(len(words) - size + 1, 1))}


def read_web(path: Path, dropped: Counter) -> list[dict]:
    items = []
    if not path.exists():
        return items
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            dropped[f"{path.name}: not JSON"] += 1
            continue
        if "ant_row" in row:  # an ANT item of the corpus (--extend): ant_labels.jsonl has it
            continue
        missing = [f for f in FIELDS if row.get(f) in (None, "")]
        if missing:
            dropped[f"{path.name}: missing {','.join(missing)}"] += 1
            continue
        if row["language"] not in ("ar", "en") or row["label"] not in (0, 1):
            dropped[f"{path.name}: bad language or label"] += 1
            continue
        if len(row["text"]) < MIN_CHARS:
            dropped[f"{path.name}: text under {MIN_CHARS} characters"] += 1
            continue
        row["id"] = "w_" + hashlib.sha1(url_key(row["url"]).encode()).hexdigest()[:12]
        row["source_line"] = f"{path.name}:{number}"
        items.append(row)
    return items


def read_ant(path: Path) -> list[dict]:
    import pyarrow.parquet as pq

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    ant = default_ant_path()
    if ant.exists():
        table = pq.read_table(ant, columns=["docno", "title", "text"])
        for row in rows:
            found = table.slice(row["ant_row"], 1).to_pylist()[0]
            assert found["docno"] == row["id"], row
            row["_text"] = f"{found['title']}\n{found['text']}"
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", default="/work/labels")
    parser.add_argument("--fix-split", action="store_true")
    parser.add_argument(
        "--hold-out-all",
        action="store_true",
        help="with --fix-split: hold out every new item (a fresh batch labelled after the "
        "scorer was fixed, reported on its own)",
    )
    parser.add_argument(
        "--extend",
        action="store_true",
        help="keep the web items of the current corpus first; the label files add to them",
    )
    parser.add_argument(
        "--audit",
        default=str(DEFAULT_AUDIT),
        help="the blind second reading's record (default: data/topic/audit.jsonl, applied "
        "when present): each audited item gets the label the audit left",
    )
    args = parser.parse_args(argv)
    dropped: Counter = Counter()
    files = sorted(Path(args.labels).glob("*.jsonl"))
    if args.extend:
        files.insert(0, DEFAULT_CORPUS)  # its ANT items have no text and are skipped here
    web = [item for path in files for item in read_web(path, dropped)]
    ant = read_ant(DATA / "ant_labels.jsonl")
    kept: list[dict] = []
    seen_urls: set[str] = set()
    index: dict[tuple[str, int], list[int]] = defaultdict(list)
    sets: list[set[int]] = []
    for item in ant + web:
        key = url_key(item["url"])
        if key in seen_urls:
            dropped["duplicate URL"] += 1
            continue
        text = item.get("_text") or f"{item.get('title') or ''}\n{item['text']}"
        own = shingles(text)
        counts: Counter = Counter()
        for s in own:
            for other in index.get((item["language"], s), ()):
                counts[other] += 1
        twin = next(
            (o for o, c in counts.items() if c >= CONTAINMENT * min(len(own), len(sets[o]))), None
        )
        if twin is not None:
            first = kept[twin]
            if first["label"] != item["label"]:
                print(f"  label conflict between near-identical {first['id']} and {item['id']}")
            dropped["near-identical text"] += 1
            continue
        seen_urls.add(key)
        for s in own:
            index[(item["language"], s)].append(len(kept))
        sets.append(own)
        kept.append(item)
    if Path(args.audit).exists():
        audit = Path(args.audit).read_text(encoding="utf-8")
        entries = [json.loads(line) for line in audit.splitlines() if line]
        print(f"  audit ({args.audit}): {apply_audit(kept, entries)}")
    with DEFAULT_CORPUS.open("w", encoding="utf-8") as handle:
        for item in kept:
            row = {k: item[k] for k in KEEP if k in item}
            if "ant_row" in item:
                row.pop("text", None)
                row["ant_row"] = item["ant_row"]
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(kept)} items -> {DEFAULT_CORPUS}; dropped: {dict(dropped) or 'none'}")
    summary = Counter((i["language"], i["label"]) for i in kept)
    print("  by language/label:", dict(sorted(summary.items())))
    if args.fix_split:
        split = load_split() if DEFAULT_SPLIT.exists() else None
        assigned = (split.test | split.tuning) if split else set()
        new = [i for i in kept if i["id"] not in assigned]
        test = [i["id"] for i in new] if args.hold_out_all else make_split(new)
        fresh = sorted(split.fresh) if split else []
        if args.hold_out_all:
            fresh += test
        old_test = sorted(split.test) if split else []
        old_tuning = sorted(split.tuning) if split else []
        stages = list(split.fixed) if split else []
        stage = {"date": dt.date.today().isoformat(), "assigned": len(new), "test": len(test)}
        if args.hold_out_all:
            stage["held_out_whole"] = "fresh batch, labelled after the scorer was fixed"
        stages.append(stage)
        new_tuning = [i["id"] for i in new if i["id"] not in set(test)]
        save_split(
            DEFAULT_SPLIT, old_test + test, old_tuning + new_tuning, stages,
            "held-out test side of data/topic/labelled.jsonl: never used for fitting or "
            "choosing C, features or the threshold", fresh,
        )  # fmt: skip
        print(f"  split: {len(new)} newly assigned, {len(test)} of them held out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
