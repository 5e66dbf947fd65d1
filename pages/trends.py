"""Trends: NPS / CSAT / CES over time with CI bands, split by a dimension, the NPS mix, and
a metrics-dataset series on a second axis."""

from __future__ import annotations

# A page URL opened on a cold server can run this file before the entrypoint: every
# module is imported once, one thread at a time, first (pages/_shared/warmup.py).
from pages._shared import warmup  # noqa: F401

# isort: split

import pandas as pd
import streamlit as st

from cxdata import charts, fmt
from cxdata.kpi_metrics import days_in
from cxdata.metrics import METRICS
from cxdata.queries import GRAIN_CHOICES, resolved_grain, with_coverage
from cxdata.scores import metric_columns
from pages._shared import annotations, common, exports, plot, state, why
from pages._shared.session import Ctx, context

NONE = "none"
# How a split chooses its own lines; every other value is "Other".
ORDERS: dict[str, str] = {"volume": "Most answers", "movers": "Biggest movers"}


def controls(ctx: Ctx) -> tuple[str, str, str | None, int | None, str, str | None]:
    """The chart options: metric, grain, split, top N, how the split's lines are chosen
    (ORDERS), second-axis KPI."""
    c1, c2, c3, c4, c5, c6 = st.columns([1.3, 1, 1.3, 1, 1.2, 1.4])
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
    top, order = None, "volume"
    if split != NONE:
        top = state.integer(
            "Top values",
            key="trends.top",
            param="top",
            low=2,
            high=10,
            default=5,
            where=c4,
            help="This many values get a line each; the rest is “Other”.",
        )
        order = state.select(
            "Lines for",
            list(ORDERS),
            key="trends.order",
            param="order",
            default="volume",
            format_func=ORDERS.__getitem__,
            where=c5,
            help="Most answers: the largest values. Biggest movers: the values whose metric "
            "changed most vs the comparison period, among the significant changes (after "
            "correcting for the values tested: Benjamini–Hochberg, 5% FDR) — "
            "a small segment that moved is not hidden in “Other”.",
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
            where=c6,
            format_func=lambda k: "No KPI" if k == NONE else k.capitalize(),
        )
        kpi = None if choice == NONE else choice
    split_by = None if split == NONE else split
    return metric, resolved_grain(grain, days_in(ctx.filters)), split_by, top, order, kpi


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


def covered(frame: pd.DataFrame, grain: str, ctx: Ctx) -> pd.DataFrame:
    """The trend with each period's days in range (queries.with_coverage) over the date
    range clipped to the data's span: a month the range or the data enters on its last day
    is partial."""
    start = max(ctx.filters.start or ctx.span[0], ctx.span[0])
    end = min(ctx.filters.end or ctx.span[1], ctx.span[1])
    return with_coverage(frame, grain, start, end)


def partial_note(frame: pd.DataFrame, grain: str) -> str:
    """The partial periods in words: "Open squares: partial periods … Nov 2026 (partial:
    24 of 30 days)" ("" when every period is whole)."""
    rows = frame[charts.partial_periods(frame)].drop_duplicates("period")
    if rows.empty:
        return ""
    items = ", ".join(charts.period_hovers(rows, grain))
    return (
        f"Open squares: partial periods, only part of their days are in the date range or "
        f"the data — {items}; their n and CI cover those days only."
    )


def mover_lines(ctx: Ctx, by: str, metric: str, top: int) -> pd.DataFrame:
    """The `top` values of `by` whose `metric` changed most vs the comparison period, among
    the significant changes (segments.movers: the family's test, corrected for the values
    tested with Benjamini–Hochberg at a 5% FDR), largest first."""
    return ctx.movers([by], metric).head(top)


def movers_note(moved: pd.DataFrame, metric: str, by: str, ctx: Ctx) -> str:
    """Which values got a line as movers, each with its change, both n and the test
    (Markdown: the data's names escaped)."""
    vs = f"the {common.vs_label(ctx)} ({fmt.date_range(ctx.previous.start, ctx.previous.end)})"
    dim = fmt.md_escape(fmt.dim_label(by))
    corrected = fmt.corrected(int(moved.attrs.get("comparisons", 0)))
    if moved.empty:
        return (
            f"No {dim} value's {fmt.short_label(metric)} changed significantly "
            f"vs {vs} {corrected}: the lines show the values with the most answers."
        )
    items = "; ".join(
        f"{fmt.md_escape(v)} {fmt.change(metric, c)} (n = {int(a):,} vs {int(b):,})"
        for v, c, a, b in zip(moved["value"], moved["change"], moved["n_now"], moved["n_prev"],
                              strict=True)
    )  # fmt: skip
    return (
        f"Lines: the {dim} values whose {fmt.short_label(metric)} changed most "
        f"vs {vs}, each {fmt.significance(True)} {corrected} — {items}. "
        "All other values: Other."
    )


