"""The bare loop of the overhead benchmark: the useful work of ``marsad run`` and nothing else.

    python benchmarks/overhead_bare.py URLS_FILE OUT.parquet

Fetches each URL with ``requests`` (one session), extracts it with
``trafilatura.bare_extraction`` and the settings ``marsad.text.extract`` uses, and writes
the rows to one Parquet file at the end. Imports nothing else, so its start-up is the
libraries' own.
"""

from __future__ import annotations

import sys

EXTRACTION_SETTINGS = {  # as marsad.text.extract.extract_with_trafilatura passes them
    "with_metadata": True,
    "include_comments": False,
    "include_tables": True,
    "favor_precision": True,
}


def bare_loop(urls_file: str, out_file: str) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import requests
    import trafilatura

    session = requests.Session()
    session.trust_env = False
    rows = []
    with open(urls_file, encoding="utf-8") as handle:
        urls = handle.read().split()
    for url in urls:
        response = session.get(url, timeout=60)
        document = trafilatura.bare_extraction(response.text, url=url, **EXTRACTION_SETTINGS)
        if document is None:
            continue
        rows.append(
            {
                "url": url,
                "title": document.title,
                "text": document.text,
                "author": document.author,
                "date": document.date,
                "sitename": document.sitename,
            }
        )
    pq.write_table(pa.Table.from_pylist(rows), out_file, compression="zstd")
    return 0


if __name__ == "__main__":
    sys.exit(bare_loop(sys.argv[1], sys.argv[2]))
