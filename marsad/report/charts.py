"""The report's charts as Vega-Lite specs, built with Altair from the query rows.

Why Altair/Vega-Lite (compared in ``docs/report.md``): the charts are drawn by the
browser as SVG with real ``<text>``, so Arabic outlet names and terms are shaped
and ordered by the browser's own bidi and font machinery; one inlined JavaScript
bundle (~0.9 MB, from ``vl-convert-python``) serves every chart, so the file opens
without a network; tooltips and SVG/PNG export come with it.

Every spec carries its data inline and a ``description`` (read by screen readers
and by the browser test). Functions return plain dicts (``Chart.to_dict()``).
"""

from __future__ import annotations

from typing import Any

import altair as alt

FONT = '"Noto Sans", "Noto Sans Arabic", "Segoe UI", Tahoma, "DejaVu Sans", sans-serif'
ACCENT = "#1f6f8b"
MUTED = "#c9d3da"
_TIME_UNIT = {"day": "utcyearmonthdate", "week": "utcyearweek", "month": "utcyearmonth"}
_TIME_FORMAT = {"day": "%d %b %Y", "week": "week of %d %b %Y", "month": "%b %Y"}
BIN_WORD = {"day": "day", "week": "week", "month": "month"}


def _config(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    return (
        chart.configure(font=FONT)
        .configure_view(stroke=None)
        .configure_title(anchor="start", fontSize=15, fontWeight=600, color="#1b2733", offset=12)
        .configure_axis(
            labelColor="#4a5866",
            titleColor="#4a5866",
            gridColor="#eef1f4",
            domainColor="#c9d3da",
            labelFontSize=11,
            titleFontWeight=500,
        )
        .configure_legend(labelFontSize=12, titleFontSize=12, labelLimit=260, symbolType="square")
    )


def _spec(chart: alt.TopLevelMixin, description: str) -> dict[str, Any]:
    spec = _config(chart.properties(description=description)).to_dict()
    spec["autosize"] = {"type": "fit-x", "contains": "padding"}
    return spec


def _count_axis(peak: float, **extra: Any) -> alt.Axis:
    """An axis of whole numbers: no 0.5 ticks when counts are small."""
    if peak <= 10:
        return alt.Axis(values=list(range(0, int(peak) + 1)), format="d", **extra)
    return alt.Axis(format="~s", **extra)


def _peak(rows: list[dict], value: str, *keys: str) -> float:
    totals: dict[tuple, float] = {}
    for r in rows:
        key = tuple(r[k] for k in keys)
        totals[key] = totals.get(key, 0) + (r[value] or 0)
    return max(totals.values(), default=0)


def _x_time(bin_name: str, field: str = "bin") -> alt.X:
    return alt.X(
        f"{field}:T",
        timeUnit=_TIME_UNIT[bin_name],
        title=None,
        axis=alt.Axis(format=_TIME_FORMAT[bin_name].replace("week of ", ""), labelOverlap=True),
    )


def articles_over_time(rows: list[dict], bin_name: str, outlet_order: list[str]) -> dict:
    other = sorted({r["outlet"] for r in rows} - set(outlet_order))
    chart = (
        alt.Chart(alt.InlineData(values=rows))
        .mark_bar()
        .encode(
            x=_x_time(bin_name),
            y=alt.Y(
                "sum(articles):Q",
                title="articles",
                axis=_count_axis(_peak(rows, "articles", "bin")),
            ),
            color=alt.Color(
                "outlet:N",
                title="Outlet",
                sort=[*outlet_order, *other],
                scale=alt.Scale(scheme="tableau20"),
            ),
            order=alt.Order("outlet:N"),
            tooltip=[
                alt.Tooltip("bin:T", title=BIN_WORD[bin_name], format=_TIME_FORMAT[bin_name]),
                alt.Tooltip("outlet:N", title="outlet"),
                alt.Tooltip("articles:Q", title="articles"),
                alt.Tooltip("relevant:Q", title="relevant"),
            ],
        )
        .properties(
            title=f"Articles per {BIN_WORD[bin_name]}, by outlet", width="container", height=280
        )
    )
    return _spec(chart, "Stacked bars: articles published per period, one colour per outlet.")


def relevance_over_time(rows: list[dict], bin_name: str) -> dict:
    base = alt.Chart(alt.InlineData(values=rows)).encode(x=_x_time(bin_name))
    tooltip = [
        alt.Tooltip("bin:T", title=BIN_WORD[bin_name], format=_TIME_FORMAT[bin_name]),
        alt.Tooltip("relevant:Q", title="relevant stories"),
        alt.Tooltip("stories:Q", title="all stories"),
        alt.Tooltip("share:Q", title="share relevant", format=".0%"),
    ]
    counts = alt.layer(
        base.mark_bar(color=MUTED).encode(y=alt.Y("stories:Q", title="stories"), tooltip=tooltip),
        base.mark_bar(color=ACCENT).encode(y=alt.Y("relevant:Q"), tooltip=tooltip),
    ).properties(height=170, width="container")
    share = (
        base.mark_line(color=ACCENT, point=alt.OverlayMarkDef(color=ACCENT, size=40))
        .encode(
            y=alt.Y(
                "share:Q",
                title="share relevant",
                scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%", tickCount=5),
            ),
            tooltip=tooltip,
        )
        .properties(height=130, width="container")
    )
    chart = alt.vconcat(counts, share, spacing=8).properties(
        title=f"Relevant stories per {BIN_WORD[bin_name]}, and their share of all stories"
    )
    return _spec(
        chart,
        "Relevant stories (dark) among all stories (light) per period, and the relevant share.",
    )


def relevant_breakdown(languages: list[dict], countries: list[dict]) -> dict:
    def bars(rows: list[dict], title: str, what: str) -> alt.Chart:
        return (
            alt.Chart(alt.InlineData(values=rows), title=title)
            .mark_bar(color=ACCENT)
            .encode(
                y=alt.Y("label:N", sort="-x", title=None, axis=alt.Axis(labelLimit=220)),
                x=alt.X(
                    "stories:Q", title="relevant stories", axis=alt.Axis(tickMinStep=1, format="d")
                ),
                tooltip=[alt.Tooltip("label:N", title=what), alt.Tooltip("stories:Q")],
            )
            .properties(width=330, height=alt.Step(22))
        )

    chart = alt.hconcat(
        bars(languages, "Languages of relevant stories", "language"),
        bars(countries, "Outlet countries of relevant stories", "country"),
        spacing=60,
    )
    spec = _spec(chart, "Horizontal bars: relevant stories by language and by outlet country.")
    spec["autosize"] = {"type": "pad"}
    return spec


def top_outlets(rows: list[dict]) -> dict:
    long_rows = []
    for r in rows:
        long_rows.append({"outlet": r["outlet"], "kind": "relevant", "articles": r["relevant"]})
        long_rows.append(
            {
                "outlet": r["outlet"],
                "kind": "not relevant",
                "articles": r["articles"] - r["relevant"],
            }
        )
    chart = (
        alt.Chart(alt.InlineData(values=long_rows))
        .mark_bar()
        .encode(
            y=alt.Y(
                "outlet:N",
                sort=[r["outlet"] for r in rows],
                title=None,
                axis=alt.Axis(labelLimit=260),
            ),
            x=alt.X(
                "sum(articles):Q",
                title="articles",
                axis=_count_axis(_peak(rows, "articles", "outlet")),
            ),
            color=alt.Color(
                "kind:N",
                title=None,
                scale=alt.Scale(domain=["relevant", "not relevant"], range=[ACCENT, MUTED]),
                legend=alt.Legend(orient="top"),
            ),
            order=alt.Order("kind:N", sort="descending"),
            tooltip=["outlet:N", "kind:N", "articles:Q"],
        )
        .properties(title="Top outlets by articles", width="container", height=alt.Step(22))
    )
    return _spec(chart, "Horizontal stacked bars: articles per outlet, relevant ones first.")


def _legend_counts(rows: list[dict]) -> list[int]:
    peak = int(max((r["failures"] for r in rows), default=1))
    return sorted({1, max(1, peak // 2), peak})


def failures_heatmap(rows: list[dict], bin_name: str) -> dict:
    columns = len({r["bin"] for r in rows})
    chart = (
        alt.Chart(alt.InlineData(values=rows))
        .mark_rect(cornerRadius=2)
        .encode(
            # Discrete columns: one cell per period, however few periods there are.
            x=alt.X(
                "bin:O",
                timeUnit=_TIME_UNIT[bin_name],
                title=None,
                axis=alt.Axis(
                    format=_TIME_FORMAT[bin_name].replace("week of ", ""),
                    labelOverlap=True,
                    labelAngle=0,
                ),
            ),
            y=alt.Y("outlet:N", title=None, axis=alt.Axis(labelLimit=260)),
            color=alt.Color(
                "failures:Q",
                title="failures",
                scale=alt.Scale(scheme="orangered", domainMin=0),
                legend=alt.Legend(format="d", values=_legend_counts(rows)),
            ),
            tooltip=[
                alt.Tooltip("bin:T", title=BIN_WORD[bin_name], format=_TIME_FORMAT[bin_name]),
                alt.Tooltip("outlet:N"),
                alt.Tooltip("failures:Q"),
                alt.Tooltip("commonest:N", title="commonest stage: reason"),
            ],
        )
        .properties(
            title=f"Failures per outlet and {BIN_WORD[bin_name]}",
            # Few periods: fixed-width cells rather than one cell stretched across the page.
            width="container" if columns > 30 else alt.Step(30),
            height=alt.Step(24),
        )
    )
    return _spec(chart, "Heat map: failures per outlet (rows) and period (columns).")


def failures_by_reason(rows: list[dict]) -> dict:
    chart = (
        alt.Chart(alt.InlineData(values=rows))
        .transform_calculate(kind="datum.stage + ': ' + datum.reason")
        .mark_bar()
        .encode(
            y=alt.Y("kind:N", sort="-x", title=None, axis=alt.Axis(labelLimit=300)),
            x=alt.X(
                "sum(failures):Q",
                title="failures",
                axis=_count_axis(_peak(rows, "failures", "stage", "reason")),
            ),
            color=alt.Color("stage:N", title="stage", scale=alt.Scale(scheme="set2")),
            tooltip=["stage:N", "reason:N", "outlet:N", "failures:Q"],
        )
        .properties(title="Failures by stage and reason", width="container", height=alt.Step(22))
    )
    return _spec(chart, "Horizontal bars: failures per stage and reason code.")


def runs_chart(rows: list[dict]) -> dict:
    chrono = list(reversed(rows))
    long_rows = [
        {"run_id": r["run_id"], "started_at": r["started_at"], "measure": name, "value": r[key]}
        for r in chrono
        for name, key in (("new articles", "articles"), ("failures", "failures"))
        if isinstance(r.get(key), int)
    ]
    timing_rows = [
        {"run_id": r["run_id"], "started_at": r["started_at"], "stage": stage, "seconds": secs}
        for r in chrono
        for stage, secs in r["stages"].items()
    ]
    counts = (
        alt.Chart(alt.InlineData(values=long_rows))
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "started_at:T", title=None, axis=alt.Axis(format="%d %b %H:%M", labelOverlap=True)
            ),
            y=alt.Y(
                "value:Q",
                title="rows",
                axis=_count_axis(_peak(long_rows, "value", "run_id", "measure")),
            ),
            color=alt.Color(
                "measure:N",
                title=None,
                scale=alt.Scale(domain=["new articles", "failures"], range=[ACCENT, "#d1495b"]),
            ),
            tooltip=[
                "run_id:N",
                alt.Tooltip("started_at:T", format="%Y-%m-%d %H:%M"),
                "measure:N",
                "value:Q",
            ],
        )
        .properties(title="Rows written per run", width="container", height=150)
    )
    timings = (
        alt.Chart(alt.InlineData(values=timing_rows))
        .mark_bar(size=max(2, min(28, 700 // max(1, len(chrono)))))  # slim when runs are few
        .encode(
            x=alt.X(
                "run_id:N",
                title=None,
                sort=[r["run_id"] for r in chrono],
                axis=alt.Axis(labels=len(chrono) <= 8, labelAngle=0),
            ),
            y=alt.Y("sum(seconds):Q", title="seconds in stage"),
            color=alt.Color(
                "stage:N",
                title="stage",
                sort=list(dict.fromkeys(t["stage"] for t in timing_rows)),  # pipeline order
                scale=alt.Scale(scheme="tableau10"),
            ),
            tooltip=["run_id:N", "stage:N", alt.Tooltip("seconds:Q", format=".2f")],
        )
        .properties(title="Time spent per stage, per run", width="container", height=170)
    )
    chart = alt.vconcat(counts, timings, spacing=24).resolve_scale(color="independent")
    return _spec(chart, "Per run: article and failure rows written, and seconds per stage.")
