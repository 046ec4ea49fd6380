"""``marsad tag``, ``marsad train topic`` and ``marsad eval topic``.

    marsad tag --input articles.parquet --output tagged.parquet [--topic TOPIC.yaml]
    marsad train topic [--labels data/topic/labelled.jsonl] [--split data/topic/split.json]
        [--topic TOPIC.yaml] [--output WEIGHTS.json]
    marsad eval topic [--labels data/topic/labelled.jsonl] [--split ...] [--topic TOPIC.yaml]
    marsad eval topic --labels labels.jsonl --no-split [--texts TABLE_OR_DIR ...]

``tag`` reads Parquet or JSONL (by extension) with ``id`` and ``text`` and optionally
``title`` and ``language``, and writes the same rows with ``topic_score``,
``is_relevant``, ``subtopics``, ``matched_terms`` and ``entities`` added (shaped as in
the articles schema); ``language`` is filled from the text where missing.

``train topic`` fits the weights file beside the topic on the tuning side of the split
(``marsad.topic.train``; needs the ``train`` extra). ``eval topic`` prints the
cross-validated figures recorded in the weights file (tuning side) and the figures on
the held-out test side, per language with 95% Wilson intervals, then every misclassified
held-out item with the terms that decided it. With ``--no-split`` (or a label file that is
not the corpus) every item is scored. Label rows need ``id``, ``label`` (0/1) and
``text`` (optional ``title``, ``language``); ANT rows (``ant_row``) are read from the ANT
corpus, other rows without text from a ``--texts`` table (matched on ``id`` or ``docno``)
or a folder of ``<id>.txt`` files whose first line is the title.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow as pa

from marsad.errors import InputError
from marsad.topic.corpus import DEFAULT_CORPUS, DEFAULT_SPLIT, Split, load_corpus, load_split
from marsad.topic.definition import TopicDefinition
from marsad.topic.metrics import Figures, format_table
from marsad.topic.tagger import TopicTags, load_tagger
from pipeline.tables import read_rows, write_table
from schemas.tables import ARTICLES_SCHEMA

TAG_FIELDS = [
    ARTICLES_SCHEMA.field(name)
    for name in ("topic_score", "is_relevant", "subtopics", "matched_terms", "entities")
]


def _topic_options(parser: argparse.ArgumentParser, threshold: bool = True) -> None:
    parser.add_argument(
        "--topic", help="Topic definition YAML (default: the bundled Iraq–US withdrawal topic)."
    )
    parser.add_argument(
        "--weights",
        help="Weights file (default: the one beside the topic, <stem>.weights.json).",
    )
    if threshold:
        parser.add_argument(
            "--threshold",
            type=float,
            help="One relevance threshold for every language (default: the weights file's, "
            "one per language, chosen by cross-validation).",
        )


def add_tag_parser(commands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "tag",
        help="Tag any table of articles (Parquet or JSONL) for a topic.",
        description="Add topic_score, is_relevant, subtopics, matched_terms and entities to "
        "a table with columns id, text and optionally title, language.",
    )
    parser.add_argument(
        "--input",
        required=True,
        help="Parquet or JSONL file of articles, or a marsad articles/ folder (Hive Parquet).",
    )
    parser.add_argument("--output", required=True, help="Output file (.parquet or .jsonl).")
    _topic_options(parser)
    return parser


def add_eval_topic_parser(evaluations) -> argparse.ArgumentParser:
    parser = evaluations.add_parser(
        "topic",
        help="Precision and recall of the topic tagger: cross-validated and held out.",
        description="Print the cross-validated figures of the weights file (tuning side) and "
        "precision, recall and the confusion counts on the held-out test side, per language "
        "with 95%% Wilson intervals, then every misclassified held-out article with the "
        "terms that decided it.",
    )
    parser.add_argument(
        "--labels",
        action="append",
        help="JSONL with label (0/1), text or ant_row, optional id (else <file>:<line>), "
        "title, language. "
        f"Repeatable. Default: {DEFAULT_CORPUS.relative_to(DEFAULT_CORPUS.parents[2])}.",
    )
    parser.add_argument(
        "--split", help="Split file naming the held-out items (default: the corpus's)."
    )
    parser.add_argument(
        "--no-split", action="store_true", help="Score every labelled item (no CV figures)."
    )
    parser.add_argument(
        "--texts",
        action="append",
        default=[],
        help="Table (Parquet/JSONL, by id or docno) or folder of <id>.txt supplying texts "
        "for label rows without one. Repeatable.",
    )
    parser.add_argument("--ant", help="ANT corpus Parquet (default: ../shared/eval/...).")
    _topic_options(parser)
    return parser


def add_train_topic_parser(training) -> argparse.ArgumentParser:
    parser = training.add_parser(
        "topic",
        help="Fit the topic's weights file on labelled articles (needs marsad[train]).",
        description="Fit an L2 logistic model over the topic's evidence features on the "
        "tuning side of the split; C and the threshold are chosen by cross-validation. "
        "Writes the weights file beside the topic (or --output).",
    )
    parser.add_argument(
        "--labels",
        action="append",
        help="Labelled JSONL (default: data/topic/labelled.jsonl). Repeatable.",
    )
    parser.add_argument("--split", help="Split file (default: data/topic/split.json).")
    parser.add_argument(
        "--no-split", action="store_true", help="Fit on every labelled item (no held-out side)."
    )
    parser.add_argument("--ant", help="ANT corpus Parquet (default: ../shared/eval/...).")
    parser.add_argument("--output", help="Weights file to write (default: beside the topic).")
    parser.add_argument(
        "--errors",
        action="store_true",
        help="List the tuning items misclassified out of fold (what to work on next).",
    )
    _topic_options(parser, threshold=False)
    return parser


def tag_rows(rows: list[dict], tagger) -> list[TopicTags]:
    tags = []
    for number, row in enumerate(rows, 1):
        if "text" not in row:
            raise InputError(f"row {number} has no 'text' column")
        tags.append(
            tagger.tag(row.get("title") or "", row["text"] or "", language=row.get("language"))
        )
    return tags


def _thresholds(model) -> str:
    """'0.58 (ar 0.44, en 0.60)': the shared threshold and each language's own."""
    own = ", ".join(f"{lang} {value:.2f}" for lang, value in sorted(model.thresholds.items()))
    return f"{model.threshold:.2f}" + (f" ({own})" if own else "")


