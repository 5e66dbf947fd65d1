"""Why did it move: a metric's change vs the comparison period, decomposed along a dimension
(cxdata.explain, Kitagawa), as the Overview and the Trends page show it: a dimension
choice (default: the one that explains most), the waterfall, a one-line story and, on
Trends, the table of segments. Under min n the engine's message replaces the chart."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from cxdata.errors import display_text
from cxdata.explain import MAX_SEGMENTS, Explanation, NotEnoughAnswers
from cxdata.metrics import metric_def
from pages._shared import charts, common, fmt, state
from pages._shared.session import Ctx


def dimension_choices(ctx: Ctx, metric: str) -> tuple[list[str], bool]:
    """The dimensions to split `metric`'s change by, and whether they are ranked: ranked by
    how much of the change they explain (explain.rank_dimensions), else — when none could
    be ranked, e.g. a period under min n — the candidates (2…MAX_SEGMENTS values) in the
    sidebar's order, so the engine can say why."""
    ranking = ctx.rank_dimensions(metric)
    if not ranking.empty:
        return [str(d) for d in ranking["dimension"]], True
    card = ctx.cardinality()
    return [d for d in ctx.dimensions() if 2 <= card.get(d, 0) <= MAX_SEGMENTS], False


def segments_table(ex: Explanation) -> pd.DataFrame:
    """One row per segment of `ex` with readable headers: n and the metric in both periods,
    the share of answers, the within and mix effects (change unit) with their 95% CIs and
    their sum, in the waterfall's order (largest |within| first, the min-n pool last).
    Numbers stay numbers (sortable); the CIs are text."""
    m = metric_def(ex.metric)
    seg = ex.segments.assign(_size=ex.segments["within"].abs())
    seg = seg.sort_values(["pooled", "_size"], ascending=[True, False], kind="stable")
    unit = f" ({m.change_unit})" if m.change_unit else ""
    names = [
        fmt.value_label(ex.dimension, str(s))
        + (f" ({int(k)} values under n {ex.min_n})" if p else "")
        for s, p, k in zip(seg["segment"], seg["pooled"], seg["members"], strict=True)
    ]

    def ci(low: pd.Series, high: pd.Series) -> list[str]:
        return [
            "–" if fmt.is_missing(a) else
            f"{fmt.change(ex.metric, a, unit=False)} – {fmt.change(ex.metric, b, unit=False)}"
            for a, b in zip(low, high, strict=True)
        ]  # fmt: skip

    digits = m.decimals
    return pd.DataFrame({
        fmt.dim_label(ex.dimension): names,
        "n before": seg["n_prev"].astype("int64"),
        "n now": seg["n_now"].astype("int64"),
        f"{m.short_label} before": seg["value_prev"].round(digits),
        f"{m.short_label} now": seg["value_now"].round(digits),
        "share before %": (100 * seg["weight_prev"]).round(1),
        "share now %": (100 * seg["weight_now"]).round(1),
        f"within{unit}": seg["within"].round(digits + 1),
        "within 95% CI": ci(seg["within_ci_low"], seg["within_ci_high"]),
        f"mix{unit}": seg["mix"].round(digits + 1),
        "mix 95% CI": ci(seg["mix_ci_low"], seg["mix_ci_high"]),
        f"within + mix{unit}": seg["contribution"].round(digits + 1),
    })  # fmt: skip


def method_note(ex: Explanation, ctx: Ctx) -> str:
    """What the waterfall shows and how (plain text)."""
    return (
        f"{fmt.date_range(ctx.filters.start, ctx.filters.end)} vs the {common.vs_label(ctx)} "
        f"({fmt.date_range(ctx.previous.start, ctx.previous.end)}). Within a segment: the "
        "segments themselves got better or worse (Σ average share × change); mix: the "
        "answers shifted between segments (Σ average value × change in share); the two add "
        f"up to the change. Whiskers and hovers: 95% bootstrap intervals over answers "
        f"({ex.bootstrap} resamples). Values with fewer than {ex.min_n} answers in either "
        "period are pooled into “Other”."
    )


def explanation(
    ctx: Ctx, metric: str, *, key: str, where: Any = st, table: bool = False
) -> str | None:
    """Draw why `metric` moved: the dimension choice (in `where`, bound to the URL's
    `why.by`, default the dimension that explains most), the waterfall, its story and
    (with `table`) the segments. Under min n: the engine's message instead of the chart.
    Returns the dimension shown (None when there is none to choose)."""
    dims, ranked = dimension_choices(ctx, metric)
    if not dims:
        st.info(
            f"No dimension to explain the change by (none has 2–{MAX_SEGMENTS} values).",
            icon=":material/block:",
        )
        return None
    best = dims[0]

    def named(d: str) -> str:
        return fmt.dim_label(d) + (" (explains most)" if ranked and d == best else "")

    dim = state.select(
        "Split the change by",
        dims,
        key=f"{key}.by",
        param="why.by",
        default=best,
        format_func=named,
        where=where,
        help="Dimensions ranked by how much of the change they explain: the mix effect plus "
        "the segments that moved differently from the rest by more than their noise.",
    )
    try:
        ex = ctx.explain(metric, dim)
    except NotEnoughAnswers as exc:
        text = display_text(exc)
        st.info(f"{fmt.md_escape(text[:1].upper() + text[1:])}.", icon=":material/block:")
        return dim
    label = f"Why {fmt.short_label(metric)} moved, by {fmt.dim_label(dim).lower()}"
    charts.show(charts.waterfall_figure(ex), key=f"{key}.fig", title=label)
    st.caption(
        f"**{fmt.md_escape(charts.change_story(ex))}**  \n{fmt.md_escape(method_note(ex, ctx))}"
    )
    if table:
        rows = segments_table(ex)
        ours = [c for c in rows.columns if c.endswith("95% CI")]  # signed numbers, not data
        st.dataframe(fmt.safe_table(rows, keep=ours), hide_index=True, width="stretch")
    return dim
