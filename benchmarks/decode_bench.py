"""Decoding cost: ``decode_document`` against trusting the label, on real pages.

Pages (read at run time from ``../shared/eval``; skipped cleanly when absent): the 439
extraction-benchmark pages as published (scrapinghub 181, fundus 258; gzip-compressed
bytes in their own encodings) and the 15 real Arabic-script news pages. Each is decoded
under three kinds of HTTP ``Content-Type``:

* ``utf-8``: ``text/html; charset=utf-8`` (what most servers send);
* ``none``: ``text/html`` (the page's own ``<meta>`` decides, else detection);
* ``latin-1``: ``text/html; charset=iso-8859-1`` (a common wrong label);

once as published and once made pure ASCII (non-ASCII bytes dropped: many English pages
are). Side by side in one process, interleaved rounds, medians: marsad's
``decode_document`` (BOM, declarations checked for plausibility, detection) against the
floor — ``bytes.decode`` under the codec the label names, which is what a client that
trusts the label does (``requests``' ``.text``). The ratio is what the checks cost.

    python benchmarks/decode_bench.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import overhead_corpus as corpus  # noqa: E402
from marsad.fetch.encoding import charset_from_content_type, decode_document  # noqa: E402

LABELS = {
    "utf-8": "text/html; charset=utf-8",
    "none": "text/html",
    "latin-1": "text/html; charset=iso-8859-1",
}


def load_pages(eval_dir: Path) -> list[bytes]:
    pages = []
    for original in corpus.load_originals(eval_dir):
        raw = original.html_path.read_bytes()
        pages.append(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    arabic = eval_dir / "arabic_html" / "pages"
    if arabic.is_dir():
        pages += [path.read_bytes() for path in sorted(arabic.iterdir()) if path.is_file()]
    return pages


def _trusting(body: bytes, content_type: str) -> str:
    return body.decode(charset_from_content_type(content_type) or "utf-8", errors="replace")


def _per_page_ms(decode, pages: list[bytes], content_type: str) -> float:
    started = time.process_time()
    for body in pages:
        decode(body, content_type)
    return (time.process_time() - started) / len(pages) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--eval-dir", default=None)
    args = parser.parse_args(argv)
    eval_dir = corpus.find_eval_dir(ROOT, args.eval_dir)
    if eval_dir is None:
        print("decode: ../shared/eval/extraction is absent; benchmark skipped")
        return 0
    published = load_pages(eval_dir)
    ascii_only = [body.decode("latin-1").encode("ascii", "ignore") for body in published]
    kb = statistics.mean(len(body) for body in published) / 1000
    print(f"{len(published)} pages, {kb:.0f} KB on average, CPU time of this process")
    print("| pages | label | decode_document ms/page | trusting the label | ratio | decided by |")
    print("|---|---|---|---|---|---|")
    for kind, pages in (("as published", published), ("pure ASCII", ascii_only)):
        for label, content_type in LABELS.items():
            ours, floor = [], []
            for round_ in range(args.rounds):
                subjects = [(ours, decode_document), (floor, _trusting)]
                for times, decode in subjects if round_ % 2 == 0 else subjects[::-1]:
                    times.append(_per_page_ms(decode, pages, content_type))
            sources = Counter(decode_document(body, content_type).source for body in pages)
            mine, base = statistics.median(ours), statistics.median(floor)
            decided = ", ".join(f"{name} {count}" for name, count in sources.most_common())
            print(
                f"| {kind} | {label} | {mine:.2f} | {base:.2f} | {mine / base:.1f}x | {decided} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
