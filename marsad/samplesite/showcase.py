"""What the demo prints after its run: the articles of the outlets that exercise the
web's conventions (news sitemap only, homepage only, mislabelled charset, wildcard
robots.txt), read back from the Parquet output, so a user sees them arrive clean."""

from __future__ import annotations

from apache_beam.io.filesystems import FileSystems

from marsad.samplesite.content import Outlet


def showcase(output: str, outlets: list[Outlet], width: int = 70) -> str:
    import pyarrow.dataset as ds

    path = FileSystems.join(output, "articles")
    if not FileSystems.exists(path):
        return ""
    columns = ["source", "title", "text", "language", "encoding", "encoding_source", "url"]
    rows = ds.dataset(path, format="parquet", partitioning="hive").to_table(columns=columns)
    by_source: dict[str, list[dict]] = {}
    for row in rows.to_pylist():
        by_source.setdefault(row["source"], []).append(row)
    failures: dict[str, list[dict]] = {}
    failures_path = FileSystems.join(output, "failures")
    if FileSystems.exists(failures_path):
        table = ds.dataset(failures_path, format="parquet", partitioning="hive").to_table(
            columns=["source", "url", "reason"]
        )
        for row in table.to_pylist():
            failures.setdefault(row["source"], []).append(row)
    lines = ["", "outlets that exercise the web's conventions:"]
    for outlet in outlets:
        if not outlet.note:
            continue
        lines.append(f"  {outlet.name} — {outlet.note}")
        articles = sorted(by_source.get(outlet.name, []), key=lambda r: r["url"])
        if not articles:
            lines.append("    (no article rows)")
        for row in articles:
            text = " ".join((row["text"] or "").split())[:width]
            lines.append(
                f"    [{row['language'] or 'NULL'} {row['encoding']}/{row['encoding_source']}] "
                f"{(row['title'] or '')[:width]}"
            )
            lines.append(f"      {text}…")
        refused = {(f["url"], f["reason"]) for f in failures.get(outlet.name, [])}
        for url, reason in sorted(refused):
            lines.append(f"    [{reason}] {url}")
    return "\n".join(lines)
