"""``marsad dedup`` on Parquet and JSONL tables, through the real CLI and Beam."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from marsad.text.boilerplate import clean_article
from pipeline.cli import main

SEEDS = Path(__file__).resolve().parents[1] / "marsad" / "samplesite" / "content" / "seeds"


def _body(number: str) -> str:
    return clean_article(next(SEEDS.glob(f"{number}_*.txt")).read_text(encoding="utf-8")).text


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    story, other = _body("000"), _body("002")
    return [
        {"id": "w1", "text": story, "published_at": "2024-01-28T09:00:00+00:00", "source": "a"},
        {"id": "w2", "text": "عاجل - " + story + "\nتابعنا على تويتر", "published_at": "Sun, 28 Jan 2024 11:00:00 GMT", "source": "b"},
        {"id": "o1", "text": other, "published_at": None, "source": "c", "title": "x"},
        {"id": "s4", "text": _body("004"), "source": "d"},
    ]  # fmt: skip


def test_parquet_round_trip_adds_cluster_columns_in_input_order(tmp_path, rows, capsys):
    source = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(rows), source)
    target = tmp_path / "deep" / "out.parquet"
    assert main(["dedup", "--input", str(source), "--output", str(target)]) == 0
    table = pq.read_table(target)
    assert table.column("id").to_pylist() == ["w1", "w2", "o1", "s4"]
    assert table.column("cluster_id").to_pylist() == ["w1", "w1", "o1", "s4"]
    assert table.column("is_duplicate").to_pylist() == [False, True, False, False]
    assert table.column("duplicate_of").to_pylist() == [None, "w1", None, None]
    similarity = table.column("duplicate_similarity").to_pylist()[1]
    assert 0.5 <= similarity <= 1.0
    assert table.column("text").to_pylist() == [r["text"] for r in rows], "input text untouched"
    assert "3 clusters, 1 flagged duplicates kept" in capsys.readouterr().out


def test_jsonl_with_drop_and_clean_text(tmp_path, rows):
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    target = tmp_path / "out.jsonl"
    argv = ["dedup", "--input", str(source), "--output", str(target), "--drop_duplicates"]
    assert main([*argv, "--clean_text"]) == 0
    written = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in written] == ["w1", "o1", "s4"]
    assert all(r["is_canonical"] for r in written)
    assert "تابعنا" not in "".join(r["clean_text"] for r in written)


def test_a_stricter_threshold_separates_the_edited_copy(tmp_path, rows):
    source = tmp_path / "in.parquet"
    edited = dict(rows[1], text=rows[1]["text"][: len(rows[1]["text"]) // 2])
    pq.write_table(pa.Table.from_pylist([rows[0], edited]), source)
    target = tmp_path / "out.parquet"
    assert main(["dedup", "--input", str(source), "--output", str(target)]) == 0
    assert pq.read_table(target).column("is_duplicate").to_pylist() == [False, False]
    assert (
        main(["dedup", "--input", str(source), "--output", str(target), "--dedup_threshold", "0.3"])
        == 0
    )
    assert pq.read_table(target).column("is_duplicate").to_pylist() == [False, True]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": "1", "body": "x"}\n', "lacks column(s) text"),
        ('{"id": "1", "text": "x"}\n{"id": "1", "text": "y"}\n', "'1' appears more than once"),
        ('{"id": "1", "text": "x"}\nnot json\n', "line 2 is not JSON"),
    ],
)
def test_unusable_input_is_a_clear_error(tmp_path, capsys, content, message):
    source = tmp_path / "in.jsonl"
    source.write_text(content)
    assert main(["dedup", "--input", str(source), "--output", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "[input_invalid]" in err and message in err
    assert not (tmp_path / "o.jsonl").exists()


def test_marsad_articles_folder_is_an_input(tmp_path, rows):
    """An analyst points dedup and tag at the pipeline's own Hive-partitioned output."""
    for day, chunk in (("2024-01-28", rows[:2]), ("2024-01-29", rows[2:])):
        folder = tmp_path / "articles" / f"published_date={day}"
        folder.mkdir(parents=True)
        renamed = [
            {"article_id": r["id"], **{k: v for k, v in r.items() if k != "id"}} for r in chunk
        ]
        pq.write_table(pa.Table.from_pylist(renamed), folder / "part-r-00000.parquet")
    target = tmp_path / "clustered.parquet"
    assert main(["dedup", "--input", str(tmp_path / "articles"), "--output", str(target)]) == 0
    table = pq.read_table(target)
    decided = dict(
        zip(table.column("id").to_pylist(), table.column("cluster_id").to_pylist(), strict=True)
    )
    assert decided == {"w1": "w1", "w2": "w1", "o1": "o1", "s4": "s4"}
    tagged = tmp_path / "tagged.jsonl"
    assert main(["tag", "--input", str(tmp_path / "articles"), "--output", str(tagged)]) == 0
    assert len(tagged.read_text(encoding="utf-8").splitlines()) == 4


def test_eval_dedup_skips_cleanly_without_the_evaluation_data(tmp_path, capsys):
    assert main(["eval", "dedup", "--eval-dir", str(tmp_path)]) == 0
    assert "skipped: evaluation data not found" in capsys.readouterr().out
