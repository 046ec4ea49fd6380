"""``marsad tag`` and ``marsad eval topic``: the topic tagger on any table of articles.

    marsad tag --input articles.parquet --output tagged.parquet [--topic TOPIC.yaml]
    marsad eval topic --labels labels.jsonl [--texts TABLE_OR_DIR ...] [--topic TOPIC.yaml]

``tag`` reads Parquet or JSONL (by extension) with ``id`` and ``text`` and optionally
``title`` and ``language``, and writes the same rows with ``topic_score``,
``is_relevant``, ``subtopics``, ``matched_terms`` and ``entities`` added (shaped as in
the articles schema); ``language`` is filled from the text where missing.

``eval topic`` reads JSONL rows with ``id``, ``label`` (0/1) and ``text`` (optional
``title``, ``language``). Rows without text take it from a ``--texts`` table (matched
on ``id`` or ``docno``) or a folder of ``<id>.txt`` files whose first line is the title:
the dev sets keep only ids and labels for corpora that must not be copied.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow as pa

from marsad.errors import InputError
from marsad.topic.tagger import TopicTags, load_tagger
from pipeline.tables import read_rows, write_table
from schemas.tables import ARTICLES_SCHEMA

TAG_FIELDS = [
    ARTICLES_SCHEMA.field(name)
    for name in ("topic_score", "is_relevant", "subtopics", "matched_terms", "entities")
]


def _topic_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--topic", help="Topic definition YAML (default: the bundled Iraq–US withdrawal topic)."
    )
    parser.add_argument(
        "--threshold", type=float, help="Relevance threshold (default: the topic file's)."
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
        help="Precision, recall and F1 of the topic tagger on labelled articles.",
        description="Print precision, recall, F1 and the confusion matrix per language, "
        "then every misclassified article with the terms it matched.",
    )
    parser.add_argument(
        "--labels",
        required=True,
        action="append",
        help="JSONL with id, label (0/1), text, optional title, language. Repeatable.",
    )
    parser.add_argument(
        "--texts",
        action="append",
        default=[],
        help="Table (Parquet/JSONL, by id or docno) or folder of <id>.txt supplying texts "
        "for label rows without one. Repeatable.",
    )
    _topic_options(parser)
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


def run_tag(args: argparse.Namespace) -> int:
    rows = read_rows(args.input)
    tags = tag_rows(rows, load_tagger(args.topic, args.threshold))
    for row, tag in zip(rows, tags, strict=True):
        row["language"] = row.get("language") or tag.language
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


def _prf(counts: Counter) -> tuple[float, float, float]:
    tp, fp, fn = counts["TP"], counts["FP"], counts["FN"]
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def evaluate(items: list[dict], tagger) -> dict:
    """Confusion counts per language (from the text) and the misclassified items."""
    by_language: dict[str, Counter] = defaultdict(Counter)
    errors = []
    for item, tag in zip(items, tag_rows(items, tagger), strict=True):
        language = tag.language or item.get("language") or "und"
        gold, predicted = bool(int(item["label"])), tag.is_relevant
        outcome = ("T" if gold == predicted else "F") + ("P" if predicted else "N")
        by_language[language][outcome] += 1
        by_language["all"][outcome] += 1
        if gold != predicted:
            errors.append({"item": item, "tags": tag, "outcome": outcome, "language": language})
    return {"counts": dict(by_language), "errors": errors}


def format_report(result: dict, topic: str, threshold: float) -> str:
    lines = [
        f"topic {topic}  threshold {threshold:.2f}",
        f"{'language':9s} {'n':>4s} {'pos':>4s} {'TP':>4s} {'FP':>4s} {'FN':>4s} {'TN':>4s}"
        f" {'precision':>9s} {'recall':>7s} {'F1':>6s}",
    ]
    counts = result["counts"]
    for language in sorted(counts, key=lambda lang: (lang == "all", lang)):
        c = counts[language]
        precision, recall, f1 = _prf(c)
        lines.append(
            f"{language:9s} {sum(c.values()):4d} {c['TP'] + c['FN']:4d} {c['TP']:4d} "
            f"{c['FP']:4d} {c['FN']:4d} {c['TN']:4d} {precision:9.3f} {recall:7.3f} {f1:6.3f}"
        )
    lines.append(f"misclassified: {len(result['errors'])}")
    for error in result["errors"]:
        item, tag = error["item"], error["tags"]
        lines.append(
            f"  {error['outcome']} {error['language']} {item['id']}  score={tag.score:.3f}  "
            f"{(item.get('title') or '')[:70]}"
        )
        terms = ", ".join(
            f"{t['term']}×{t['count']} ({t['concept']})" for t in tag.matched_terms[:12]
        )
        lines.append(f"      terms: {terms or '-'}")
    return "\n".join(lines)


def run_eval_topic(args: argparse.Namespace) -> int:
    tagger = load_tagger(args.topic, args.threshold)
    items = load_labelled(args.labels, args.texts)
    result = evaluate(items, tagger)
    print(format_report(result, tagger.definition.name, tagger.threshold))
    return 0
