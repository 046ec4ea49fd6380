"""Build the self-contained HTML report of one output folder.

``build_report(folder, since)`` runs the queries (``queries.py``), turns them into
charts (``charts.py``) and fills ``template.html`` (Jinja2, autoescaped). The
Vega JavaScript is inlined once and the chart specs are embedded as JSON, so the
file needs no network: nothing is loaded from anywhere when it opens.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, date, datetime
from functools import cache
from importlib import metadata, resources
from typing import Any

import jinja2
import vl_convert
from babel import Locale

from marsad.report import charts, queries
from marsad.report.corpus import Corpus

_ENGLISH = Locale("en")
RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur", "ckb", "ps", "yi", "dv", "sd", "ug"})


def language_name(code: str | None) -> str:
    if not code or code == "?":
        return "unknown"
    name = _ENGLISH.languages.get(code)
    return f"{name} ({code})" if name else code


def country_name(code: str | None) -> str:
    if not code or code == "?":
        return "unknown"
    name = _ENGLISH.territories.get(code.upper())
    return f"{name} ({code.upper()})" if name else code


@cache
def vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script (vl-convert bundles them offline)."""
    return vl_convert.javascript_bundle()


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(
            lambda name: resources.files("marsad.report").joinpath(name).read_text("utf-8")
        ),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["dir"] = lambda lang: "rtl" if (lang or "") in RTL_LANGUAGES else "auto"
    env.filters["day"] = lambda iso: (iso or "")[:10]
    env.filters["minute"] = lambda iso: (iso or "").replace("T", " ")[:16]
    env.filters["pct"] = lambda x: f"{x:.0%}" if isinstance(x, int | float) else ""
    env.filters["language_name"] = language_name
    return env


def report_data(corpus: Corpus) -> dict[str, Any]:
    """Everything the page shows, as plain data (also handy for tests)."""
    over = queries.overview(corpus)
    shown = queries.legend_outlets(corpus)
    fail_span = corpus.rows("SELECT min(failed_date) AS a, max(failed_date) AS b FROM failures")[0]
    fail_bin = queries.choose_bin(fail_span["a"], fail_span["b"])
    languages = [
        {"label": language_name(r["key"]), "stories": r["stories"]}
        for r in queries.relevant_by(corpus, "language")
    ]
    countries = [
        {"label": country_name(r["key"]), "stories": r["stories"]}
        for r in queries.relevant_by(corpus, "source_country")
    ]
    return {
        "overview": over,
        "outlets_shown": shown,
        "timeline": queries.articles_over_time(corpus, over.bin, shown),
        "relevance": queries.relevance_over_time(corpus, over.bin),
        "languages": languages,
        "countries": countries,
        "outlets": queries.top_outlets(corpus),
        "clusters": queries.syndication_clusters(corpus),
        "recent": queries.recent_relevant(corpus, over.last_day),
        "failure_bin": fail_bin,
        "failure_cells": queries.failures_over_time(corpus, fail_bin),
        "failure_reasons": queries.failure_reasons(corpus),
        "runs": queries.run_rows(corpus),
    }


def chart_specs(data: dict[str, Any]) -> dict[str, dict]:
    """Chart id → Vega-Lite spec, only for sections that have rows."""
    over = data["overview"]
    specs: dict[str, dict] = {}
    if data["timeline"]:
        specs["chart-timeline"] = charts.articles_over_time(
            data["timeline"], over.bin, data["outlets_shown"]
        )
        specs["chart-relevance"] = charts.relevance_over_time(data["relevance"], over.bin)
    if data["languages"] or data["countries"]:
        specs["chart-audience"] = charts.relevant_breakdown(data["languages"], data["countries"])
    if data["outlets"]:
        specs["chart-outlets"] = charts.top_outlets(data["outlets"])
    if data["failure_cells"]:
        specs["chart-failures"] = charts.failures_heatmap(
            data["failure_cells"], data["failure_bin"]
        )
        specs["chart-failure-reasons"] = charts.failures_by_reason(data["failure_reasons"])
    if data["runs"]:
        specs["chart-runs"] = charts.runs_chart(data["runs"])
    return specs


def render_html(
    data: dict[str, Any], output_label: str, since: date | None, period: str = ""
) -> str:
    over = data["overview"]
    template = _environment().get_template("template.html")
    return template.render(
        title=f"marsad report — {output_label}",
        output_label=output_label,
        since=since.isoformat() if since else "",
        period=period or (f"since {since.isoformat()}" if since else "all days"),
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        marsad_version=_version(),
        over=asdict(over),
        bin_word=charts.BIN_WORD[over.bin],
        recent_window=queries.RECENT_WINDOW_DAYS,
        data=data,
        specs_json=_script_json(chart_specs(data)),
        vega_bundle=vega_bundle().replace("</script", "<\\/script"),
    )


def build_report(
    folder: str, since: date | None = None, output_label: str | None = None, period: str = ""
) -> str:
    """The report of the output folder ``folder`` (a local path) as one HTML string."""
    corpus = Corpus(folder, since)
    try:
        data = report_data(corpus)
    finally:
        corpus.close()
    return render_html(data, output_label or folder, since, period)


def _version() -> str:
    try:
        return metadata.version("marsad")
    except metadata.PackageNotFoundError:
        return "dev"