def kpi_note(kpi: str, by: str | None, ctx: Ctx) -> str:
    """What the second-axis KPI line is not: narrowed by the filters the metrics dataset
    cannot apply, or split like the score lines (Markdown: the data's names escaped)."""
    notes = []
    ignored = ctx.metric_filters_ignored()
    if ignored:
        words = fmt.not_narrowed(ignored)
        notes.append(f"{fmt.md_escape(words[0].upper() + words[1:])}: the metrics dataset has "
                     "no such column")  # fmt: skip
    if by:
        notes.append(f"one line for all {fmt.md_escape(fmt.dim_label(by))} values, not split")
    if not notes:
        return ""
    return f"{fmt.md_escape(kpi.capitalize())} (right axis, metrics dataset): " + "; ".join(
        notes
    ) + "."


def numbers_table(frame: pd.DataFrame, metric: str, by: str | None) -> pd.DataFrame:
    """The values behind the chart, one row per point."""
    view = metric_columns(frame, metric)
    out = pd.DataFrame({"period": frame["period"].dt.date})
    if "days" in frame:
        out["days in range"] = [
            f"{d} of {t}" for d, t in zip(frame["days"], frame["period_days"], strict=True)
        ]
    if by:
        out[fmt.dim_label(by)] = frame[by].astype(str)
    out[fmt.short_label(metric)] = view["value"].round(2)
    out["CI low"] = view["ci_low"].round(2)
    out["CI high"] = view["ci_high"].round(2)
    out["n"] = view["n"].astype("int64")
    out["low base"] = view["low_base"].astype(bool)
    out["n too small"] = view["suppressed"].astype(bool)
    return out


def numbers_section(frame: pd.DataFrame, metric: str, by: str | None, grain: str) -> None:
    """The chart's numbers as a table, with its CSV download."""
    table = numbers_table(frame, metric, by)
    st.dataframe(fmt.safe_table(table), hide_index=True, width="stretch", height=300)
    exports.table_csv_button(table, f"trend_{metric}_{grain}.csv")


def why_it_moved(ctx: Ctx, chart_metric: str) -> None:
    """The section "Why it moved": a metric's change vs the comparison period decomposed
    along a dimension (pages._shared.why) with the table of segments; the metric defaults
    to the chart's, the dimension to the one that explains most (URL: why, why.by)."""
    st.subheader("Why it moved")
    left, right = st.columns(2)
    metric = state.select(
        "Explain the change in", tuple(METRICS), key="trends.why", param="why",
        default=chart_metric, format_func=fmt.metric_label, where=left,
    )  # fmt: skip
    why.explanation(ctx, metric, key="trends.why", where=right, table=True, two_way=True)


def render() -> None:
    """The page."""
    ctx = context()
    common.header("Trends", ctx)
    if not common.has_answers(ctx):
        return
    metric, grain, by, top, order, kpi = controls(ctx)
    notes = annotations.section(ctx)  # drawn on both charts (none when switched off)
    with common.guard("The trend could not be computed"):
        moved = mover_lines(ctx, by, metric, top or 5) if by and order == "movers" else None
        if moved is not None and not moved.empty:
            frame = ctx.trend(grain, by, values=list(moved["value"]))
        else:
            frame = ctx.trend(grain, by, top)
        frame = covered(frame, grain, ctx)
        kpi_series = None
        if kpi:
            series = ctx.metric_series()
            kpi_series = series[series["metric"] == kpi]
        title = f"{fmt.metric_label(metric)} per {grain}" + (
            f" by {fmt.dim_label(by)}" if by else ""
        )
        st.subheader(fmt.md_escape(title))  # `by` is a column name from the data
        figure = charts.trend_figure(
            frame, metric, by, kpi_series, kpi.capitalize() if kpi else "",
            grain=grain, kpi_ignored=ctx.metric_filters_ignored(), notes=notes,
        )  # fmt: skip
        plot.show(figure, key="trend", alt=title)
        note = hidden_note(frame, metric, ctx)
        lines = frame[by].nunique() if by else 1
        bands = (
            "Bands: 95% confidence intervals. "
            if lines <= charts.MAX_BANDS
            else f"CI bands are drawn for up to {charts.MAX_BANDS} lines; hover a point for "
            "its 95% CI and n. "
        )
        extra = [
            movers_note(moved, metric, by, ctx) if moved is not None and by else "",
            partial_note(frame, grain),
            kpi_note(kpi, by, ctx) if kpi_series is not None and not kpi_series.empty else "",
        ]
        st.caption(
            " ".join(
                [bands + (note + "." if note else "")]
                + [x for x in extra if x]
                + (["Missing points: no answers in that period."] if grain == "day" else [])
            )
        )

        st.subheader("Promoters, passives and detractors")
        mix = covered(ctx.trend(grain), grain, ctx) if by else frame
        plot.show(
            charts.shares_figure(mix, grain=grain, notes=notes),
            key="shares",
            alt="Share of promoters, passives and detractors per period",
        )
        st.caption("Shares of the 0–10 answers in each period; NPS = promoters − detractors.")

        # lazy: the table is built and sent only while the expander is open
        numbers = st.expander("Numbers behind the chart", key="trends.numbers", on_change="rerun")
        with numbers:
            if numbers.open:
                numbers_section(frame, metric, by, grain)
    with common.guard("The change could not be explained"):
        why_it_moved(ctx, metric)


render()
