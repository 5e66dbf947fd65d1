"""Trends: NPS / CSAT / CES over time with CI bands, split by a dimension, the NPS mix, and
a metrics-dataset series on a second axis."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cxdata.comments import safe_csv
from cxdata.kpi_metrics import days_in
from cxdata.metrics import METRICS
from cxdata.scores import metric_columns
from pages._shared import charts, common, exports, fmt, state
from pages._shared.session import Ctx, context

GRAIN_CHOICES: dict[str, str] = {
    "auto": "Auto",
    "day": "Day",
    "week": "Week",
    "month": "Month",
    "quarter": "Quarter",
}
NONE = "none"


def resolve_grain(grain: str, ctx: Ctx) -> str:
    """Resolve "auto": days for up to 45 days, weeks up to 8 months, then months."""
    if grain != "auto":
        return grain
    days = days_in(ctx.filters)
    return "day" if days <= 45 else "week" if days <= 240 else "month"


def controls(ctx: Ctx) -> tuple[str, str, str | None, int | None, str | None]:
    """The chart options: metric, grain, split, top N, second-axis KPI."""
    c1, c2, c3, c4, c5 = st.columns([1.3, 1, 1.3, 1, 1.6])
    metric = state.select(
        "Metric",
        tuple(METRICS),
        key="trends.metric",
        param="metric",
        default="nps",
        format_func=fmt.metric_label,
        where=c1,
    )
    grain = state.select(
        "Granularity",
        list(GRAIN_CHOICES),
        key="trends.grain",
        param="grain",
        default="auto",
        format_func=GRAIN_CHOICES.__getitem__,
        where=c2,
    )
    dims = ctx.dimensions()
    split = state.select(
        "Split by",
        [NONE, *dims],
        key="trends.split",
        param="split",
        default=NONE,
        where=c3,
        format_func=lambda d: "No split" if d == NONE else fmt.dim_label(d),
    )
    top = None
    if split != NONE:
        top = state.integer(
            "Top values",
            key="trends.top",
            param="top",
            low=2,
            high=10,
            default=5,
            where=c4,
            help="The most frequent values get a line each; the rest is “Other”.",
        )
    kpi_names = sorted(set(ctx.metric_series()["metric"]))  # cached; reused for the chart
    kpi = None
    if kpi_names:
        choice = state.select(
            "Second axis",
            [NONE, *kpi_names],
            key="trends.kpi",
            param="kpi",
            default=NONE,
            where=c5,
            format_func=lambda k: "No KPI" if k == NONE else k.capitalize(),
        )
        kpi = None if choice == NONE else choice
    return metric, resolve_grain(grain, ctx), (None if split == NONE else split), top, kpi


def hidden_note(frame: pd.DataFrame, metric: str, ctx: Ctx) -> str:
    """How many points are hidden (n too small) or low base."""
    view = metric_columns(frame, metric)
    hidden, low = int(view["suppressed"].sum()), int(view["low_base"].sum())
    parts = []
    if hidden:
        parts.append(
            f"{hidden} point{'s' if hidden != 1 else ''} hidden (fewer than {ctx.th.min_n} answers)"
        )
    if low:
        parts.append(
            f"{low} low-base point{'s' if low != 1 else ''} (open circles, under "
            f"{ctx.th.low_base} answers)"
        )
    return "; ".join(parts)


def numbers_table(frame: pd.DataFrame, metric: str, by: str | None) -> pd.DataFrame:
    """The values behind the chart, one row per point."""
    view = metric_columns(frame, metric)
    out = pd.DataFrame({"period": frame["period"].dt.date})
    if by:
        out[fmt.dim_label(by)] = frame[by].astype(str)
    out[fmt.short_label(metric)] = view["value"].round(2)
    out["CI low"] = view["ci_low"].round(2)
    out["CI high"] = view["ci_high"].round(2)
    out["n"] = view["n"].astype("int64")
    out["low base"] = view["low_base"].astype(bool)
    out["n too small"] = view["suppressed"].astype(bool)
    return out


def render() -> None:
    """The page."""
    ctx = context()
    common.header("Trends", ctx)
    if not common.has_answers(ctx):
        return
    metric, grain, by, top, kpi = controls(ctx)
    with common.guard("The trend could not be computed"):
        frame = ctx.trend(grain, by, top)
        kpi_series = None
        if kpi:
            series = ctx.metric_series()
            kpi_series = series[series["metric"] == kpi]
        title = f"{fmt.metric_label(metric)} per {grain}" + (
            f" by {fmt.dim_label(by)}" if by else ""
        )
        st.subheader(fmt.md_escape(title))  # `by` is a column name from the data
        charts.show(
            charts.trend_figure(frame, metric, by, kpi_series, kpi.capitalize() if kpi else ""),
            key="trend",
            alt=title,
        )
        note = hidden_note(frame, metric, ctx)
        lines = frame[by].nunique() if by else 1
        bands = (
            "Bands: 95% confidence intervals. "
            if lines <= charts.MAX_BANDS
            else f"CI bands are drawn for up to {charts.MAX_BANDS} lines; hover a point for "
            "its 95% CI and n. "
        )
        st.caption(
            bands
            + (note + "." if note else "")
            + (" Missing points: no answers in that period." if grain == "day" else "")
        )

        st.subheader("Promoters, passives and detractors")
        mix = ctx.trend(grain) if by else frame
        charts.show(
            charts.shares_figure(mix),
            key="shares",
            alt="Share of promoters, passives and detractors per period",
        )
        st.caption("Shares of the 0–10 answers in each period; NPS = promoters − detractors.")

        with st.expander("Numbers behind the chart"):
            table = numbers_table(frame, metric, by)
            st.dataframe(fmt.safe_table(table), hide_index=True, width="stretch", height=300)
            exports.download_button(
                "Download CSV",
                lambda: safe_csv(table),
                file_name=f"trend_{metric}_{grain}.csv",
                mime="text/csv",
                icon=":material/download:",
                on_click="ignore",
            )


render()