def _tagger(args: argparse.Namespace):
    return load_tagger(args.topic, getattr(args, "threshold", None), getattr(args, "weights", None))


def run_tag(args: argparse.Namespace) -> int:
    rows = read_rows(args.input)
    tags = tag_rows(rows, _tagger(args))
    for row, tag in zip(rows, tags, strict=True):
        row["language"] = row.get("language") or tag.language or None
        row.update(
            topic_score=tag.score,
            is_relevant=tag.is_relevant,
            subtopics=tag.subtopics,
            matched_terms=tag.matched_terms,
            entities=tag.entities,
        )
    table = pa.Table.from_pylist(rows) if rows else pa.schema(TAG_FIELDS).empty_table()
    for field in TAG_FIELDS:
        column = pa.array([row[field.name] for row in rows], type=field.type)
        table = table.set_column(table.schema.get_field_index(field.name), field, column)
    write_table(table, args.output)
    relevant = sum(tag.is_relevant for tag in tags)
    print(f"tagged {len(rows)} articles: {relevant} relevant -> {args.output}")
    return 0


def load_texts(sources: list[str]) -> dict[str, dict]:
    """id → {title, text} from tables (``id`` or ``docno``) and folders of ``<id>.txt``."""
    texts: dict[str, dict] = {}
    for source in sources:
        if os.path.isdir(source):
            for path in sorted(Path(source).glob("*.txt")):
                title, _, body = path.read_text(encoding="utf-8").partition("\n")
                texts[path.stem] = {"title": title.strip(), "text": body}
        else:
            for row in read_rows(source):
                key = row.get("id") or row.get("docno")
                texts[str(key)] = {"title": row.get("title") or "", "text": row.get("text") or ""}
    return texts


def load_labelled(label_files: list[str], text_sources: list[str]) -> list[dict]:
    """Labelled items with their texts; rows whose text cannot be found are an error."""
    items = [row for path in label_files for row in read_rows(path)]
    missing = [row for row in items if not row.get("text")]
    if missing:
        texts = load_texts(text_sources)
        for row in missing:
            found = texts.get(str(row["id"]))
            if found is None:
                raise InputError(f"no text for labelled item {row['id']} (see --texts)")
            row.update({k: v for k, v in found.items() if not row.get(k)})
    return items


def evaluate(items: list[dict], tagger, tags: list[TopicTags] | None = None) -> dict:
    """Confusion counts per language (the item's, else detected) and the misclassified;
    ``tags``: the items' tags when they are known already."""
    by_language: dict[str, Counter] = defaultdict(Counter)
    errors = []
    for item, tag in zip(items, tag_rows(items, tagger) if tags is None else tags, strict=True):
        language = item.get("language") or tag.language or "und"
        gold, predicted = bool(int(item["label"])), tag.is_relevant
        outcome = ("T" if gold == predicted else "F") + ("P" if predicted else "N")
        by_language[language][outcome] += 1
        by_language["all"][outcome] += 1
        if gold != predicted:
            errors.append({"item": item, "tags": tag, "outcome": outcome, "language": language})
    return {"counts": dict(by_language), "errors": errors}


def _figures(result: dict) -> dict[str, Figures]:
    return {
        lang: Figures(c["TP"], c["FP"], c["FN"], c["TN"]) for lang, c in result["counts"].items()
    }


def format_errors(result: dict, limit: int = 200) -> list[str]:
    lines = [f"misclassified: {len(result['errors'])}"]
    for error in result["errors"][:limit]:
        item, tag = error["item"], error["tags"]
        lines.append(
            f"  {error['outcome']} {error['language']} {item['id']}  score={tag.score:.3f}  "
            f"{(item.get('title') or item.get('text') or '')[:70]!r}"
        )
        terms = ", ".join(
            f"{t['term']}×{t['count']} ({t['concept']}, {t['weight']:+.2f})"
            for t in tag.matched_terms[:8]
        )
        lines.append(f"      why: {terms or '-'}")
    return lines


