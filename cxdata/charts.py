"""Plotly figures in one theme for every page.

Streamlit's own Plotly template (theme="streamlit") supplies fonts, grid and background
and follows the user's light/dark choice in the browser without a rerun; the colours it
uses for series come from `[theme] chartCategoricalColors` in .streamlit/config.toml, which
lists the same PALETTE as below. The figures here only add colours that carry meaning —
good/bad, promoter/passive/detractor, "n too small" — chosen to read on both backgrounds
(mid-tone, colour-blind safe blue ↔ red-orange rather than green ↔ red).

Every hover shows the n behind the number (DESIGN §4: n is always one hover away).

Plotly reads a subset of HTML in every text it draws (tick and legend labels, hover,
titles), so every data-derived string goes through `fmt.plotly_escape` (`_html` below).
Categorical axes keep the data's own values as categories (click handlers and selections
return them unchanged) and show escaped `ticktext` for them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from cxdata import fmt, ratings
from cxdata.drivers import Drivers
from cxdata.explain import Explanation, Explanation2D
from cxdata.metrics import metric_def
from cxdata.schema import JOURNEY_STAGES, SCALES

PALETTE: tuple[str, ...] = (
    "#3A6FD8", "#E8833A", "#2A9D8F", "#C8553D", "#8E6CC9", "#4BA3C7", "#C9A227", "#7A8797",
    "#D3619E", "#6BA539",
)  # fmt: skip
GOOD = "#2F6FD0"
BAD = "#D4573B"
NEUTRAL = "#8D96A5"
PROMOTER, PASSIVE, DETRACTOR = "#2F6FD0", "#A3ACB9", "#D4573B"
SUPPRESSED = "rgba(141,150,165,0.45)"
SUPPRESSED_SOLID = "#B9BFC9"
KPI_LINE = "#8E6CC9"
# Blue = good, red-orange = bad; the middle is a light neutral that reads on dark too.
GOOD_HIGH: list[list[Any]] = [[0.0, "#C8553D"], [0.5, "#EDE6D6"], [1.0, "#2F6FD0"]]
GOOD_LOW: list[list[Any]] = [[0.0, "#2F6FD0"], [0.5, "#EDE6D6"], [1.0, "#C8553D"]]

CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d", "toggleSpikelines"],
}
SPARK_CONFIG: dict[str, Any] = {"displayModeBar": False, "staticPlot": False}
MODEBAR_MARGIN = 34  # px right of the plot area: the upright toolbar's width


def low_base_marker(low: np.ndarray, color: str, size: int = 6) -> dict[str, Any]:
    """Filled markers, and open, larger ones for low-base points. An "-open" symbol is
    drawn in marker.color (its outline; the inside stays empty), so every point keeps
    `color`: a transparent colour would make the open ones invisible."""
    return {
        "color": np.full(len(low), color, dtype=object),
        "size": np.where(low, size + 4, size),
        "line": {"color": color, "width": 2},
        "symbol": np.where(low, "circle-open", "circle"),
    }


# The smallest colour span per metric: a handful of close values is not a red/blue contrast.
_MIN_SPAN: dict[str, float] = {"nps": 20.0, "ces": 1.0}
FEW_CELLS = 4  # fewer coloured cells than this, without a reference: the metric's full range


def value_bounds(metric: str) -> tuple[float, float]:
    """The values a metric can take: 0–100 for a share, −100–100 for a net score, the
    answer scale for a mean (CES 1–7)."""
    m = metric_def(metric)
    if m.unit == "%":
        return (0.0, 100.0)
    if m.unit == "points":
        return (-100.0, 100.0)
    scale = SCALES.get(m.base.name)
    return (float(scale.low), float(scale.high)) if scale else (-np.inf, np.inf)


def color_range(
    z: np.ndarray, metric: str, reference: float | None = None
) -> dict[str, float]:
    """zmin/zmax for a heatmap, anchored so a cell's colour means something however few
    cells there are (issue 12, item 5: a lone worst cell must not look neutral).

    With `reference` (the period's overall value): symmetric around it, wide enough for the
    farthest cell and the metric's minimum span, clipped to the values the metric can take
    (`neutral_position` puts the neutral colour on the reference). Without: NPS symmetric
    around 0; fewer than FEW_CELLS cells the metric's full range; else the observed range
    widened to the minimum span."""
    values = z[np.isfinite(z)]
    if values.size == 0:
        return {}
    lo_b, hi_b = value_bounds(metric)
    if reference is not None and np.isfinite(reference):
        half = max(float(np.abs(values - reference).max()), _MIN_SPAN.get(metric, 10.0) / 2)
        return {"zmin": max(reference - half, lo_b), "zmax": min(reference + half, hi_b)}
    lo, hi = float(values.min()), float(values.max())
    if metric == "nps":
        bound = max(abs(lo), abs(hi), _MIN_SPAN["nps"] / 2)
        return {"zmin": -bound, "zmax": bound}
    if values.size < FEW_CELLS and np.isfinite(lo_b) and np.isfinite(hi_b):
        return {"zmin": lo_b, "zmax": hi_b}
    span = _MIN_SPAN.get(metric, 10.0)
    if hi - lo < span:
        mid = (hi + lo) / 2
        lo, hi = mid - span / 2, mid + span / 2
    return {"zmin": lo, "zmax": hi}


def neutral_position(reference: float | None, zmin: float, zmax: float) -> float:
    """Where the neutral colour sits on a zmin–zmax colour scale (0–1): at the reference
    when there is one, else in the middle; kept just inside the ends (Plotly needs
    increasing stops)."""
    if reference is None or not np.isfinite(reference) or zmax <= zmin:
        return 0.5
    return float(np.clip((reference - zmin) / (zmax - zmin), 0.01, 0.99))


def colorscale(metric: str, mid: float = 0.5) -> list[list[Any]]:
    """The diverging scale oriented so that blue is always the good end, its neutral
    colour at `mid` (0–1)."""
    (_, bad), (_, neutral), (_, good) = GOOD_HIGH
    ends = (bad, good) if metric_def(metric).higher_is_better else (good, bad)
    return [[0.0, ends[0]], [mid, neutral], [1.0, ends[1]]]


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _layout(fig: go.Figure, height: int, **kw: Any) -> go.Figure:
    fig.update_layout(**layout_spec(height, **kw))
    return fig


def layout_spec(height: int, **kw: Any) -> dict[str, Any]:
    """The layout every chart shares (height, margins, upright toolbar, legend above, full
    hover names) updated with `kw`, as a dict: passed to go.Figure(layout=…) it costs far
    less than update_layout on a built figure."""
    layout: dict[str, Any] = {
        "height": height,
        # The toolbar stands upright in the right margin: lying across the top it covered
        # the legend on a phone (a legend above the plot is no wider than the plot area).
        "margin": {"l": 8, "r": MODEBAR_MARGIN, "t": 36, "b": 8},
        "modebar": {"orientation": "v"},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        "hoverlabel": {"namelength": -1},
    }
    layout.update(kw)
    return layout


LEGEND_ABOVE_MAX = 3  # legend entries that fit one row above the plot, even on a phone
SHORT_LEGEND_NAME = 14  # characters: two such legend entries share a row on a 390-px phone


def phone_legend_rows(names: Sequence[object]) -> int:
    """Rows a horizontal legend of these entries takes on a 390-px phone: a long name
    fills a row, two short ones (≤ SHORT_LEGEND_NAME characters) share one."""
    return math.ceil(sum(0.5 if len(str(n or "")) <= SHORT_LEGEND_NAME else 1.0 for n in names))


def legend_below(fig: go.Figure, height: int, *, right: int = MODEBAR_MARGIN) -> go.Figure:
    """`_layout` for a figure of many lines: their legend makes several rows (one per line
    on a phone), so it goes at the bottom of the figure with room for the rows a 390-px
    phone needs (two short names share a row), and never covers the plot or the title above
    it. `height`: the plot's own height."""
    rows = phone_legend_rows([t.name for t in fig.data if t.showlegend is not False])
    return _layout(
        fig, height + 20 * rows, hovermode="closest",
        legend={"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0},
        margin={"l": 8, "r": right, "t": 36, "b": 70 + 20 * rows},
    )  # fmt: skip


SUBTITLE_CHARS = 64  # a subtitle line that fits a 390-px phone at 11 px
TITLE_LINE_CHARS = 40  # a bold title line that fits a 390-px phone's plot width at 13 px
LEGEND_ROW_PX = 20  # one more row of a legend above the plot (the first takes 26 px)


def _wrapped(text: str, width: int = SUBTITLE_CHARS) -> str:
    """Escaped `text` broken into <br>-separated lines of at most about `width` chars."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(_html(line) for line in lines)


def export_titled(spec: dict[str, Any], title: str, context: str) -> dict[str, Any]:
    """A figure's dict (go.Figure.to_dict()) with `title` (bold) and `context` (smaller),
    both wrapped to a phone's width, drawn at its top left; the top margin grows to hold
    them above a legend over the plot, in as many rows as it takes on a phone.
    Edits and returns `spec`, merging as Figure.update_layout would (an edit of the dict:
    Plotly's update machinery cost more than the rest of drawing a chart)."""
    layout = spec.setdefault("layout", {})
    heading = _wrapped(title, TITLE_LINE_CHARS)
    extra_lines = heading.count("<br>")  # title lines beyond the first
    lines = extra_lines + 1 + (_wrapped(context).count("<br>") + 1 if context else 0)
    legend_y = layout.get("legend", {}).get("y")
    legend_top = layout.get("showlegend") is not False and legend_y is not None and legend_y > 1
    # A legend above the plot grows upwards: on a phone its entries wrap into more rows,
    # which covered the subtitle; the margin holds the rows a 390-px phone needs.
    rows = phone_legend_rows(
        [t.get("name") for t in spec.get("data", []) if t.get("showlegend") is not False]
    )
    extra_rows = max(0, rows - 1) if legend_top else 0
    legend_px = 26 + LEGEND_ROW_PX * extra_rows if legend_top else 0
    title_spec = _merged(layout.get("title", {}), {
        "text": f"<b>{heading}</b>",
        **({"subtitle": {"text": _wrapped(context), "font": {"size": 11}}} if context else {}),
        "x": 0, "xanchor": "left", "xref": "paper", "y": 1, "yanchor": "top",
        # Plotly hangs a title's extra lines above its anchor: pad them down into view
        "yref": "container", "font": {"size": 13}, "pad": {"t": 6 + 16 * extra_lines, "l": 2},
    })  # fmt: skip
    if not context:
        title_spec.pop("subtitle", None)
    layout["title"] = title_spec
    top = 20 + 16 * lines + legend_px
    layout["margin"] = {**layout.get("margin", {}), "t": top}
    if "height" in layout:  # the plot keeps its height; the phone's extra rows add to it
        layout["height"] += 16 * extra_lines + LEGEND_ROW_PX * extra_rows
    return spec


def _merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`old` updated with `new`, nested dicts merged key by key (as Plotly's update)."""
    out = dict(old)
    for key, value in new.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merged(out[key], value) if both else value
    return out


def export_config(title: str, context: str, config: dict[str, Any]) -> dict[str, Any]:
    """`config` whose toolbar PNG is named after the chart and its period
    (toImageButtonOptions: filename without extension, 2× scale for print)."""
    stem = re.sub(r"[^\w]+", "_", f"{title} {context.split(' · ')[0]}".strip()).strip("_")
    options = {"format": "png", "filename": stem[:80] or "chart", "scale": 2}
    return {**config, "toImageButtonOptions": options}


# --- sparkline ---------------------------------------------------------------------------


def sparkline_spec(
    x: Sequence[Any],
    y: Sequence[float],
    hover: Sequence[str],
    color: str = GOOD,
    partial: Sequence[bool] | None = None,
) -> dict[str, Any]:
    """The sparkline (see `sparkline`) as a plain figure dict, {"data": [traces],
    "layout": {...}}, without the template (go.Figure adds the default one)."""
    traces: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "x": list(x),
            "y": list(y),
            "mode": "lines",
            "line": {"color": color, "width": 2},
            "customdata": list(hover),
            "hovertemplate": "%{customdata}<extra></extra>",
            "connectgaps": False,
        }
    ]
    part = np.asarray(partial if partial is not None else [False] * len(x), dtype=bool)
    if part.any():
        marker = {"symbol": "circle-open", "size": 7, "color": color, "line": {"width": 2}}
        traces.append(
            {
                "type": "scatter",
                "x": [v for v, p in zip(x, part, strict=True) if p],
                "y": [v for v, p in zip(y, part, strict=True) if p],
                "mode": "markers",
                "marker": marker,
                "hoverinfo": "skip",
            }
        )
    layout = {
        "xaxis": {"visible": False},
        "yaxis": {"visible": False},
        "height": 56,
        "margin": {"l": 0, "r": 0, "t": 4, "b": 4},
        "showlegend": False,
        "hovermode": "x",
    }
    return {"data": traces, "layout": layout}


def sparkline(
    x: Sequence[Any],
    y: Sequence[float],
    hover: Sequence[str],
    color: str = GOOD,
    partial: Sequence[bool] | None = None,
) -> go.Figure:
    """A 56-px line without axes; the hover says the period, value and n. Periods marked
    `partial` (the month so far) get an open circle, so a value on a few days is not read
    as a full month's."""
    # One validated construction from plain dicts: the update_* calls cost 4× as much.
    return go.Figure(sparkline_spec(x, y, hover, color, partial))


# --- trends ------------------------------------------------------------------------------


def score_hovers(
    frame: pd.DataFrame, metric: str, labels: Sequence[str], name: str = ""
) -> list[str]:
    """One hover per row of a score frame: "<label>: " + fmt.hover_text (value, 95% CI, n,
    low base; "n too small"; withheld rows where the frame has a `hidden` column)."""
    m = metric_def(metric)
    hidden = frame["hidden"] if "hidden" in frame else pd.Series(False, index=frame.index)
    # whole columns, not iterrows: a Series per row costs more than the text (rerun cost)
    columns = zip(
        labels, frame[m.value], frame[m.n], frame[m.ci_low], frame[m.ci_high],
        frame[m.base.suppressed], frame[m.base.low_base], hidden, strict=True,
    )  # fmt: skip
    return [
        f"{label}: "
        + fmt.hover_text(
            metric, value, int(n), low, high, suppressed=bool(small), low_base=bool(low_base),
            withheld=bool(h), name=name,
        )
        for label, value, n, low, high, small, low_base, h in columns
    ]


MAX_BANDS = 3  # more CI bands than this overlap into an unreadable cloud
PARTIAL_SYMBOL = "square-open"  # a period the range covers only in part (low base: circle-open)


def partial_periods(frame: pd.DataFrame) -> np.ndarray:
    """Per row of a trend: whether its period is partial (queries.with_coverage's `days` <
    `period_days`); all False when the frame carries no coverage."""
    if "days" not in frame or "period_days" not in frame:
        return np.zeros(len(frame), bool)
    return (frame["days"] < frame["period_days"]).to_numpy(bool)


def period_hovers(frame: pd.DataFrame, grain: str, prefix: str = "") -> list[str]:
    """Per row: `prefix` + the period in its grain's words (fmt.period_label), with
    "(partial: 1 of 31 days)" for a partial period."""
    partial = partial_periods(frame)
    out = []
    for i, p in enumerate(frame["period"]):
        label = f"{prefix}{fmt.period_label(p, grain)}"
        if partial[i]:
            days, total = frame["days"].iloc[i], frame["period_days"].iloc[i]
            label += f" ({fmt.partial_period(days, total)})"
        out.append(label)
    return out


def trend_marker(low: np.ndarray, partial: np.ndarray, color: str) -> dict[str, Any]:
    """low_base_marker, with open squares for partial periods (their n and CI come from
    part of the period only)."""
    marker = low_base_marker(low | partial, color)
    marker["symbol"] = np.where(partial, PARTIAL_SYMBOL, marker["symbol"])
    return marker


def band_outline(x: pd.Series, high: pd.Series, low: pd.Series) -> tuple[list[Any], list[Any]]:
    """x and y of a CI band drawn with fill="toself": one closed shape per run of periods
    with a CI (out along the highs, back along the lows), runs separated by a None y.
    A suppressed period has no CI; Plotly fills each gap-free piece of a trace on its own,
    so a band drawn in one pass across the gap would close highs and lows separately."""
    shown = (high.notna() & low.notna()).to_numpy()
    xs, ys = list(x), list(zip(high, low, strict=True))
    out_x: list[Any] = []
    out_y: list[Any] = []
    i = 0
    while i < len(xs):
        if not shown[i]:
            i += 1
            continue
        j = i
        while j < len(xs) and shown[j]:
            j += 1
        if out_x:
            out_x.append(xs[i])
            out_y.append(None)
        out_x += xs[i:j] + xs[i:j][::-1]
        out_y += [float(h) for h, _ in ys[i:j]] + [float(lo) for _, lo in ys[i:j][::-1]]
        i = j
    return out_x, out_y


def lone_error_bars(value: pd.Series, high: pd.Series, low: pd.Series) -> dict[str, Any] | None:
    """Error bars for the points whose CI band would be a single point (shown, but both
    neighbours suppressed or absent): a band of one period has no width."""
    shown = (high.notna() & low.notna()).to_numpy()
    before = np.r_[False, shown[:-1]]
    after = np.r_[shown[1:], False]
    lone = shown & ~before & ~after
    if not lone.any():
        return None
    up = np.where(lone, (high - value).to_numpy(dtype=float), np.nan)
    down = np.where(lone, (value - low).to_numpy(dtype=float), np.nan)
    return {"type": "data", "symmetric": False, "array": up, "arrayminus": down, "width": 4}


def period_axis(periods: pd.Series, grain: str) -> dict[str, Any]:
    """x-axis settings that label periods as their grain does: quarters "Q4 2024" (Plotly
    has no quarter format: one tick per quarter), months "Jan 2025"."""
    if grain == "quarter":
        first = sorted(pd.to_datetime(pd.Series(periods)).drop_duplicates())
        return {
            "tickmode": "array",
            "tickvals": first,
            "ticktext": [fmt.period_label(p, grain) for p in first],
        }
    if grain == "month":
        return {"tickformat": "%b %Y"}
    return {}


def kpi_trace(kpi: pd.DataFrame, kpi_name: str, ignored: Sequence[str] = ()) -> go.Scatter:
    """The metrics-dataset series on the right axis; the filters it could not apply
    (`ignored`: dimensions the dataset lacks) are named in its legend entry and hovers."""
    unit = _html(kpi["unit"].iloc[0]) if "unit" in kpi else ""
    name = _html(kpi_name)
    note = _html(fmt.not_narrowed(ignored))
    return go.Scatter(
        x=kpi["date"],
        y=kpi["value"],
        name=f"{name} (right axis)" + (f" · {note}" if note else ""),
        yaxis="y2",
        mode="lines+markers",
        line={"color": KPI_LINE, "width": 2, "dash": "dot"},
        marker={"symbol": "diamond", "size": 7},
        customdata=[
            f"{name} {pd.Timestamp(d):%b %Y}: {v:.2f} {unit} (mean of {int(s)} series"
            + (f"; {note})" if note else ")")
            for d, v, s in zip(kpi["date"], kpi["value"], kpi["series"], strict=True)
        ],
        hovertemplate="%{customdata}<extra></extra>",
    )


ANNOTATION_LINE = "#7A8797"
NOTE_CHARS = 20  # characters of an annotation's label on a chart; its hover has it whole
NOTE_GAP = 0.22  # labels nearer than this share of the x axis go on the next row down
NOTE_ROWS = 3  # rows of labels before they start again at the top
NOTE_ROW_PX = 17  # one row of 10-px labels
_GRAIN_LENGTH: dict[str, Any] = {
    "day": pd.Timedelta(days=1), "week": pd.Timedelta(days=7),
    "month": pd.DateOffset(months=1), "quarter": pd.DateOffset(months=3),
}  # fmt: skip


def period_span(periods: pd.Series, grain: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The first day of the first period to the last day of the last one (None when
    there are no periods): the days a trend's points stand for."""
    p = pd.to_datetime(pd.Series(periods)).dropna()
    if p.empty:
        return None
    last = p.max() + _GRAIN_LENGTH.get(grain, pd.Timedelta(days=1)) - pd.Timedelta(days=1)
    return p.min(), last


def _short(text: str, chars: int = NOTE_CHARS) -> str:
    return text if len(text) <= chars else text[: chars - 1].rstrip() + "…"


def annotation_marks(
    fig: go.Figure,
    notes: pd.DataFrame | None,
    x_range: tuple[Any, Any] | None,
) -> go.Figure:
    """`fig` with each annotation (cxdata.annotations: date, label, scope, author) dated
    inside `x_range` (inclusive) drawn as a dashed vertical line and a small label inside
    the top of the plot, below any legend or title. Labels are cut to NOTE_CHARS and
    staggered into NOTE_ROWS rows where they would touch; hovering a label shows its date,
    whole label, scope and author. The one helper every trend chart uses."""
    if notes is None or notes.empty or x_range is None:
        return fig
    lo, hi = pd.Timestamp(x_range[0]), pd.Timestamp(x_range[1])
    days = pd.to_datetime(notes["date"])
    marked = notes.assign(day_=days)
    inside = marked[(days >= lo) & (days <= hi)].sort_values("day_")
    span = max((hi - lo).days, 1)
    taken: list[list[tuple[float, float]]] = [[] for _ in range(NOTE_ROWS)]
    for n, r in enumerate(inside.itertuples(index=False)):
        where = (r.day_ - lo).days / span
        left = where <= 0.55  # the label reads away from the plot's nearer edge
        spot = (where, where + NOTE_GAP) if left else (where - NOTE_GAP, where)
        row = next(
            (i for i, used in enumerate(taken)
             if all(spot[1] <= a or spot[0] >= b for a, b in used)),
            n % NOTE_ROWS,  # every row taken there: overlap as evenly as possible
        )  # fmt: skip
        taken[row].append(spot)
        scope = str(r.scope) if getattr(r, "scope", "") else ""
        label = _html(_short(str(r.label)))
        fig.add_shape(
            type="line", x0=r.day_, x1=r.day_, xref="x", yref="paper", y0=0, y1=1,
            line={"color": ANNOTATION_LINE, "width": 1.5, "dash": "dash"}, layer="above",
        )  # fmt: skip
        fig.add_annotation(
            x=r.day_, xref="x", y=1, yref="paper", yanchor="top",
            yshift=-2 - row * NOTE_ROW_PX, xanchor="left" if left else "right",
            xshift=3 if left else -3, showarrow=False,
            text=label + (f" · <i>{_html(_short(str(r.scope_value), 12))}</i>" if scope else ""),
            # dark on a light chip: readable over bars and in the dark theme alike
            font={"size": 10, "color": "#31333F"}, bgcolor="rgba(255,255,255,0.85)",
            bordercolor=ANNOTATION_LINE, borderwidth=1, borderpad=2,
            hovertext=(
                f"<b>{_html(r.label)}</b><br>{pd.Timestamp(r.day_):%d %b %Y}<br>"
                f"Scope: {_html(scope) if scope else 'everywhere'}<br>"
                f"Added by {_html(getattr(r, 'author', '') or 'unknown')}"
            ),
        )  # fmt: skip
    if not inside.empty:
        _fit_x_to_data(fig, list(inside["day_"]))
    return fig


def _fit_x_to_data(fig: go.Figure, extra: Sequence[pd.Timestamp]) -> None:
    """Fix the x range to the traces' dates and `extra`, padded: Plotly's autorange also
    makes room for every annotation label, which widened a phone's axis by years."""
    xs = [pd.Timestamp(x) for t in fig.data for x in (() if t.x is None else t.x)
          if x is not None and pd.notna(x)]
    days = sorted({*xs, *extra})
    if not days:
        return
    span = days[-1] - days[0]
    pad = span * 0.03
    if any(isinstance(t, go.Bar) for t in fig.data) and len(xs) > 1:
        steps = pd.Series(sorted(set(xs))).diff().dropna()
        pad = max(pad, steps.median() * 0.55)  # a bar stands half a period either side
    pad = max(pad, pd.Timedelta(hours=12))
    fig.update_xaxes(range=[days[0] - pad, days[-1] + pad])


def trend_figure(
    frame: pd.DataFrame,
    metric: str,
    by: str | None,
    kpi: pd.DataFrame | None = None,
    kpi_name: str = "",
    height: int = 420,
    *,
    grain: str = "day",
    kpi_ignored: Sequence[str] = (),
    notes: pd.DataFrame | None = None,
) -> go.Figure:
    """The metric per period with its 95% CI band, one line per `by` value; low-base
    points as open circles, partial periods (`days`/`period_days` columns of
    queries.with_coverage) as open squares; periods labelled per `grain`; an optional
    metrics-dataset series on a second y axis, naming the filters it ignores; the
    annotations `notes` within the periods drawn (annotation_marks)."""
    m = metric_def(metric)
    fig = go.Figure()
    groups = [(None, frame)] if by is None else list(frame.groupby(by, sort=False))
    if by is not None:  # "Other" last, the rest by volume
        volume = frame.groupby(by)["responses"].sum()
        groups.sort(key=lambda g: (str(g[0]) == "Other", -volume.get(g[0], 0)))
    bands = len(groups) <= MAX_BANDS
    for i, (name, g) in enumerate(groups):
        color = PALETTE[i % len(PALETTE)]
        label = f"{_html(name)}: " if name is not None else ""
        legend = _html(name) if name is not None else m.short_label
        g = g.sort_values("period")
        x = g["period"]
        if bands:
            band_x, band_y = band_outline(x, g[m.ci_high], g[m.ci_low])
            fig.add_trace(
                go.Scatter(
                    x=band_x,
                    y=band_y,
                    mode="lines",  # Plotly's default under 20 points adds markers
                    fill="toself",
                    fillcolor=_rgba(color, 0.15),
                    line={"width": 0},
                    connectgaps=False,
                    hoverinfo="skip",
                    showlegend=False,
                    legendgroup=legend,
                    name=f"{legend} CI",
                )
            )
        low = g[m.base.low_base].astype(bool).to_numpy()
        lone = lone_error_bars(g[m.value], g[m.ci_high], g[m.ci_low]) if bands else None
        fig.add_trace(
            go.Scatter(
                x=x,
                y=g[m.value],
                mode="lines+markers",
                name=legend,
                legendgroup=legend,
                line={"color": color, "width": 2},
                marker=trend_marker(low, partial_periods(g), color),
                customdata=score_hovers(g, metric, period_hovers(g, grain, label)),
                hovertemplate="%{customdata}<extra></extra>",
                **({"error_y": {**lone, "color": _rgba(color, 0.6)}} if lone else {}),
            )
        )
    if kpi is not None and not kpi.empty:
        unit = _html(kpi["unit"].iloc[0]) if "unit" in kpi else ""
        fig.add_trace(kpi_trace(kpi, kpi_name, kpi_ignored))
        name = _html(kpi_name)
        fig.update_layout(
            yaxis2={
                "overlaying": "y",
                "side": "right",
                "showgrid": False,
                "tickmode": "auto",
                "nticks": 6,
                "title": {"text": f"{name} ({unit})" if unit else name},
            }
        )
    fig.update_layout(yaxis_title=m.label)
    fig.update_xaxes(**period_axis(frame["period"], grain))
    annotation_marks(fig, notes, period_span(frame["period"], grain))
    if sum(1 for t in fig.data if t.showlegend is not False) > LEGEND_ABOVE_MAX:
        return legend_below(fig, height)
    return _layout(fig, height, hovermode="closest")


def shares_figure(
    frame: pd.DataFrame, height: int = 300, *, grain: str = "day",
    notes: pd.DataFrame | None = None,
) -> go.Figure:
    """Promoter / passive / detractor shares per period, stacked to 100%; periods labelled
    per `grain`, partial periods (queries.with_coverage) paler and said so in the hover;
    the annotations `notes` within the periods drawn (annotation_marks)."""
    fig = go.Figure()
    frame = frame.sort_values("period")
    periods = period_hovers(frame, grain)
    opacity = np.where(partial_periods(frame), 0.45, 1.0)
    for col, name, color in (
        ("detractor_pct", "Detractors (0–6)", DETRACTOR),
        ("passive_pct", "Passives (7–8)", PASSIVE),
        ("promoter_pct", "Promoters (9–10)", PROMOTER),
    ):
        hover = [
            f"{name} {p}: {fmt.value('promoter_pct', v)} of n = {int(n):,}"
            if not fmt.is_missing(v)
            else fmt.too_small(int(n))
            for p, v, n in zip(periods, frame[col], frame["nps_n"], strict=True)
        ]
        fig.add_trace(
            go.Bar(
                x=frame["period"],
                y=frame[col],
                name=name,
                marker={"color": color, "opacity": opacity.tolist()},
                customdata=hover,
                hovertemplate="%{customdata}<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack", bargap=0.15)
    fig.update_yaxes(title_text="share of NPS answers (%)", range=[0, 100])
    fig.update_xaxes(**period_axis(frame["period"], grain))
    annotation_marks(fig, notes, period_span(frame["period"], grain))
    return _layout(fig, height)


# --- touchpoints ----------------------------------------------------------------------


def ordered_categories(
    values: Sequence[str], dim: str, volume: pd.Series | None = None
) -> list[str]:
    """Journey stages in journey order; other values by volume (largest first)."""
    uniq = list(dict.fromkeys(str(v) for v in values))
    if dim == "journey_stage":
        rank = {s: i for i, s in enumerate(JOURNEY_STAGES)}
        return sorted(uniq, key=lambda v: (rank.get(v, len(rank)), v))
    if volume is not None:
        return sorted(uniq, key=lambda v: (-float(volume.get(v, 0)), v))
    return sorted(uniq)


def touchpoint_order(matrix: pd.DataFrame, rows: str, cols: str) -> list[str]:
    """Touchpoints grouped by the journey stage where most of their answers are (when the
    columns are stages), else by volume — so the heatmap reads along the journey."""
    volume = matrix.groupby(rows)["responses"].sum()
    if cols != "journey_stage":
        return ordered_categories(matrix[rows], rows, volume)
    rank = {s: i for i, s in enumerate(JOURNEY_STAGES)}
    main_stage = matrix.loc[matrix.groupby(rows)["responses"].idxmax(), [rows, cols]]
    stage_of = dict(zip(main_stage[rows], main_stage[cols], strict=True))
    return sorted(
        volume.index.astype(str),
        key=lambda t: (rank.get(stage_of.get(t, ""), len(rank)), -volume[t], t),
    )


def heatmap_figure(
    matrix: pd.DataFrame, rows: str, cols: str, metric: str, reference: float | None = None
) -> go.Figure:
    """Touchpoint × `cols` coloured by `metric`; suppressed cells grey with "n<…";
    an invisible marker per cell makes cells clickable (Plotly heatmaps are not
    selectable) and carries the hover text with the value, CI and n. `reference` (the
    period's overall value of `metric`) is the neutral colour: red cells are worse than
    it, blue ones better (color_range)."""
    row_order = touchpoint_order(matrix, rows, cols)
    col_volume = matrix.groupby(cols)["responses"].sum()
    col_order = ordered_categories(matrix[cols], cols, col_volume)
    grid = HeatGrid.of(matrix, rows, cols, row_order, col_order)
    z = grid.values("value")
    text = np.where(np.isnan(z), "", np.vectorize(lambda v: fmt.value(metric, v))(np.nan_to_num(z)))
    m = metric_def(metric)
    hovers = [
        fmt.hover_text(
            metric, row["value"], int(row["n"]), row["ci_low"], row["ci_high"],
            suppressed=bool(row["suppressed"]), low_base=bool(row["low_base"]),
            name=m.short_label,
        ) + f"<br>{int(row['responses']):,} answers · click to read the comments"
        for _, row in grid.present
    ]  # fmt: skip
    zrange = color_range(z, metric, reference)
    mid = neutral_position(reference, zrange.get("zmin", 0.0), zrange.get("zmax", 1.0))
    return grid.figure(
        z, text, hovers, colorscale(metric, mid), zrange, m.short_label,
        (fmt.dim_label(rows), fmt.dim_label(cols)),
    )  # fmt: skip


@dataclass(frozen=True)
class HeatGrid:
    """The cells of a rows × cols heatmap in display order: `cell` is the long frame
    reindexed on every (row, col) pair (NaN where there are no answers)."""

    cell: pd.DataFrame
    row_order: list[str]
    col_order: list[str]

    @classmethod
    def of(
        cls, frame: pd.DataFrame, rows: str, cols: str, row_order: list[str],
        col_order: list[str],
    ) -> HeatGrid:  # fmt: skip
        """The grid of a long frame with `n`, `suppressed` and value columns."""
        cell = frame.assign(**{rows: frame[rows].astype(str), cols: frame[cols].astype(str)})
        cell = cell.set_index([rows, cols]).reindex(
            pd.MultiIndex.from_product([row_order, col_order])
        )
        return cls(cell, row_order, col_order)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return (len(self.row_order), len(self.col_order))

    def values(self, column: str) -> np.ndarray:
        """A numeric column as a rows × cols array."""
        return self.cell[column].to_numpy(dtype="float64").reshape(self.shape)

    def mask(self, column: str) -> np.ndarray:
        """A flag column as a rows × cols boolean array (False where there is no cell)."""
        return self.cell[column].fillna(False).astype(bool).to_numpy().reshape(self.shape)

    @cached_property
    def present(self) -> list[tuple[tuple[str, str], dict[str, Any]]]:
        """((row, col), the cell's columns) of every cell with answers, row by row (one
        pass over plain dicts: iterrows built a Series per cell, twice per figure)."""
        cells = zip(self.cell.index, self.cell.to_dict("records"), strict=True)
        return [(key, r) for key, r in cells if pd.notna(r["n"])]

    def figure(
        self, z: np.ndarray, text: np.ndarray, hovers: Sequence[str],
        scale: list[list[Any]], zrange: dict[str, float], colorbar: str,
        titles: tuple[str, str],
    ) -> go.Figure:  # fmt: skip
        """The heatmap: coloured `z` with `text`, a grey "n too small" layer over the
        suppressed cells, and an invisible clickable marker per present cell carrying its
        hover ("<b>row</b> × col<br>" + the cell's `hovers` entry) and "row\x1fcol"."""
        suppressed = self.mask("suppressed")
        text = np.where(suppressed, "", text)  # the grey overlay below says "n too small"
        common = {"x": self.col_order, "y": self.row_order, "xgap": 2, "ygap": 2,
                  "hoverinfo": "skip", "texttemplate": "%{text}"}  # fmt: skip
        traces: list[go.Heatmap | go.Scatter] = [
            go.Heatmap(
                z=z, colorscale=scale, text=text, textfont={"size": 11},
                colorbar=below_colorbar(colorbar), **zrange, **common,
            )
        ]  # fmt: skip
        if suppressed.any():
            traces.append(
                go.Heatmap(
                    z=np.where(suppressed, 1.0, np.nan),
                    colorscale=[[0, SUPPRESSED], [1, SUPPRESSED]], showscale=False,
                    text=np.where(suppressed, "n too small", ""), textfont={"size": 10},
                    **common,
                )
            )  # fmt: skip
        present = self.present
        traces.append(
            go.Scatter(
                x=[c for (_, c), _ in present],
                y=[r for (r, _), _ in present],
                mode="markers",
                customdata=[f"{r}\x1f{c}" for (r, c), _ in present],
                text=[
                    f"<b>{_html(r)}</b> × {_html(c)}<br>{h}"
                    for ((r, c), _), h in zip(present, hovers, strict=True)
                ],
                hovertemplate="%{text}<extra></extra>",
                showlegend=False,
                marker={"size": 24, "opacity": 0, "symbol": "square"},
                selected={"marker": {"opacity": 0}},
                unselected={"marker": {"opacity": 0}},
                name="cells",
            )
        )
        axis = {"type": "category", "categoryorder": "array", "showgrid": False}
        xaxis = {
            # Level when the headers fit, else turned until they stop overlapping (a phone)
            "side": "top", "autotickangles": [0, -35, -90], "automargin": True,
            "title": {"text": _html(titles[1])}, "categoryarray": self.col_order,
            **axis, **category_ticks(self.col_order),
        }  # fmt: skip
        yaxis = {
            "autorange": "reversed", "title": {"text": _html(titles[0])},
            "categoryarray": self.row_order, **axis, **category_ticks(self.row_order),
        }  # fmt: skip
        height = max(320, 28 * len(self.row_order) + 150)
        layout = layout_spec(
            height, hovermode="closest", hoverdistance=-1,
            margin={"l": 8, "r": 8, "t": 90, "b": 8},
        )  # fmt: skip
        return go.Figure(data=traces, layout={"xaxis": xaxis, "yaxis": yaxis, **layout})


def below_colorbar(title: str) -> dict[str, Any]:
    """A heatmap's colour bar lying under the plot: standing at its right it took a third
    of a phone's width from the cells."""
    return {
        "title": {"text": title, "side": "top"}, "orientation": "h", "thickness": 10,
        "x": 0, "xanchor": "left", "y": -0.01, "yanchor": "top", "yref": "paper",
        "len": 1.0, "lenmode": "fraction",
    }  # fmt: skip


def _html(text: object) -> str:
    """Plotly text is HTML: data values are escaped (and cleaned of bidi controls)."""
    return fmt.plotly_escape(text)


def category_ticks(categories: Sequence[object]) -> dict[str, Any]:
    """Axis settings that label each category (the data's own value, which selections
    return) with its escaped text."""
    values = list(categories)
    return {"tickmode": "array", "tickvals": values, "ticktext": [_html(v) for v in values]}


def heatmap_cell(selection: dict[str, Any] | None) -> tuple[str, str] | None:
    """The (row, column) of the clicked heatmap cell in a plotly selection, if any."""
    points = (selection or {}).get("points") or []
    for point in points:
        data = point.get("customdata")
        if isinstance(data, list):
            data = data[0] if data else None
        if isinstance(data, str) and "\x1f" in data:
            row, col = data.split("\x1f", 1)
            return row, col
    return None


def movers_range(changes: pd.Series) -> list[float]:
    """The x range of movers_figure: every bar with room for its number beside it (55% of
    the longest bar on each side that has bars: enough at 390 px), zero always inside."""
    reach = float(changes.abs().max()) if len(changes) else 1.0
    reach = reach or 1.0
    low, high = min(0.0, float(changes.min())), max(0.0, float(changes.max()))
    pad = 0.55 * reach
    return [low - pad if low < 0 else -0.05 * reach, high + pad if high > 0 else 0.05 * reach]


def mover_pick(selection: dict[str, Any] | None) -> tuple[str, str] | None:
    """The (dimension, value) of the clicked bar of movers_figure in a plotly selection."""
    for point in (selection or {}).get("points") or []:
        data = point.get("customdata")
        if isinstance(data, list) and len(data) == 3 and all(isinstance(x, str) for x in data):
            return data[1], data[2]
    return None


def journey_figure(stages: pd.DataFrame, metric: str, height: int = 360) -> go.Figure:
    """The journey stages in order: answers as bars (right axis), the metric as a line
    with 95% CI error bars (left axis); suppressed stages leave a gap."""
    m = metric_def(metric)
    stages = stages.copy()
    stages["stage"] = stages["journey_stage"].astype(str)
    order = ordered_categories(stages["stage"], "journey_stage")
    stages = stages.set_index("stage").loc[order].reset_index()
    hover = score_hovers(stages, metric, [_html(st) for st in stages["stage"]])
    answers = go.Bar(
        x=stages["stage"],
        y=stages["responses"],
        name="Answers (right axis)",
        yaxis="y2",
        marker_color=_rgba(NEUTRAL, 0.35),
        customdata=[
            f"{_html(s)}: {int(v):,} answers"
            for s, v in zip(stages["stage"], stages["responses"], strict=True)
        ],
        hovertemplate="%{customdata}<extra></extra>",
    )
    score = go.Scatter(
        x=stages["stage"],
        y=stages[m.value],
        name=m.short_label,
        mode="lines+markers",
        line={"color": GOOD, "width": 3},
        marker=low_base_marker(stages[m.base.low_base].astype(bool).to_numpy(), GOOD, 9),
        error_y={
            "type": "data",
            "symmetric": False,
            "array": (stages[m.ci_high] - stages[m.value]).to_numpy(),
            "arrayminus": (stages[m.value] - stages[m.ci_low]).to_numpy(),
            "color": _rgba(GOOD, 0.6),
        },
        customdata=hover,
        hovertemplate="%{customdata}<extra></extra>",
    )
    axes = dict(
        yaxis={"title": {"text": m.label}},
        yaxis2={
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            "title": {"text": "answers"},
            "tickmode": "auto",
            "tickformat": ",d",
            "range": [0, float(stages["responses"].max()) * 1.1],
        },
        xaxis={"type": "category", "title": {"text": "Journey stage"}, **category_ticks(order)},
    )
    layout = {**axes, **layout_spec(height, hovermode="closest")}
    return go.Figure(data=[answers, score], layout=layout)


# --- touchpoint ratings -------------------------------------------------------------------

RATING_AXIS: dict[str, str] = {
    "top2": "Top-2-box %",
    "mean": "Mean rating, % of its scale",
}
RATING_SCALE: list[list[Any]] = GOOD_HIGH  # higher ratings are better


def _rating_rows(frame: pd.DataFrame, measure: str) -> pd.DataFrame:
    """The rows `measure` can place on its 0–100 axis, with a `row` label "touchpoint
    (scale)" and a `value` column (top-2-box % or the mean as % of its scale)."""
    kept = frame[ratings.placeable(frame, measure)].copy()
    kept["row"] = [ratings.row_label(t, s) for t, s in zip(kept[ratings.RATED], kept["scale"],
                                                            strict=True)]  # fmt: skip
    kept["value"] = kept[ratings.MEASURES[measure][0]]
    return kept


def _rating_text(r: pd.Series, measure: str) -> str:
    """A cell's own number: the top-2-box % or the mean on its scale."""
    return f"{r['top2_pct']:.1f}%" if measure == "top2" else f"{r['mean']:.2f}"


def ratings_heatmap_figure(frame: pd.DataFrame, cols: str, measure: str) -> go.Figure:
    """Rated touchpoint (with its scale) × `cols` from ratings.touchpoint_ratings(by=cols):
    cells coloured on the full 0–100 range of `measure` (neutral = the middle of the
    scale), text the top-2-box % or the mean in its own unit, hover fmt.rating_hover;
    suppressed cells grey. Rows `measure` cannot place (ratings.placeable) are left out:
    the page names them."""
    rows = _rating_rows(frame, measure)
    volume = rows.groupby("row")["n"].sum()
    row_order = ordered_categories(rows["row"], "row", volume)
    col_volume = rows.groupby(cols)["n"].sum()
    col_order = ordered_categories(rows[cols], cols, col_volume)
    grid = HeatGrid.of(rows, "row", cols, row_order, col_order)
    z = grid.values("value")
    text = np.array(
        ["" if pd.isna(r["value"]) else _rating_text(r, measure) for _, r in grid.cell.iterrows()],
        dtype=object,
    ).reshape(grid.shape)
    hovers = [fmt.rating_hover(r) for _, r in grid.present]
    return grid.figure(
        z, text, hovers, RATING_SCALE, {"zmin": 0.0, "zmax": 100.0},
        "Top-2-box" if measure == "top2" else "% of scale",
        ("Rated touchpoint (scale)", fmt.dim_label(cols)),
    )  # fmt: skip


def ratings_journey_figure(frame: pd.DataFrame, measure: str, height: int = 380) -> go.Figure:
    """The journey stages in order (x), one line per rated touchpoint (with its scale):
    `measure` on its 0–100 axis with 95% CI error bars, low-base points open, suppressed
    stages a gap; hover fmt.rating_hover. `frame`: ratings.touchpoint_ratings(by=
    "journey_stage")."""
    rows = _rating_rows(frame, measure)
    order = ordered_categories(rows["journey_stage"], "journey_stage")
    column = ratings.MEASURES[measure][0]
    low, high = f"{column.removesuffix('_pct')}_ci_low", f"{column.removesuffix('_pct')}_ci_high"
    fig = go.Figure()
    volume = rows.groupby("row")["n"].sum()
    for i, label in enumerate(ordered_categories(rows["row"], "row", volume)):
        line = rows[rows["row"] == label].set_index("journey_stage").reindex(order)
        present = line["n"].notna().to_numpy()
        color = PALETTE[i % len(PALETTE)]
        fig.add_trace(
            go.Scatter(
                x=order,
                y=line["value"],
                name=_html(label),
                mode="lines+markers",
                line={"color": color, "width": 2},
                marker=low_base_marker(line["low_base"].fillna(False).to_numpy(bool), color, 8),
                error_y={
                    "type": "data", "symmetric": False, "color": _rgba(color, 0.5),
                    "array": (line[high] - line["value"]).to_numpy(),
                    "arrayminus": (line["value"] - line[low]).to_numpy(),
                },
                customdata=[
                    f"<b>{_html(label)}</b> · {_html(st)}<br>{fmt.rating_hover(r)}" if ok
                    else f"<b>{_html(label)}</b> · {_html(st)}<br>no ratings"
                    for st, ok, (_, r) in zip(order, present, line.iterrows(), strict=True)
                ],
                hovertemplate="%{customdata}<extra></extra>",
            )
        )
    fig.update_layout(
        yaxis={"title": {"text": RATING_AXIS[measure]}, "range": [0, 100]},
        xaxis={"type": "category", "title": {"text": "Journey stage"}, **category_ticks(order)},
    )
    return legend_below(fig, height, right=8)


# --- overview -----------------------------------------------------------------------------


def movers_figure(movers: pd.DataFrame, metric: str = "nps", limit: int = 10) -> go.Figure:
    """Horizontal bars of the significant changes, largest first; colour = better/worse.
    Each bar's customdata is [hover, dimension, value], so a click names its segment
    (mover_pick). The hover says the test: after correcting for the frame's `comparisons`
    (segments.movers), or at 95% for a frame without that column."""
    top = movers.head(limit).iloc[::-1]
    m = metric_def(metric)
    better = top["change"] > 0 if m.higher_is_better else top["change"] < 0
    labels = [
        fmt.segment_label(d, v) for d, v in zip(top["dimension"], top["value"], strict=True)
    ]
    tests = (
        [fmt.significance(True, comparisons=c) for c in top["comparisons"]]
        if "comparisons" in top.columns
        else [f"{fmt.significance(True)} (95%)"] * len(top)
    )
    hover = [
        f"<b>{_html(lab)}</b><br>{m.short_label} "
        f"{fmt.value(metric, now)} (n = {int(nn):,}) vs {fmt.value(metric, prev)} "
        f"(n = {int(pn):,})<br>change {fmt.change(metric, ch)} · {test}"
        for lab, now, prev, nn, pn, ch, test in zip(
            labels, top["now"], top["prev"], top["n_now"], top["n_prev"], top["change"], tests,
            strict=True,
        )
    ]
    bar = {
        "type": "bar",
        "x": top["change"],
        "y": labels,
        "orientation": "h",
        "marker": {"color": np.where(better, GOOD, BAD)},
        # beside the bar, unit on the axis: on a phone the bars are ~130 px wide and
        # "-26.5 pts" inside a short bar was cut off
        "text": [fmt.change(metric, c, unit=False) for c in top["change"]],
        "textposition": "outside",
        "cliponaxis": False,
        "customdata": [
            [h, d, v] for h, d, v in zip(hover, top["dimension"], top["value"], strict=True)
        ],
        "hovertemplate": "%{customdata[0]}<extra></extra>",
    }
    unit = f" ({m.change_unit})" if m.change_unit else ""
    # one construction from dicts: the Overview draws this on every filter change, and
    # update_xaxes / update_yaxes / update_layout each re-validate the figure
    return go.Figure(
        [bar],
        layout_spec(
            max(220, 34 * len(top) + 70),
            showlegend=False,
            xaxis={
                "title": {"text": f"change in {m.short_label}{unit}"},
                "zeroline": True,
                "range": movers_range(top["change"]),
            },
            yaxis={"type": "category", "automargin": True, **category_ticks(labels)},
        ),
    )


# --- segments -----------------------------------------------------------------------------


def drill_range(values: Sequence[float], metric: str) -> tuple[float, float]:
    """cmin/cmax of a drilldown's colour scale over the values shown (NaN / None left out:
    suppressed and withheld nodes are painted apart, never by a value on the scale); NPS
    symmetric around 0 so that 0 is the neutral middle."""
    finite = [float(v) for v in values if not fmt.is_missing(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if metric == "nps":
        bound = max(abs(lo), abs(hi), 1.0)
        return -bound, bound
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def scale_colors(
    values: Sequence[float], metric: str, cmin: float, cmax: float
) -> list[str]:
    """Each value's colour on the metric's own scale (colorscale) between cmin and cmax,
    as "rgb(r, g, b)": the ends of the range get the scale's end colours."""
    pos = np.clip((np.asarray(values, dtype=float) - cmin) / (cmax - cmin), 0.0, 1.0)
    return list(sample_colorscale(colorscale(metric), list(pos), colortype="rgb"))


def colorbar_trace(metric: str, cmin: float, cmax: float, title: str) -> go.Scatter:
    """An invisible trace that only draws the colour bar of `metric`'s scale from cmin to
    cmax (treemaps painted node by node have no colour bar of their own)."""
    return go.Scatter(
        x=[None],
        y=[None],
        mode="markers",
        hoverinfo="skip",
        showlegend=False,
        marker={
            "color": [cmin],
            "colorscale": colorscale(metric),
            "cmin": cmin,
            "cmax": cmax,
            "showscale": True,
            "colorbar": {"title": {"text": title}, "thickness": 12},
        },
    )


def drill_figure(
    nodes: pd.DataFrame,
    metric: str,
    kind: str,
    root_label: str,
    root_value: float | None,
    root_n: int,
) -> go.Figure:
    """A treemap or sunburst of the drilldown: size = answers, colour = `metric`, given
    node by node from the metric's scale (so the scale's ends stay true colours);
    suppressed ("n too small (n=…)") and withheld nodes are grey and hatched, off the
    scale. The colour bar is a separate invisible trace (colorbar_trace)."""
    m = metric_def(metric)
    root = "All"
    ids = [root, *nodes["id"].astype(str)]
    parents = ["", *[p if p else root for p in nodes["parent"].astype(str)]]
    labels = [root_label, *nodes["label"].astype(str)]
    values = [
        int(nodes.loc[nodes["level"] == 1, "responses"].sum()),
        *nodes["responses"].astype(int),
    ]
    supp = [root_value is None, *nodes[m.base.suppressed].astype(bool)]
    raw = [root_value, *nodes[m.value]]
    ns = [root_n, *nodes[m.n].astype(int)]
    lows = [False, *nodes[m.base.low_base].astype(bool)]
    held = [False, *(nodes["hidden"] if "hidden" in nodes else [False] * len(nodes))]
    hidden = np.array([s or fmt.is_missing(v) for s, v in zip(supp, raw, strict=True)])
    shown = [float(v) for v, h in zip(raw, hidden, strict=True) if not h]
    cmin, cmax = drill_range(shown, metric)
    color = np.full(len(raw), SUPPRESSED_SOLID, dtype=object)
    color[~hidden] = scale_colors(shown, metric, cmin, cmax)
    name = m.short_label
    info = [  # no CI inside a tile: the label must stay short
        fmt.hover_text(metric, v, n, suppressed=s, low_base=lb, withheld=bool(w), name=name)
        for v, n, s, lb, w in zip(raw, ns, supp, lows, held, strict=True)
    ]
    marker: dict[str, Any] = {
        "colors": list(color),
        "pattern": {
            "shape": ["/" if h else "" for h in hidden],
            "fillmode": "overlay",  # on the grey; "replace" shows the page (dark in dark mode)
            "fgcolor": NEUTRAL,
            "fgopacity": 0.5,
            "size": 8,
        },
    }
    common: dict[str, Any] = {
        "ids": ids,
        "parents": parents,
        "labels": [_html(x) for x in labels],
        "values": values,
        "branchvalues": "total",
        "customdata": info,
        "marker": marker,
        "texttemplate": "<b>%{label}</b><br>%{customdata}",
        "hovertemplate": "<b>%{label}</b><br>%{customdata}<br>%{value:,} answers<extra></extra>",
    }
    if kind == "treemap":
        trace = go.Treemap(**common, tiling={"pad": 2}, pathbar={"visible": True})
    else:
        trace = go.Sunburst(**common, insidetextorientation="radial")
    fig = go.Figure([trace, colorbar_trace(metric, cmin, cmax, name)])
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, 560, margin={"l": 4, "r": 4, "t": 30, "b": 4})


# --- themes -------------------------------------------------------------------------------

MAX_THEME_BARS = 20
# Share of comments: the light neutral of the diverging scales → the first series colour.
SHARE_SCALE: list[list[Any]] = [[0.0, GOOD_HIGH[1][1]], [1.0, PALETTE[0]]]


def _theme_nps(r: pd.Series, side: str = "with") -> str:
    """The NPS of a theme's answers (`side` "with") or of the other comments ("without")
    in the one hover wording: value, CI, n; "n too small"; or why it is withheld."""
    return fmt.hover_text(
        "nps",
        r[f"nps_{side}"],
        int(r[f"nps_n_{side}"]),
        r.get(f"nps_{side}_ci_low"),
        r.get(f"nps_{side}_ci_high"),
        suppressed=bool(r["suppressed"]),
        withheld=bool(r.get("hidden", False)),
    )


def _theme_share(r: pd.Series) -> str:
    """The share of a theme cell as hover text: "12 of 340 comments (3.5%)", "low base"
    under the low-base threshold, or the "n too small" placeholder."""
    if r.get("share_suppressed", False):
        return f"share: {fmt.too_small(int(r['comments']))} comments"
    flag = " · low base" if r.get("share_low_base", False) else ""
    return f"{int(r['n']):,} of {int(r['comments']):,} comments ({r['share']:.1f}%){flag}"


def _mentions(r: pd.Series) -> str:
    """Hover lines of a theme cell: mentions of the comments, and NPS with the theme."""
    return f"{_theme_share(r)}<br>NPS with the theme: {_theme_nps(r)}"


def _theme_tested(r: pd.Series) -> bool:
    """Whether a theme's impact was tested: both sides shown and not low base."""
    untested = r["suppressed"] or r["low_base"] or r.get("hidden", False)
    return not untested and not pd.isna(r["significant"])


def theme_significance(r: pd.Series) -> str:
    """The test outcome of a theme's impact in the one significance wording, with why it
    was not tested: withheld, n too small or low base; after correcting for the themes
    tested at once when the row has `comparisons` (impact.theme_impact)."""
    if r.get("hidden", False):
        reason = fmt.hidden()
    elif r["suppressed"]:
        reason = "n too small"
    else:
        reason = "low base"
    return fmt.significance(
        r["significant"] if _theme_tested(r) else None, reason, r.get("comparisons")
    )


def _theme_ticks(themes: Sequence[str], labels: Sequence[object]) -> dict[str, Any]:
    """A category axis of theme ids (two themes may share a label) showing their labels."""
    return {
        "type": "category",
        "tickmode": "array",
        "tickvals": list(themes),
        "ticktext": [_html(label) for label in labels],
    }


def _theme_bars(
    top: pd.DataFrame,
    x: pd.Series,
    colour: str | list[str],
    texts: list[str],
    hover: list[str],
    x_title: str,
) -> go.Figure:
    """Horizontal bars, one per theme (the first row of `top` at the bottom), 26 px a bar."""
    fig = go.Figure(
        go.Bar(
            x=list(x),
            y=list(top["theme"]),
            orientation="h",
            marker_color=colour,
            text=texts,
            textposition="auto",
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
        )
    )
    fig.update_yaxes(**_theme_ticks(top["theme"], top["label"]))
    height = max(240, 26 * len(top) + 60)
    return _layout(
        fig, height, margin={"l": 8, "r": 8, "t": 8, "b": 8}, xaxis_title=x_title, showlegend=False
    )


def theme_volume_figure(frame: pd.DataFrame) -> go.Figure:
    """Horizontal bars of impact.theme_impact's frame (largest first): mentions per theme,
    the largest on top (at most MAX_THEME_BARS); hover: share, comments and NPS with."""
    top = frame.head(MAX_THEME_BARS).iloc[::-1]
    hover = [
        f"<b>{_html(r['label'])}</b><br>{int(r['n']):,} mentions · {r['share']:.1f}% of "
        f"{int(r['comments']):,} comments<br>NPS with the theme: {_theme_nps(r)}"
        for _, r in top.iterrows()
    ]
    texts = [f"{int(n):,} · {s:.1f}%" for n, s in zip(top["n"], top["share"], strict=True)]
    return _theme_bars(top, top["n"], GOOD, texts, hover, "comments mentioning the theme")


def theme_impact_figure(ranked: pd.DataFrame) -> go.Figure:
    """Horizontal bars of NPS with − NPS without per theme, in the order of `ranked`
    (impact.ranked_by_impact: most negative first) from the top; suppressed themes left
    out. Colour = direction when significant, grey when not (or not tested); ★ marks
    significance; hover: both NPS with their n, the impact, t and the test's outcome."""
    shown = ranked[~ranked["suppressed"].astype(bool)].head(MAX_THEME_BARS).iloc[::-1]
    colours, texts, hover = [], [], []
    for _, r in shown.iterrows():
        sig = _theme_tested(r) and bool(r["significant"])
        colours.append((BAD if r["nps_impact"] < 0 else GOOD) if sig else NEUTRAL)
        texts.append(f"{r['nps_impact']:+.1f}{' ★' if sig else ''} (n={int(r['n']):,})")
        t = "" if pd.isna(r["t"]) else f" · t = {r['t']:.2f}"
        hover.append(
            f"<b>{_html(r['label'])}</b><br>NPS with the theme: {_theme_nps(r)}<br>"
            f"NPS without: {_theme_nps(r, 'without')}<br>"
            f"impact {r['nps_impact']:+.1f} points{t} · {theme_significance(r)}"
        )
    fig = _theme_bars(
        shown,
        shown["nps_impact"],
        colours,
        texts,
        hover,
        "NPS impact (points): with the theme − without",
    )
    fig.add_vline(x=0, line_width=1, line_color=NEUTRAL)
    return fig


def theme_trend_figure(
    frame: pd.DataFrame, *, grain: str = "month", notes: pd.DataFrame | None = None
) -> go.Figure:
    """impact.theme_trend's frame: one line per theme (in the frame's order) of the share of
    comments mentioning it per period (periods of `grain`); hover: n, comments and NPS with
    the theme; the annotations `notes` within the periods drawn (annotation_marks)."""
    fig = go.Figure()
    for i, (_, g) in enumerate(frame.groupby("theme", sort=False)):
        g = g.sort_values("period")
        label = _html(g["label"].iloc[0])
        hover = [
            f"<b>{label}</b> · {pd.Timestamp(r['period']):%d %b %Y}<br>{_mentions(r)}"
            for _, r in g.iterrows()
        ]
        colour = PALETTE[i % len(PALETTE)]
        low = g["share_low_base"].to_numpy(dtype=bool) if "share_low_base" in g else None
        fig.add_trace(
            go.Scatter(
                x=g["period"],
                y=g["share"],  # NaN (n too small) leaves a gap
                mode="lines+markers",
                name=label,
                line={"color": colour, "width": 2},
                marker=low_base_marker(low, colour) if low is not None else None,
                connectgaps=False,
                customdata=hover,
                hovertemplate="%{customdata}<extra></extra>",
            )
        )
    fig.update_yaxes(title_text="% of comments")
    annotation_marks(fig, notes, period_span(frame["period"], grain))
    if len(fig.data) > LEGEND_ABOVE_MAX:
        return legend_below(fig, 360)
    return _layout(fig, 360, hovermode="closest")


def theme_heatmap_figure(frame: pd.DataFrame, themes: Sequence[str]) -> go.Figure:
    """impact.theme_matrix's frame for `themes` (rows, in that order) × touchpoints
    (alphabetical): colour = % of the touchpoint's comments mentioning the theme, from 0
    to the largest share; hover: n, comments and NPS with the theme. The touchpoints are
    escaped category values (no tick list: Plotly thins out labels that do not fit)."""
    cells = frame[frame["theme"].isin(list(themes))]
    labels = dict(zip(cells["theme"], cells["label"], strict=False))
    order = [t for t in themes if t in labels]
    touchpoints = sorted(cells["touchpoint"].astype(str).unique())
    z = np.full((len(order), len(touchpoints)), np.nan)
    text = [["" for _ in touchpoints] for _ in order]
    hover = [["no mention" for _ in touchpoints] for _ in order]
    row = {t: i for i, t in enumerate(order)}
    col = {t: j for j, t in enumerate(touchpoints)}
    for _, r in cells.iterrows():
        i, j = row[r["theme"]], col[str(r["touchpoint"])]
        z[i, j] = r["share"]
        share = r["share"]
        small = f"n={int(r['comments'])}"  # too few comments for a share: their n
        text[i][j] = small if pd.isna(share) else "&lt;1" if share < 0.5 else f"{share:.0f}"
        hover[i][j] = f"<b>{_html(r['label'])}</b> at {_html(r['touchpoint'])}<br>{_mentions(r)}"
    top = float(np.nanmax(z)) if np.isfinite(z).any() else 1.0
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[_html(t) for t in touchpoints],
            y=order,
            text=text,
            texttemplate="%{text}",
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
            colorscale=SHARE_SCALE,
            zmin=0.0,
            zmax=max(top, 1.0),
            colorbar={"title": {"text": "% of comments"}, "thickness": 12},
            xgap=1,
            ygap=1,
        )
    )
    fig.update_xaxes(type="category")
    fig.update_yaxes(autorange="reversed", **_theme_ticks(order, [labels[t] for t in order]))
    height = max(300, 28 * len(order) + 140)
    return _layout(fig, height, margin={"l": 8, "r": 8, "t": 8, "b": 8}, hovermode="closest")


# --- why did it move: the change decomposition (cxdata.explain) ---------------------------

WATERFALL_SEGMENTS = 6  # segment bars drawn; the rest is summed into one "other" bar
WHISKER = "#4B5563"  # the CI whiskers: dark grey, readable on the blue and red bars
VALUE_COLUMN_PX = 52  # the numbers' column right of the plot ("-30.0", "23.4")
_UNIT_WORDS = {"pts": "points", "pp": "percentage points"}


def _change_ci(metric: str, low: float | None, high: float | None) -> str:
    """A change's 95% CI in the metric's change unit: "+1.0 – +4.1 pts" ("" without)."""
    if fmt.is_missing(low) or fmt.is_missing(high):
        return ""
    return f" (95% CI {fmt.change(metric, low, unit=False)} – {fmt.change(metric, high)})"


def _plural(noun: str) -> str:
    """region → regions, country → countries, touchpoint → touchpoints."""
    if noun.endswith("y") and noun[-2:-1] not in tuple("aeiou"):
        return noun[:-1] + "ies"
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def plural_dim(dim: str) -> str:
    """A dimension's name in the plural, lower case: journey_stage → journey stages."""
    return _plural(fmt.dim_label(dim).lower())


def waterfall_bars(ex: Explanation, top: int = WATERFALL_SEGMENTS) -> pd.DataFrame:
    """The bars of waterfall_figure, in drawing order, one row each: `kind` ("start" — the
    comparison period's value; "segment" — one segment's within-segment effect; "rest" —
    the within effects of the other segments summed; "mix"; "end" — the current value),
    `key` (unique category), `label` (plain text), `value` (the level for start / end, the
    effect in the metric's change unit otherwise), `ci_low` / `ci_high` (the effect's 95%
    bootstrap interval; NaN for start / end and for a sum of several segments, whose
    interval the engine does not give), `n_now`, `n_prev`, `members` (segments in the bar)
    and `value_now` / `value_prev` (a single segment's values, else NaN).

    Segments are the `top` largest by |within effect| (the bar shows that effect; the
    engine's min-n pool "Other" always goes to the rest), the rest summed; a rest of one
    segment is drawn as that segment. Start + every effect = end (Σ within + mix = total)."""
    seg = ex.segments.reset_index(drop=True)
    order = seg["within"].abs().sort_values(ascending=False, kind="stable").index
    shown = [i for i in order if not seg.at[i, "pooled"]][: max(0, top)]
    rest = seg.drop(index=shown)
    if len(rest) == 1:
        shown, rest = [*shown, int(rest.index[0])], rest.iloc[0:0]
    nan = float("nan")
    rows: list[dict[str, Any]] = [{
        "kind": "start", "key": "start", "label": "Comparison period", "value": ex.value_prev,
        "ci_low": nan, "ci_high": nan, "n_now": ex.n_now, "n_prev": ex.n_prev, "members": 0,
        "value_now": nan, "value_prev": nan,
    }]  # fmt: skip
    for i in shown:
        r = seg.loc[i]
        label = fmt.value_label(ex.dimension, str(r["segment"]))
        if bool(r["pooled"]):
            k = int(r["members"])
            label = f"{label} ({k} value{'s' if k != 1 else ''} under n {ex.min_n})"
        rows.append({
            "kind": "segment", "key": f"seg{i}", "label": label, "value": float(r["within"]),
            "ci_low": float(r["within_ci_low"]), "ci_high": float(r["within_ci_high"]),
            "n_now": int(r["n_now"]), "n_prev": int(r["n_prev"]),
            "members": int(r["members"]),
            "value_now": float(r["value_now"]), "value_prev": float(r["value_prev"]),
        })  # fmt: skip
    if len(rest):
        rows.append({
            "kind": "rest", "key": "rest", "label": f"{len(rest)} other segments",
            "value": float(rest["within"].sum()), "ci_low": nan, "ci_high": nan,
            "n_now": int(rest["n_now"].sum()), "n_prev": int(rest["n_prev"].sum()),
            "members": int(rest["members"].sum()), "value_now": nan, "value_prev": nan,
        })  # fmt: skip
    mix_ci = ex.mix_ci or (nan, nan)
    total_ci = ex.total_ci or (nan, nan)
    rows.append({
        "kind": "mix", "key": "mix", "label": "Answer mix", "value": ex.mix,
        "ci_low": mix_ci[0], "ci_high": mix_ci[1], "n_now": ex.n_now, "n_prev": ex.n_prev,
        "members": len(seg), "value_now": nan, "value_prev": nan,
    })  # fmt: skip
    rows.append({
        "kind": "end", "key": "end", "label": "Current period", "value": ex.value_now,
        "ci_low": total_ci[0], "ci_high": total_ci[1], "n_now": ex.n_now,
        "n_prev": ex.n_prev, "members": 0, "value_now": nan, "value_prev": nan,
    })  # fmt: skip
    return pd.DataFrame(rows)


def _waterfall_hover(ex: Explanation, r: pd.Series) -> str:
    """One bar's hover (HTML, data escaped): the effect in the change unit with its 95% CI,
    n in both periods, and what the bar is."""
    metric, name = ex.metric, metric_def(ex.metric).short_label
    dim = _html(fmt.dim_label(ex.dimension).lower())
    n = f"n = {int(r['n_prev']):,} → {int(r['n_now']):,} answers"
    ci = _change_ci(metric, r["ci_low"], r["ci_high"])
    head = f"<b>{_html(r['label'])}</b><br>"
    if r["kind"] == "start":
        return f"{head}{name} {fmt.value(metric, ex.value_prev)} · n = {ex.n_prev:,}"
    if r["kind"] == "end":
        return (
            f"{head}{name} {fmt.value(metric, ex.value_now)} · n = {ex.n_now:,}<br>"
            f"change {fmt.change(metric, ex.total)}{ci}<br>"
            f"= within segments {fmt.change(metric, ex.within)} + mix {fmt.change(metric, ex.mix)}"
        )
    if r["kind"] == "mix":
        return (
            f"{head}mix effect {fmt.change(metric, r['value'])}{ci}<br>"
            f"the answers' shift between {_plural(dim)} ({len(ex.segments)} segments)<br>{n}"
        )
    if r["kind"] == "rest":
        return (
            f"{head}within-segment effect {fmt.change(metric, r['value'])}, summed over "
            f"{int(r['members']):,} {dim} values<br>{n}<br>"
            "95% CI: per segment, in the table of segments"
        )
    return (
        f"{head}within-segment effect {fmt.change(metric, r['value'])}{ci}<br>"
        f"{name} {fmt.value(metric, r['value_prev'])} → {fmt.value(metric, r['value_now'])}"
        f"<br>{n}"
    )


def waterfall_figure(ex: Explanation, top: int = WATERFALL_SEGMENTS) -> go.Figure:
    """The change decomposition as a horizontal waterfall, top to bottom: the comparison
    period's value → each segment's within-segment effect (waterfall_bars) → the mix
    effect → the current value. A step that moves the metric the good way is GOOD, the bad
    way BAD (friction: down is good); the two levels are NEUTRAL. Each effect's 95%
    bootstrap interval is a whisker around the step's end; every hover has the effect in
    the change unit, its CI and n in both periods; each bar's number (level or signed
    effect) stands in a column right of the plot, clear of the whiskers. The axis is zoomed
    to the levels the steps pass and the whiskers (the level bars run in from its edge)."""
    bars = waterfall_bars(ex, top)
    return _waterfall_drawn(ex.metric, bars, [_waterfall_hover(ex, r) for _, r in bars.iterrows()])


def _waterfall_drawn(metric: str, bars: pd.DataFrame, hovers: Sequence[str]) -> go.Figure:
    """The drawing both waterfalls share: `bars` (waterfall_bars' columns; kinds "start"
    and "end" are the levels, every other kind an effect) with one hover (HTML) per bar →
    the horizontal waterfall, whiskers, the numbers' column and the zoomed axis."""
    m = metric_def(metric)
    value_prev = float(bars["value"].iloc[0])
    effects = ~bars["kind"].isin(["start", "end"]).to_numpy()
    measure = np.where(bars["kind"] == "start", "absolute",
                       np.where(bars["kind"] == "end", "total", "relative"))  # fmt: skip
    text = [
        fmt.value(metric, v) if not fx else fmt.change(metric, v, unit=False)
        for v, fx in zip(bars["value"], effects, strict=True)
    ]
    up, down = (GOOD, BAD) if m.higher_is_better else (BAD, GOOD)
    fig = go.Figure(
        go.Waterfall(
            orientation="h",
            measure=list(measure),
            y=list(bars["key"]),
            x=list(bars["value"]),
            textposition="none",  # the numbers go in a column of their own (below)
            customdata=list(hovers),
            hovertemplate="%{customdata}<extra></extra>",
            increasing={"marker": {"color": up}},
            decreasing={"marker": {"color": down}},
            totals={"marker": {"color": NEUTRAL}},
            connector={"line": {"color": NEUTRAL, "width": 1, "dash": "dot"}},
            name="",
        )
    )
    # the level after each bar: the whisker of an effect sits around its step's end
    level = value_prev + np.cumsum(np.where(effects, bars["value"], 0.0))
    ends = np.where(bars["kind"] == "start", value_prev, level)
    low = np.where(effects, ends - bars["value"] + bars["ci_low"], np.nan)
    high = np.where(effects, ends - bars["value"] + bars["ci_high"], np.nan)
    has_ci = effects & np.isfinite(low) & np.isfinite(high)
    if has_ci.any():
        fig.add_trace(
            go.Scatter(
                x=list(ends[has_ci]),
                y=list(bars["key"][has_ci]),
                mode="markers",
                marker={"size": 1, "color": WHISKER, "opacity": 0},
                error_x={
                    "type": "data", "symmetric": False, "color": WHISKER, "thickness": 1.5,
                    "width": 5, "array": list((high - ends)[has_ci]),
                    "arrayminus": list((ends - low)[has_ci]),
                },
                hoverinfo="skip",
                showlegend=False,
            )
        )
    # beside the bars the numbers crossed the CI whiskers: a column right of the plot
    # (set at once: one add_annotation per bar re-validates the layout each time)
    fig.update_layout(annotations=[
        {"x": 1, "xref": "paper", "y": key, "yref": "y", "text": label, "showarrow": False,
         "xanchor": "left", "xshift": 6, "font": {"size": 12}}
        for key, label in zip(bars["key"], text, strict=True)
    ])  # fmt: skip
    span = waterfall_range([value_prev, *ends, *low, *high], m.decimals)
    fig.update_xaxes(title_text=m.short_label, range=span)
    fig.update_yaxes(
        type="category", autorange="reversed", automargin=True,
        tickmode="array", tickvals=list(bars["key"]), ticktext=[_html(x) for x in bars["label"]],
    )  # fmt: skip
    margin = {"l": 8, "r": MODEBAR_MARGIN + VALUE_COLUMN_PX, "t": 36, "b": 8}
    return _layout(fig, 34 * len(bars) + 90, showlegend=False, hovermode="closest",
                   margin=margin)  # fmt: skip


def waterfall_range(points: Sequence[float], decimals: int) -> list[float]:
    """The waterfall's x range over `points` (every level the steps pass and every whisker
    end; NaN ignored), with 8% of their span on each side (at least 0.5 unit, or 0.02 for
    a metric shown with 2 decimals such as CES)."""
    values = np.asarray(points, "float64")
    values = values[np.isfinite(values)]
    lo, hi = float(values.min()), float(values.max())
    pad = max(0.08 * (hi - lo), 0.5 if decimals < 2 else 0.02)
    return [lo - pad, hi + pad]


def _moved_head(metric: str, total: float) -> str:
    """"NPS fell 10.3 points" / "NPS was unchanged": how a story opens."""
    m = metric_def(metric)
    if round(total, m.decimals) == 0:
        return f"{m.short_label} was unchanged"
    words = _UNIT_WORDS.get(m.change_unit, "")
    size = f"{abs(total):.{m.decimals}f}" + (f" {words}" if words else "")
    return f"{m.short_label} {'rose' if total > 0 else 'fell'} {size}"


def change_story(ex: Explanation) -> str:
    """One plain-text sentence (not escaped) from the numbers: how the metric moved, how
    many segments got better (in the metric's good direction) with the within effect, and
    where the answer mix shifted with the mix effect — e.g. "NPS fell 25.0 points: every
    customer type improved (+5.0 pts within segments), but the answer mix shifted toward
    segments with lower NPS (-30.0 pts mix).". Segments with answers in both periods
    count; "but" joins effects of opposite sign."""
    m = metric_def(ex.metric)
    places = m.decimals
    head = _moved_head(ex.metric, ex.total)
    seg = ex.segments[(ex.segments["n_now"] > 0) & (ex.segments["n_prev"] > 0)]
    delta = (seg["value_now"] - seg["value_prev"]).to_numpy("float64")
    better = int((delta > 0).sum() if m.higher_is_better else (delta < 0).sum())
    worse = int((delta < 0).sum() if m.higher_is_better else (delta > 0).sum())
    noun = fmt.dim_label(ex.dimension).lower()
    if seg.empty:
        moved = f"no {noun} has answers in both periods"
    elif better == len(seg):
        moved = f"every {noun} improved"
    elif worse == len(seg):
        moved = f"every {noun} got worse"
    else:
        moved = f"{better} of {len(seg)} {_plural(noun)} improved"
    within = f"{moved} ({fmt.change(ex.metric, ex.within)} within segments)"
    mix_text = fmt.change(ex.metric, ex.mix)
    if round(ex.mix, places) == 0:
        mix = f"the answer mix barely moved ({mix_text} mix)"
    else:
        way = "higher" if ex.mix > 0 else "lower"
        mix = f"the answer mix shifted toward segments with {way} {m.short_label} ({mix_text} mix)"
    opposite = round(ex.within, places) * round(ex.mix, places) < 0
    return f"{head}: {within}, {'but' if opposite else 'and'} {mix}."


def waterfall2_bars(ex: Explanation2D) -> pd.DataFrame:
    """The bars of waterfall2_figure, in drawing order, with waterfall_bars' columns: the
    comparison period's value ("start"), the mix effect of A ("mix_a"), of B ("mix_b"),
    the within-cell effect ("within") and the current value ("end"). `value` is the level
    for start / end and the effect in the metric's change unit otherwise, with its 95%
    bootstrap interval (`ci_low` / `ci_high`; the end bar carries the total's); `members`
    counts A's values, B's values and the cells. Start + the three effects = end."""
    a, b = ex.dimensions
    nan = float("nan")
    cells = ex.cells
    rows: list[dict[str, Any]] = []
    for kind, label, value, ci, members in (
        ("start", "Comparison period", ex.value_prev, None, 0),
        ("mix_a", f"Mix of {plural_dim(a)}", ex.mix_a, ex.mix_a_ci,
         cells["a"].nunique()),
        ("mix_b", f"Mix of {plural_dim(b)}", ex.mix_b, ex.mix_b_ci,
         cells["b"].nunique()),
        ("within", "Within cells", ex.within, ex.within_ci, len(cells)),
        ("end", "Current period", ex.value_now, ex.total_ci, 0),
    ):  # fmt: skip
        low, high = ci or (nan, nan)
        rows.append({
            "kind": kind, "key": kind, "label": label, "value": float(value),
            "ci_low": low, "ci_high": high, "n_now": ex.n_now, "n_prev": ex.n_prev,
            "members": int(members), "value_now": nan, "value_prev": nan,
        })  # fmt: skip
    return pd.DataFrame(rows)


def _waterfall2_hover(ex: Explanation2D, r: pd.Series) -> str:
    """One bar's hover of waterfall2_figure (HTML, data escaped): the effect in the change
    unit with its 95% CI, n in both periods, and what the effect means."""
    metric, name = ex.metric, metric_def(ex.metric).short_label
    a, b = (_html(fmt.dim_label(d).lower()) for d in ex.dimensions)
    n = f"n = {int(r['n_prev']):,} → {int(r['n_now']):,} answers"
    ci = _change_ci(metric, r["ci_low"], r["ci_high"])
    head = f"<b>{_html(r['label'])}</b><br>"
    k = int(r["members"])
    if r["kind"] == "start":
        return f"{head}{name} {fmt.value(metric, ex.value_prev)} · n = {ex.n_prev:,}"
    if r["kind"] == "end":
        return (
            f"{head}{name} {fmt.value(metric, ex.value_now)} · n = {ex.n_now:,}<br>"
            f"change {fmt.change(metric, ex.total)}{ci}<br>"
            f"= mix of {_plural(a)} {fmt.change(metric, ex.mix_a)} + mix of {_plural(b)} "
            f"{fmt.change(metric, ex.mix_b)} + within cells {fmt.change(metric, ex.within)}"
        )
    if r["kind"] == "within":
        return (
            f"{head}within-cell effect {fmt.change(metric, r['value'])}{ci}<br>"
            f"the {a} × {b} cells themselves got better or worse ({k:,} cells)<br>{n}"
        )
    dim = a if r["kind"] == "mix_a" else b
    return (
        f"{head}mix effect {fmt.change(metric, r['value'])}{ci}<br>"
        f"the answers' shift between {_plural(dim)} ({k:,} values)<br>{n}"
    )


def waterfall2_figure(ex: Explanation2D) -> go.Figure:
    """The two-dimension change decomposition (Das Gupta) as a horizontal waterfall, top
    to bottom: the comparison period's value → the mix effect of A → the mix effect of B →
    the within-cell effect → the current value (waterfall2_bars), drawn like
    waterfall_figure: good / bad colours, each effect's 95% bootstrap whisker, hovers with
    the effect, its CI, n in both periods and what it means, the numbers right of the plot."""
    bars = waterfall2_bars(ex)
    return _waterfall_drawn(ex.metric, bars, [_waterfall2_hover(ex, r) for _, r in bars.iterrows()])


def change_story2(ex: Explanation2D) -> str:
    """One plain-text sentence (not escaped) for a two-dimension decomposition: how the
    metric moved, then the three effects largest first — e.g. "NPS fell 10.3 points:
    -7.9 pts within region × touchpoint cells, -1.2 pts from the shift between regions,
    -1.2 pts from the shift between touchpoints."."""
    m = metric_def(ex.metric)
    places = m.decimals
    head = _moved_head(ex.metric, ex.total)
    a, b = (fmt.dim_label(d).lower() for d in ex.dimensions)
    parts = [
        (ex.within, f"within {a} × {b} cells"),
        (ex.mix_a, f"from the shift between {_plural(a)}"),
        (ex.mix_b, f"from the shift between {_plural(b)}"),
    ]
    parts.sort(key=lambda p: -abs(round(p[0], places)))  # stable: ties keep this order
    return f"{head}: " + ", ".join(f"{fmt.change(ex.metric, v)} {t}" for v, t in parts) + "."


# --- key drivers: importance × performance (cxdata.drivers) --------------------------------

FIX_FIRST = "Fix first"
MAX_DRIVER_LABELS = 10  # named points at most; the rest are named in their hover
_KIND_COLOR = {"rating": PALETTE[0], "theme": PALETTE[1]}
_KIND_NAME = {"rating": "Touchpoint rating", "theme": "Comment theme"}


def drivers_points(result: Drivers) -> pd.DataFrame:
    """The drivers of `result` that the quadrant can place: touchpoint ratings with a
    top-2-box %, one row each in the engine's order: `label`, `kind`, `x`
    (performance_top2_pct, %), `y` (share of R², %), `err_low` / `err_high` (the 95% CI's
    distance below / above y, in the same %; NaN without bootstrap), `top3_share` (0–1),
    `n`, `performance` (what x is). Themes are never placed: how often a theme is mentioned
    is no performance (a complaint and a compliment look alike), so a rarely raised
    complaint would land in "fix first" — they are ranked by importance only
    (drivers_view.theme_table)."""
    d = result.drivers
    d = d[np.isfinite(d["performance_top2_pct"].to_numpy("float64")) & (d["kind"] == "rating")]
    scale = 100.0 / result.r2 if result.r2 > 0 else np.nan
    y = d["importance"].to_numpy("float64") * scale
    # a percentile interval need not contain the point estimate: never a negative whisker
    low = np.clip(y - d["ci_low"].to_numpy("float64") * scale, 0.0, None)
    high = np.clip(d["ci_high"].to_numpy("float64") * scale - y, 0.0, None)
    return pd.DataFrame({
        "label": d["label"].astype(str).to_numpy(), "kind": d["kind"].to_numpy(),
        "x": d["performance_top2_pct"].to_numpy("float64"), "y": y,
        "err_low": low, "err_high": high, "top3_share": d["top3_share"].to_numpy("float64"),
        "n": d["n"].to_numpy("int64"), "performance": d["performance"].to_numpy(),
    })  # fmt: skip


def _driver_hover(r: pd.Series) -> str:
    """One driver's hover (HTML, label escaped): importance with its CI, how often it is
    top 3, performance and n."""
    ci = ""
    if np.isfinite(r["err_low"]) and np.isfinite(r["err_high"]):
        ci = f" (95% CI {r['y'] - r['err_low']:.1f} – {r['y'] + r['err_high']:.1f}%)"
    top3 = (f"<br>top 3 in {100 * r['top3_share']:.0f}% of resamples"
            if np.isfinite(r["top3_share"]) else "")  # fmt: skip
    return (
        f"<b>{_html(r['label'])}</b> ({_KIND_NAME.get(str(r['kind']), _html(r['kind']))})<br>"
        f"importance {r['y']:.1f}% of R²{ci}{top3}<br>"
        f"performance {r['x']:.1f}% ({_html(r['performance'])})<br>n = {int(r['n']):,}"
    )


def _label_positions(x: np.ndarray, lo: float, hi: float) -> list[str]:
    """Text beside each point, clear of its vertical whisker: right of the points in the
    left half of the x range, left of those in the right half (no label runs off the
    plot)."""
    mid = (lo + hi) / 2
    return ["middle right" if v <= mid else "middle left" for v in x]


def labelled_drivers(y: np.ndarray) -> np.ndarray:
    """Which points carry their name: importance at least half the mean (the minor drivers
    crowd together near 0 and their names would overlap), at most MAX_DRIVER_LABELS, the
    most important first."""
    keep = y >= np.mean(y) / 2
    order = np.argsort(-y, kind="stable")
    keep[order[MAX_DRIVER_LABELS:]] = False
    return keep


def drivers_quadrant(result: Drivers) -> go.Figure:
    """The key drivers as an importance × performance quadrant: x = performance (a rating's
    top-2-box %, a theme's share of answers mentioning it), y = importance (share of R²,
    %) with its 95% bootstrap interval as a vertical whisker, one point per driver placed
    by drivers_points (labels escaped), coloured by kind. The quadrant lines sit at the
    median performance and the mean importance (100% / drivers placed); the "fix first"
    quadrant — important and weak: above the mean importance, left of the median
    performance — is shaded BAD lightly and labelled. Minor drivers are unnamed on the
    plot (labelled_drivers). Hover: importance with CI, share of
    resamples in the top 3, performance, n. Raises ValueError when no driver can be
    placed."""
    pts = drivers_points(result)
    if pts.empty:
        raise ValueError("no driver has a performance number to place it by")
    x_mid = float(np.median(pts["x"]))
    y_mid = float(np.mean(pts["y"]))
    top = pts["y"] + pts["err_high"].fillna(0.0)
    y_hi = max(float(top.max()), y_mid) * 1.12 + 1.0
    x_lo = max(0.0, float(pts["x"].min()) - 8.0)
    x_hi = min(100.0, float(pts["x"].max()) + 8.0)
    if x_hi - x_lo < 20:  # a handful of close values: keep some room around them
        x_lo, x_hi = max(0.0, x_mid - 10.0), min(100.0, x_mid + 10.0)
    fig = go.Figure()
    fig.add_shape(
        type="rect", x0=x_lo, x1=x_mid, y0=y_mid, y1=y_hi, layer="below",
        fillcolor=_rgba(BAD, 0.10), line={"width": 0},
    )  # fmt: skip
    fig.add_annotation(
        x=x_lo, y=y_hi, text=f"<b>{FIX_FIRST}</b>: important and weak", showarrow=False,
        xanchor="left", yanchor="top", xshift=4, yshift=-2, font={"size": 11, "color": BAD},
    )  # fmt: skip
    line = {"color": NEUTRAL, "width": 1, "dash": "dot"}
    fig.add_shape(type="line", x0=x_mid, x1=x_mid, y0=0, y1=y_hi, line=line, layer="below")
    fig.add_shape(type="line", x0=x_lo, x1=x_hi, y0=y_mid, y1=y_mid, line=line, layer="below")
    positions = _label_positions(pts["x"].to_numpy(), x_lo, x_hi)
    named = labelled_drivers(pts["y"].to_numpy())
    for kind in ("rating", "theme"):
        sel = (pts["kind"] == kind).to_numpy()
        if not sel.any():
            continue
        part = pts[sel]
        fig.add_trace(
            go.Scatter(
                x=list(part["x"]), y=list(part["y"]), mode="markers+text",
                name=_KIND_NAME[kind],
                text=[_html(v) if k else "" for v, k in zip(part["label"], named[sel],
                                                             strict=True)],
                textposition=[p for p, s in zip(positions, sel, strict=True) if s],
                textfont={"size": 11},
                marker={"color": _KIND_COLOR[kind], "size": 9},
                error_y={
                    "type": "data", "symmetric": False, "color": _KIND_COLOR[kind],
                    "thickness": 1.2, "width": 4, "array": list(part["err_high"]),
                    "arrayminus": list(part["err_low"]),
                },
                customdata=[_driver_hover(r) for _, r in part.iterrows()],
                hovertemplate="%{customdata}<extra></extra>",
                cliponaxis=False,
            )
        )  # fmt: skip
    fig.update_xaxes(title_text="Performance (%)",
                     range=[x_lo, x_hi], ticksuffix="%", zeroline=False)  # fmt: skip
    fig.update_yaxes(title_text="Importance (% of R²)", range=[0, y_hi], ticksuffix="%",
                     zeroline=False)  # fmt: skip
    return _layout(fig, 480, hovermode="closest", showlegend=True)
