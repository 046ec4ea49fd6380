"""A run's Parquet file: rows sorted, written in bounded row groups, read back whole."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow.parquet as pq
from corpus_factory import article

from schemas.tables import ARTICLES_SCHEMA
from transforms import write
from transforms.write import _record_key, write_parquet_file


def _article(number: int):
    return article(number, "outlet.example", datetime(2024, 9, 27, tzinfo=UTC), "r", relevant=True)


def test_rows_are_sorted_written_in_row_groups_and_read_back(tmp_path, monkeypatch):
    monkeypatch.setattr(write, "ROWS_PER_GROUP", 40)
    articles = [_article(n) for n in reversed(range(100))]
    final = str(tmp_path / "articles" / "published_date=2024-09-27" / "part-r-00000.parquet")
    temp = str(tmp_path / "_tmp" / "r" / "writing" / "part.parquet")

    rows = write_parquet_file(articles, ARTICLES_SCHEMA, final, temp, sort_key=_record_key)

    assert rows == 100
    parquet = pq.ParquetFile(final)
    assert parquet.metadata.num_row_groups == 3  # 40 + 40 + 20: bounded Arrow memory
    table = parquet.read()
    assert table.column("article_id").to_pylist() == [f"a_{n:016x}" for n in range(100)]
    assert table.column("text").to_pylist()[7] == _article(7).text
    assert table.column("is_relevant").to_pylist() == [True] * 100
    assert table.schema.equals(ARTICLES_SCHEMA, check_metadata=False)


def test_no_rows_still_make_a_readable_file_with_the_schema(tmp_path):
    final = str(tmp_path / "failures" / "part.parquet")
    rows = write_parquet_file([], ARTICLES_SCHEMA, final, str(tmp_path / "tmp.parquet"))
    assert rows == 0
    table = pq.read_table(final)
    assert table.num_rows == 0 and table.schema.names == ARTICLES_SCHEMA.names


def test_packed_records_cross_the_grouping_as_bytes_and_are_written_sorted(tmp_path, monkeypatch):
    monkeypatch.setattr(write, "ROWS_PER_GROUP", 40)
    articles = [_article(n) for n in range(100)]
    packed = [write.pack(a) for a in articles]
    assert all(isinstance(payload, bytes) for _, payload in packed)
    final = str(tmp_path / "articles" / "published_date=2024-09-27" / "part-r-00000.parquet")

    rows = write.write_packed_file(
        list(reversed(packed)), ARTICLES_SCHEMA, final, str(tmp_path / "w.parquet")
    )

    assert rows == 100
    parquet = pq.ParquetFile(final)
    assert parquet.metadata.num_row_groups == 3
    assert parquet.read().to_pylist() == pq.read_table(_written(tmp_path, articles)).to_pylist()


def test_no_packed_records_still_make_a_readable_file(tmp_path):
    final = str(tmp_path / "failures" / "part.parquet")
    assert write.write_packed_file([], ARTICLES_SCHEMA, final, str(tmp_path / "t.parquet")) == 0
    assert pq.read_table(final).schema.names == ARTICLES_SCHEMA.names


def _written(tmp_path, records) -> str:
    """The same records through write_parquet_file, sorted as the run sorts them."""
    final = str(tmp_path / "reference" / "part.parquet")
    write_parquet_file(records, ARTICLES_SCHEMA, final, str(tmp_path / "r.parquet"), _record_key)
    return final