def _labelled(args: argparse.Namespace) -> tuple[list[dict], str, dict]:
    """Items (texts resolved), the corpus hash, and skipped counts."""
    paths = args.labels or [str(DEFAULT_CORPUS)]
    items, skipped, hashes = [], {}, []
    for path in paths:
        corpus = load_corpus(path, args.ant)
        items += corpus.items
        hashes.append(corpus.sha256)
        for reason, count in corpus.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + count
    missing = [row for row in items if not row.get("text")]
    if missing:
        texts = load_texts(args.texts)
        for row in missing:
            found = texts.get(str(row["id"]))
            if found is None:
                raise InputError(f"no text for labelled item {row['id']} (see --texts)")
            row.update({k: v for k, v in found.items() if not row.get(k)})
    return items, "+".join(hashes), skipped


def _split(args: argparse.Namespace) -> Split | None:
    if args.no_split:
        return None
    if args.split:
        return load_split(args.split)
    if not args.labels or [str(p) for p in args.labels] == [str(DEFAULT_CORPUS)]:
        return load_split(DEFAULT_SPLIT) if DEFAULT_SPLIT.exists() else None
    return None


def _skipped_note(skipped: dict) -> list[str]:
    return [f"skipped {n} items: {reason}" for reason, n in skipped.items()]


def run_train_topic(args: argparse.Namespace) -> int:
    from marsad.topic.train import cv_table, fit

    definition = TopicDefinition.load(args.topic)
    items, corpus_hash, skipped = _labelled(args)
    split = _split(args)
    tuning = split.parts(items)[0] if split else items
    provenance = {
        "labels": [str(p) for p in (args.labels or [DEFAULT_CORPUS.name])],
        "corpus_sha256": corpus_hash,
        "split_test_sha256": split.sha256 if split else None,
        "skipped": skipped,
    }
    model, report = fit(definition, tuning, provenance)
    output = args.output or args.weights or definition.weights_path()
    model.save(output)
    for line in _skipped_note(skipped):
        print(line)
    print(f"trained on {len(tuning)} items (held out: {len(items) - len(tuning)}); "
          f"C={report['c']} threshold={_thresholds(model)} -> {output}")  # fmt: skip
    print("\n".join(format_table("cross-validated (tuning side)", cv_table(report))))
    if getattr(args, "errors", False):
        by_id = {item["id"]: item for item in tuning}
        wrong = [
            (probability, by_id[item_id])
            for item_id, probability in report["out_of_fold"].items()
            if (probability >= model.threshold_for(by_id[item_id].get("language")))
            != bool(by_id[item_id]["label"])
        ]
        print(f"misclassified out of fold: {len(wrong)}")
        for probability, item in sorted(wrong, key=lambda pair: pair[0]):
            outcome = "FN" if item["label"] else "FP"
            text = (item.get("title") or "") + " | " + (item.get("text") or "")
            print(f"  {outcome} {item.get('language')} {item['id']} p={probability:.3f} "
                  f"{item.get('year')} {item.get('negative_kind') or item.get('period')}: "
                  f"{text[:150]!r}")  # fmt: skip
    return 0


def run_eval_topic(args: argparse.Namespace) -> int:
    from marsad.topic.train import cv_table

    tagger = _tagger(args)
    items, corpus_hash, skipped = _labelled(args)
    split = _split(args)
    trained = tagger.model.trained
    shown = f"{tagger.override:.2f}" if tagger.override is not None else _thresholds(tagger.model)
    lines = [f"topic {tagger.definition.name}  threshold {shown}  "
             f"(weights of {trained.get('date', '?')}, C={trained.get('c', '?')})"]  # fmt: skip
    lines += _skipped_note(skipped)
    if split is None:
        result = evaluate(items, tagger)
        lines += format_table(f"all {len(items)} labelled items", _figures(result))
    else:
        test = split.parts(items)[1]
        if trained.get("cv"):
            note = ""
            if trained.get("corpus_sha256") != corpus_hash:
                note = "  [weights fitted on another version of the corpus]"
            lines += format_table(
                f"cross-validated on the tuning side ({trained.get('items')} items, "
                f"{trained['cv']['folds']} folds){note}",
                cv_table(trained),
            )
        tags = tag_rows(test, tagger)
        result = evaluate(test, tagger, tags)
        lines += format_table(
            f"held out: test side ({len(test)} items, split {split.sha256[:12]})",
            _figures(result),
        )
        fresh = [k for k, item in enumerate(test) if item["id"] in split.fresh]
        if fresh:
            lines += format_table(
                f"of which the fresh batch, labelled after the scorer was fixed "
                f"({len(fresh)} items)",
                _figures(evaluate([test[k] for k in fresh], tagger, [tags[k] for k in fresh])),
            )
    print("\n".join(lines + format_errors(result)))
    return 0
