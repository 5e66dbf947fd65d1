"""Why did it move: a metric's change vs the comparison period, decomposed along a dimension
(cxdata.explain, Kitagawa), as the Overview and the Trends page show it: a dimension
choice (default: the one that explains most), the waterfall, a one-line story and, on
Trends, the table of segments. Trends also offers a second dimension ("and by"): then the
change is split along both at once (Das Gupta: mix of A, mix of B, within cells) with a
table of cells. Under min n the engine's message replaces the chart."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from cxdata import charts, fmt
from cxdata.errors import display_text
from cxdata.explain import MAX_SEGMENTS, Explanation, Explanation2D, NotEnoughAnswers
from cxdata.metrics import metric_def
from cxdata.queries import OTHER
from pages._shared import common, plot, state
from pages._shared.session import Ctx

# A bold 13-px title over the two-dimension waterfall starts where its bars start (right of
# the "Mix of customer types" labels): on a 390-px phone about this many characters fit.
TITLE_CHARS = 35


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


def cells_table(ex: Explanation2D) -> pd.DataFrame:
    """One row per cell (A value × B value) of `ex` with readable headers: the two values,
    n in both periods, the metric in both periods (the metric's format) and the cell's
    within, mix-of-A and mix-of-B terms (change unit, one more decimal), as text. A cell
    under min n in either period (`small`) shows only its n: "n too small (n=…)" in every
    value column, as the engine's as_dict withholds them. Rows: the largest |within + mix|
    first, the small cells last (largest n first); a pooled value is named with how many
    values it holds."""
    m = metric_def(ex.metric)
    a, b = ex.dimensions
    cells = ex.cells.assign(
        _size=ex.cells["contribution"].abs().where(~ex.cells["small"], -1.0),
        _n=ex.cells["n_now"] + ex.cells["n_prev"],
    ).sort_values(["small", "_size", "_n"], ascending=[True, False, False], kind="stable")

    def names(dim: str, col: str, pooled: int) -> list[str]:
        values = [str(v) for v in cells[col]]
        pool = (f"{OTHER} (pooled)" if f"{OTHER} (pooled)" in values else OTHER) if pooled else None
        under = f" ({pooled} value{'s' if pooled != 1 else ''} under n {ex.min_n})"
        return [fmt.value_label(dim, v) + (under if v == pool else "") for v in values]

    small = cells["small"].to_numpy()
    fewest = np.minimum(cells["n_now"], cells["n_prev"]).to_numpy()
    # a cell new in one period (n 0 there) is small too: "no answers" would misread there
    hidden = [fmt.too_small(int(k)) if k else "n too small" for k in fewest]

    def shown(values: pd.Series, write: Any) -> list[str]:
        return [h if s else write(v) for v, s, h in zip(values, small, hidden, strict=True)]

    def level(v: float) -> str:
        return fmt.value(ex.metric, v)

    def step(v: float) -> str:  # one more decimal than the metric: cells' terms are small
        return f"{v:+.{m.decimals + 1}f}"

    unit = f" ({m.change_unit})" if m.change_unit else ""
    return pd.DataFrame({
        fmt.dim_label(a): names(a, "a", ex.pooled[0]),
        fmt.dim_label(b): names(b, "b", ex.pooled[1]),
        "n before": cells["n_prev"].astype("int64").to_numpy(),
        "n now": cells["n_now"].astype("int64").to_numpy(),
        f"{m.short_label} before": shown(cells["value_prev"], level),
        f"{m.short_label} now": shown(cells["value_now"], level),
        f"within{unit}": shown(cells["within"], step),
        f"mix of {charts.plural_dim(a)}{unit}": shown(cells["mix_a"], step),
        f"mix of {charts.plural_dim(b)}{unit}": shown(cells["mix_b"], step),
    })  # fmt: skip


def method_note2(ex: Explanation2D, ctx: Ctx) -> str:
    """What the two-dimension waterfall shows and how (plain text)."""
    a, b = (charts.plural_dim(d) for d in ex.dimensions)
    pooled = [f"{k} {name}" for k, name in zip(ex.pooled, (a, b), strict=True) if k]
    return (
        f"{fmt.date_range(ctx.filters.start, ctx.filters.end)} vs the {common.vs_label(ctx)} "
        f"({fmt.date_range(ctx.previous.start, ctx.previous.end)}). Das Gupta's "
        "decomposition (1993) over the cells of both dimensions at once: within cells — the "
        "cells themselves got better or worse (Σ average share × change); mix of "
        f"{a} — the answers shifted between {a}; mix of {b} — the answers shifted between "
        f"{b} (each cell's share written as the product of one factor per dimension, each "
        "effect averaged over both orders); the three add up to the change. Whiskers and "
        f"hovers: 95% bootstrap intervals over answers ({ex.bootstrap} resamples). Values "
        f"of either dimension with fewer than {ex.min_n} answers in either period are "
        "pooled into “Other”"
        + (f" ({' and '.join(pooled)} pooled)" if pooled else "")
        + f"; a cell with fewer than {ex.min_n} answers in either period shows only its n."
    )


def explanation(
    ctx: Ctx,
    metric: str,
    *,
    key: str,
    where: Any = st,
    table: bool = False,
    two_way: bool = False,
) -> str | None:
    """Draw why `metric` moved: the dimension choice (in `where`, bound to the URL's
    `why.by`, default the dimension that explains most), the waterfall, its story and
    (with `table`) the segments. With `two_way` a second choice "and by" (URL `why.and`,
    default nothing: one dimension) splits the change along both dimensions at once
    (Das Gupta: waterfall2_figure, its story and, with `table`, the cells). Under min n:
    the engine's message instead of the chart. Returns the (first) dimension shown (None
    when there is none to choose)."""
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

    first, second = where.columns(2) if two_way and len(dims) > 1 else (where, None)
    dim = state.select(
        "Split the change by",
        dims,
        key=f"{key}.by",
        param="why.by",
        default=best,
        format_func=named,
        where=first,
        help="Dimensions ranked by how much of the change they explain: the mix effect plus "
        "the segments that moved differently from the rest by more than their noise.",
    )
    other = ""
    if second is not None:
        other = state.select(
            "and by",
            ["", *(d for d in dims if d != dim)],
            key=f"{key}.and",
            param="why.and",
            default="",
            format_func=lambda d: fmt.dim_label(d) if d else "nothing",
            where=second,
            help="A second dimension splits the change along both at once: the shift of "
            "the answers between the values of each, and the change within their cells.",
        )
    try:
        ex = ctx.explain(metric, (dim, other) if other else dim)
    except NotEnoughAnswers as exc:
        text = display_text(exc)
        st.info(f"{fmt.md_escape(text[:1].upper() + text[1:])}.", icon=":material/block:")
        return dim
    if isinstance(ex, Explanation2D):
        _two_way(ctx, ex, key=key, table=table)
        return dim
    label = f"Why {fmt.short_label(metric)} moved, by {fmt.dim_label(dim).lower()}"
    plot.show(charts.waterfall_figure(ex), key=f"{key}.fig", title=label)
    st.caption(
        f"**{fmt.md_escape(charts.change_story(ex))}**  \n{fmt.md_escape(method_note(ex, ctx))}"
    )
    if table:
        rows = segments_table(ex)
        ours = [c for c in rows.columns if c.endswith("95% CI")]  # signed numbers, not data
        st.dataframe(fmt.safe_table(rows, keep=ours), hide_index=True, width="stretch")
    return dim


def _two_way(ctx: Ctx, ex: Explanation2D, *, key: str, table: bool) -> None:
    """Draw a two-dimension explanation: the waterfall, its story, the method and (with
    `table`) the cells."""
    a, b = (fmt.dim_label(d).lower() for d in ex.dimensions)
    label = f"Why {fmt.short_label(ex.metric)} moved, by {a} × {b}"
    if len(label) > TITLE_CHARS:  # the bars name both dimensions ("Mix of regions")
        label = f"Why {fmt.short_label(ex.metric)} moved"
    plot.show(charts.waterfall2_figure(ex), key=f"{key}.fig2", title=label)
    st.caption(
        f"**{fmt.md_escape(charts.change_story2(ex))}**  \n"
        f"{fmt.md_escape(method_note2(ex, ctx))}"
    )
    if table:
        rows = cells_table(ex)
        ours = list(rows.columns[4:])  # our formatted numbers ("-0.4"), not data
        st.dataframe(fmt.safe_table(rows, keep=ours), hide_index=True, width="stretch")
