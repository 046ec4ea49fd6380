"""``marsad dedup`` and ``marsad eval dedup``: the pipeline's clustering on any table.

    marsad dedup --input articles.parquet --output clustered.parquet [--dedup_threshold 0.5]

The input is Parquet or JSONL (by extension) with ``id`` and ``text`` and optionally
``title``, ``published_at`` (timestamp, ISO 8601 or RFC 822 string) and ``source``.
The output is the input with ``cluster_id``, ``is_canonical``, ``is_duplicate``,
``duplicate_of`` and ``duplicate_similarity`` added (and ``clean_text`` with
``--clean_text``), in the input's row order. The clustering runs through the same
Beam transform as ``marsad run`` (``ClusterNearDuplicates``) on the local runner
unless Beam options name another.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import sys
import tempfile
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter

from marsad.dedup.clusters import Status
from marsad.dedup.neardup import NearDupConfig
from pipeline.beam_options import pipeline_options
from pipeline.options import add_dedup_arguments, dedup_config
from pipeline.tables import read_table, write_table
from schemas.records import Article
from transforms.common import METRICS_NAMESPACE
from transforms.dedup_near import ClusterNearDuplicates, NearDuplicateDecisions

CLUSTER_COLUMNS = ["cluster_id", "is_canonical", "is_duplicate", "duplicate_of"]


def add_dedup_parser(commands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "dedup",
        help="Cluster exact and near-duplicate articles of any table (Parquet or JSONL).",
        description="Add cluster_id, is_canonical, is_duplicate, duplicate_of and "
        "duplicate_similarity to a table of articles with the same clustering as `marsad "
        "run`. Input columns: id, text; optional title, published_at, source. Unknown "
        "options go to Beam.",
    )
    parser.add_argument(
        "--input",
        required=True,
        help="Parquet or JSONL file of articles, or a marsad articles/ folder (Hive Parquet).",
    )
    parser.add_argument(
        "--output", required=True, help="Where to write the table (.parquet or .jsonl)."
    )
    parser.add_argument(
        "--clean_text",
        action="store_true",
        help="Also write clean_text: the text with repeated paragraphs and boilerplate removed.",
    )
    add_dedup_arguments(parser.add_argument)
    return parser


def _published(value) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value)
    for parse in (datetime.fromisoformat, parsedate_to_datetime):
        try:
            parsed = parse(text)
        except (TypeError, ValueError):
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def articles_from_rows(rows) -> list[Article]:
    """Articles carrying what clustering reads (id, text, title, source, published_at)."""
    articles = []
    for row in rows:
        text = row.get("text") or ""
        published = row.get("published_at")
        if published is None and row.get("published_us") is not None:
            published = datetime.fromtimestamp(row["published_us"] / 1e6, UTC)
        articles.append(
            Article(
                article_id=str(row["id"]),
                url="",
                canonical_url="",
                source=str(row.get("source") or ""),
                feed_url="",
                run_id="dedup",
                title=str(row.get("title") or ""),
                text=text,
                text_chars=len(text),
                published_at=_published(published),
            )
        )
    return articles


INPUT_COLUMNS = ["id", "text", "title", "published_at", "source"]
READ_BATCH_ROWS = 2048


def read_articles(path: str):
    """Articles of a Parquet file written by ``dedup_table``, a batch of rows at a time."""
    with FileSystems.open(path) as handle:
        for batch in pq.ParquetFile(handle).iter_batches(batch_size=READ_BATCH_ROWS):
            yield from articles_from_rows(batch.to_pylist())


def _decision(article: Article, with_text: bool) -> str:
    record = {
        "id": article.article_id,
        "cluster_id": article.cluster_id,
        "is_canonical": article.is_canonical,
        "is_duplicate": article.is_duplicate,
        "duplicate_of": article.duplicate_of,
        "duplicate_similarity": article.duplicate_similarity,
    }
    if with_text:
        record["clean_text"] = article.text
    return json.dumps(record, ensure_ascii=False)


def _status_record(status: Status) -> str:
    return json.dumps(
        {
            "id": status.doc_id,
            "cluster_id": status.cluster_id,
            "is_canonical": status.is_canonical,
            "is_duplicate": not status.is_canonical,
            "duplicate_of": status.duplicate_of,
            "duplicate_similarity": status.similarity,
        },
        ensure_ascii=False,
    )


def canonical_record(doc_id: str) -> dict:
    """The decision of an article with no compatible neighbour."""
    return {
        "id": doc_id,
        "cluster_id": doc_id,
        "is_canonical": True,
        "is_duplicate": False,
        "duplicate_of": "",
        "duplicate_similarity": None,
    }


def cluster_with_beam(
    source: str | list[Article],
    config: NearDupConfig,
    beam_args: list[str] | None = None,
    with_text: bool = True,
    metrics: dict | None = None,
) -> dict[str, dict]:
    """Run the near-duplicate transform; decisions by article id (with ``with_text``, for
    every article and with its cleaned text; else only for articles that have a
    compatible neighbour: ``canonical_record`` stands for the others).

    ``source`` is a Parquet file with the ``INPUT_COLUMNS`` (read inside the pipeline,
    so the driver never holds the articles twice) or a list of articles. ``metrics``,
    when given, receives the run's counters and distributions (``dedup_near.*``).
    """
    options = pipeline_options(beam_args or [])
    # Dropping is applied to the table afterwards, so every row gets its decision here.
    keep_all = dataclasses.replace(config, drop_duplicates=False)
    with tempfile.TemporaryDirectory(prefix="marsad-dedup-") as scratch:
        prefix = os.path.join(scratch, "decisions")
        pipeline = beam.Pipeline(options=options)
        if isinstance(source, str):
            articles = (
                pipeline
                | "Input" >> beam.Create([source])
                | "ReadArticles" >> beam.FlatMap(read_articles)
            )
        else:
            articles = pipeline | "Articles" >> beam.Create(source)
        if with_text:
            encoded = (
                articles
                | "DedupNear" >> ClusterNearDuplicates(keep_all)
                | "Encode" >> beam.Map(_decision, True)
            )
        else:  # decisions only: the articles are never shuffled
            parts = articles | "DedupNear" >> NearDuplicateDecisions(keep_all)
            encoded = parts["decisions"] | "Encode" >> beam.Map(_status_record)
        _ = encoded | "WriteDecisions" >> beam.io.WriteToText(prefix, file_name_suffix=".jsonl")
        result = pipeline.run()
        result.wait_until_finish()
        if metrics is not None:
            metrics.update(_metrics(result))
        decisions = {}
        for name in sorted(Path(scratch).glob("decisions*.jsonl")):
            with open(name, encoding="utf-8") as lines:
                for line in lines:
                    record = json.loads(line)
                    decisions[record["id"]] = record
    return decisions


def _metrics(result) -> dict:
    found = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    figures = {c.key.metric.name: c.committed for c in found["counters"]}
    for dist in found["distributions"]:
        value = dist.committed
        if value is not None and value.count:
            figures[dist.key.metric.name] = {"count": value.count, "max": value.max}
    return figures


def stage_input(table: pa.Table, path: str) -> None:
    """The columns clustering reads, as the Parquet file the pipeline reads."""
    wanted = [name for name in INPUT_COLUMNS if name in table.column_names]
    columns = table.select(wanted)
    columns = columns.set_column(0, "id", pc.cast(columns.column("id"), pa.string()))
    pq.write_table(columns, path)


def with_decisions(
    table: pa.Table, decisions: dict[str, dict], config: NearDupConfig, clean_text: bool
) -> pa.Table:
    """``table`` with the cluster columns added (duplicates removed if configured)."""
    ids = [str(value) for value in table.column("id").to_pylist()]
    ordered = [decisions.get(i) or canonical_record(i) for i in ids]
    added = [*CLUSTER_COLUMNS, "duplicate_similarity", "clean_text"]
    table = table.drop_columns([name for name in added if name in table.column_names])
    columns = {
        "cluster_id": pa.array([d["cluster_id"] for d in ordered], pa.string()),
        "is_canonical": pa.array([d["is_canonical"] for d in ordered], pa.bool_()),
        "is_duplicate": pa.array([d["is_duplicate"] for d in ordered], pa.bool_()),
        "duplicate_of": pa.array([d["duplicate_of"] or None for d in ordered], pa.string()),
        "duplicate_similarity": pa.array(
            [d["duplicate_similarity"] for d in ordered], pa.float64()
        ),
    }
    if clean_text:
        columns["clean_text"] = pa.array([d["clean_text"] for d in ordered], pa.string())
    for name, values in columns.items():
        table = table.append_column(name, values)
    if config.drop_duplicates:
        table = table.filter(pc.invert(table.column("is_duplicate")))
    return table


def dedup_table(
    table: pa.Table,
    config: NearDupConfig,
    clean_text: bool,
    beam_args: list[str] | None = None,
    metrics: dict | None = None,
) -> pa.Table:
    """``table`` with the cluster columns added (duplicates removed if configured)."""
    with tempfile.TemporaryDirectory(prefix="marsad-dedup-in-") as scratch:
        staged = os.path.join(scratch, "articles.parquet")
        stage_input(table, staged)
        decisions = cluster_with_beam(staged, config, beam_args, clean_text, metrics)
    return with_decisions(table, decisions, config, clean_text)


def dedup_input(
    path: str,
    config: NearDupConfig,
    clean_text: bool,
    beam_args: list[str] | None = None,
    metrics: dict | None = None,
) -> pa.Table:
    """The table at ``path`` with the cluster columns; the table is not held in memory
    while the pipeline runs (it is read again to add the columns)."""
    with tempfile.TemporaryDirectory(prefix="marsad-dedup-in-") as scratch:
        staged = os.path.join(scratch, "articles.parquet")
        stage_input(read_table(path), staged)
        pa.default_memory_pool().release_unused()
        decisions = cluster_with_beam(staged, config, beam_args, clean_text, metrics)
    return with_decisions(read_table(path), decisions, config, clean_text)


def run_dedup(args: argparse.Namespace, beam_args: list[str]) -> int:
    config = dedup_config(args)
    keep_all = dataclasses.replace(config, drop_duplicates=False)
    result = dedup_input(args.input, keep_all, args.clean_text, beam_args)
    articles = result.num_rows
    clusters = len(set(result.column("cluster_id").to_pylist()))
    if config.drop_duplicates:
        result = result.filter(pc.invert(result.column("is_duplicate")))
    write_table(result, args.output)
    duplicates = articles - clusters  # one canonical row per cluster, kept either way
    print(
        f"{articles} articles → {clusters} clusters, {duplicates} flagged duplicates "
        f"{'kept' if not config.drop_duplicates else 'dropped'} (threshold {config.threshold}); "
        f"wrote {result.num_rows} rows to {args.output}"
    )
    return 0


def load_checkout_benchmark(name: str):
    """A module of the checkout's ``benchmarks/`` (not part of the installed package)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(f"marsad_benchmarks_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def add_eval_dedup_parser(evaluations) -> argparse.ArgumentParser:
    parser = evaluations.add_parser(
        "dedup",
        help="Precision/recall of near-duplicate clustering on ../shared/eval (checkout only).",
        description="Build the syndication benchmark from ../shared/eval at run time and score "
        "the clustering at several thresholds (benchmarks/dedup_eval.py).",
    )
    dedup_eval = load_checkout_benchmark("dedup_eval")
    if dedup_eval is not None:
        dedup_eval.add_arguments(parser)
    return parser


def run_eval_dedup(args: argparse.Namespace) -> int:
    dedup_eval = load_checkout_benchmark("dedup_eval")
    if dedup_eval is None:
        print(
            "marsad eval dedup runs from a source checkout (benchmarks/ is not installed); "
            "run it there: python benchmarks/dedup_eval.py",
            file=sys.stderr,
        )
        return 2
    return dedup_eval.run(args)
