"""Work handed to worker processes (``marsad.workers``, ``transforms/pooled.py``) gives the
same outputs and failure rows as work done in the pipeline's own process; a worker that
dies costs the element a retry, then a failure row, never the run."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from marsad.errors import ExtractionError
from schemas.records import Article
from transforms.common import FAILURES
from transforms.extract import ExtractArticles, extract_article
from transforms.pooled import PooledStageDoFn

PAGE = (
    "<html><head><title>{title}</title></head><body><nav>Home | World | Sport</nav>"
    "<article><h1>{title}</h1>{paragraphs}</article><footer>All rights reserved</footer>"
    "</body></html>"
)


def _article(number: int, html: str | None = None) -> Article:
    paragraphs = "".join(
        f"<p>Paragraph {i} of article {number}: the coalition said on Tuesday that talks "
        f"about the advisers in Baghdad would continue next week, officials said.</p>"
        for i in range(6)
    )
    return Article(
        article_id=f"a_{number:03d}",
        url=f"http://127.0.0.1/a/{number}",
        canonical_url=f"http://127.0.0.1/a/{number}",
        source="outlet",
        feed_url="http://127.0.0.1/feed.xml",
        run_id="r",
        http_status=200,
        fetched_at=datetime(2024, 3, 1, tzinfo=UTC),
        html=html
        if html is not None
        else PAGE.format(title=f"Story {number}", paragraphs=paragraphs),
    )


ARTICLES = [_article(n) for n in range(12)] + [_article(99, html="<html><body></body></html>")]


def _expected():
    """Rows and failure rows of ARTICLES, extracted here without Beam or workers."""
    rows, failures = [], []
    for article in ARTICLES:
        try:
            done = extract_article(article)
        except ExtractionError as error:
            failures.append((article.article_id, "extract", error.reason))
        else:
            rows.append((done.article_id, done.title, done.text, done.language, done.content_hash))
    return rows, failures


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_extract_the_same_rows_as_one_process(workers):
    rows, failures = _expected()
    assert len(rows) == 12 and [f[2] for f in failures] == ["extraction_empty"]
    options = PipelineOptions(["--runner=FnApiRunner"])
    with beam.Pipeline(options=options) as pipeline:
        main, failed = pipeline | beam.Create(ARTICLES) | ExtractArticles("r", workers=workers)
        assert_that(
            main | beam.Map(lambda a: (a.article_id, a.title, a.text, a.language, a.content_hash)),
            equal_to(rows),
            label="rows",
        )
        assert_that(
            failed | beam.Map(lambda f: (f.article_id, f.stage, f.reason)),
            equal_to(failures),
            label="failures",
        )


class _DiesOn:
    """Work that kills its worker process on one element (as a crash in native code would)."""

    def __init__(self, doomed: str, parent: int) -> None:
        self.doomed, self.parent = doomed, parent

    def __call__(self, article: Article) -> Article:
        if article.article_id == self.doomed and os.getpid() != self.parent:
            os._exit(9)
        if article.article_id == "a_005":
            raise ExtractionError("no text here", reason="extraction_empty")
        return article.replace(text=f"done {article.article_id}")


class _Fragile(PooledStageDoFn):
    stage = "extract"

    def work(self):
        return _DiesOn("a_003", os.getpid())

    def describe(self, article):
        return article.url, {"article_id": article.article_id}


def _fragile(workers: int):
    return beam.ParDo(_Fragile("r", workers)).with_outputs(FAILURES, main="main")


def test_a_worker_that_dies_costs_its_element_a_failure_row_not_the_run():
    elements = [_article(n, html="<p>x</p>") for n in range(8)]
    options = PipelineOptions(["--runner=FnApiRunner"])
    with beam.Pipeline(options=options) as pipeline:
        results = pipeline | beam.Create(elements) | _fragile(2)
        assert_that(
            results.main | beam.Map(lambda a: a.article_id),
            equal_to([f"a_{n:03d}" for n in range(8) if n not in (3, 5)]),
            label="others",
        )
        assert_that(
            results[FAILURES] | beam.Map(lambda f: (f.article_id, f.reason)),
            equal_to([("a_003", "worker_crashed"), ("a_005", "extraction_empty")]),
            label="failures",
        )


def test_heap_arenas_are_capped_in_a_child_process():
    """The cap is a real mallopt call (glibc), made in a child so this process is untouched."""
    import subprocess
    import sys

    code = "from marsad.workers import limit_heap_arenas; print(limit_heap_arenas(2))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    expected = "True" if sys.platform.startswith("linux") else "False"
    assert done.stdout.strip() == expected


_FRAGMENTED_HEAP = """
import sys, time
from marsad.workers import trimming_heap

def resident_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024

# 40,000 blocks of 4 KB from malloc's heap (too big for Python's small-object pool);
# every tenth stays alive, so the freed ones are holes glibc does not give back itself.
blocks = [bytes(4096) + bytes([i % 251]) for i in range(40_000)]
kept = blocks[::10]
del blocks
before = resident_mb()
with trimming_heap(interval=0.05):
    time.sleep(0.5)
print(before, resident_mb(), len(kept))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_heap_trimmer_gives_freed_holes_back_in_a_child_process():
    """The trimmer returns the free pages inside the heap (glibc keeps them otherwise):
    a child with a heap of 160 MB, nine tenths freed in holes, shrinks by most of them."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _FRAGMENTED_HEAP], capture_output=True, text=True, check=True
    )
    before, after, _ = (float(x) for x in done.stdout.split())
    assert before - after > 80, (before, after)


def test_heap_trimmer_thread_stops_with_its_block():
    import threading

    from marsad.workers import trimming_heap

    def trimmers():
        return [t for t in threading.enumerate() if t.name == "marsad-heap-trim"]

    alive_before = len(trimmers())
    with trimming_heap(interval=0.01):
        assert len(trimmers()) == alive_before + (1 if os.path.exists("/proc/self/status") else 0)
    for thread in trimmers()[alive_before:]:
        thread.join(timeout=5)
    assert len(trimmers()) == alive_before
