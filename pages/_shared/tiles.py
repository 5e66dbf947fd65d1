"""KPI tiles: value, 95% CI and n, change vs the comparison period with its significance,
target where set, and a sparkline. A change is coloured only when it is significant;
otherwise it is grey and says "not significant" or why it was not tested (DESIGN §4)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, Literal

import pandas as pd
import plotly.graph_objects as go

from cxdata import charts, fmt
from cxdata.config import Thresholds
from cxdata.kpi_metrics import MetricKpi, ScoreChange, VolumeChange
from cxdata.metrics import metric_def
from cxdata.queries import Score
from cxdata.specfigure import SpecFigure
from cxdata.targets import on_target
from pages._shared import score_targets
from pages._shared.common import DATA

DeltaColor = Literal["normal", "inverse", "off"]

RESPONSES_HELP = (
    "Survey answers inside the filters. The change is tested as a Poisson rate "
    "(z = (N₁ − N₂)/√(N₁ + N₂) for equally long periods)."
)


def _delta_color(significant: bool | None, higher_is_better: bool) -> DeltaColor:
    if not significant:
        return "off"
    return "normal" if higher_is_better else "inverse"


def _spark(
    where: Any,
    frame: pd.DataFrame | None,
    x: str,
    y: str,
    key: str,
    hover: list[str],
    color: str,
    partial: pd.Series | None = None,
) -> None:
    """The sparkline of `frame`'s column `y` over its column `x` (read as two columns: a
    frame of both would be copied)."""
    if frame is None or frame.empty or frame[y].notna().sum() < 2:
        where.caption("Not enough periods for a sparkline.")
        return
    fig = sparkline_figure(frame[x], frame[y], hover, color, partial)
    where.plotly_chart(fig, key=key, config=charts.SPARK_CONFIG, theme="streamlit")


# Sparkline figures by what they draw, for every session of the process: a filter the data
# behind a tile ignores (the metrics dataset has no region) reruns the page with the same
# lines, and building a Plotly figure costs more than the rest of the tile.
_SPARKS: dict[tuple[object, ...], go.Figure] = {}
_SPARKS_KEPT = 512


def sparkline_figure(
    x: pd.Series, y: pd.Series, hover: Sequence[str], color: str, partial: pd.Series | None
) -> go.Figure:
    """charts.sparkline(x, y, hover, color, partial) as a SpecFigure (never built as
    Plotly objects), made once per distinct drawing and shared (st.plotly_chart only
    reads a figure). The key is the drawing written out: the x values as text, the y
    values by repr (missing ones as "nan"), hover, colour and the partial flags."""
    key = (
        tuple(str(v) for v in x),
        tuple("nan" if pd.isna(v) else repr(float(v)) for v in y),
        tuple(hover),
        color,
        None if partial is None else tuple(bool(p) for p in partial),
    )
    fig = _SPARKS.get(key)
    if fig is None:
        if len(_SPARKS) >= _SPARKS_KEPT:
            _SPARKS.clear()
        spec = charts.sparkline_spec(x, y, hover, color, partial)
        fig = _SPARKS[key] = SpecFigure(spec)
    return fig


def month_labels(trend: pd.DataFrame) -> list[str]:
    """"Jun 2026" per period of a monthly frame, "Jun 2026 (so far)" for a `partial` one."""
    partial = trend["partial"] if "partial" in trend else pd.Series(False, index=trend.index)
    return [
        f"{pd.Timestamp(p):%b %Y}" + (" (so far)" if cut else "")
        for p, cut in zip(trend["period"], partial, strict=True)
    ]


def score_tile(
    where: Any,
    metric: str,
    score: Score,
    change: ScoreChange,
    vs_label: str,
    trend: pd.DataFrame | None,
    th: Thresholds,
    *,
    in_data: bool = True,
    data_link: bool = False,
    why: Callable[[str], None] | None = None,
) -> None:
    """One survey metric (NPS, CSAT, CES) as a bordered tile. With no answers at all it
    says why: none in this selection, or (`in_data` False) none in the whole data, with a
    link to the Data page when `data_link` (the viewer may import). With `why`, a shown
    score gets a "Why did it move?" button that calls `why(metric)`."""
    box = where.container(border=True)
    m = metric_def(metric)
    if score.n == 0:
        box.metric(m.short_label, fmt.too_small(0), help=m.help)
        box.caption(fmt.no_answers(metric, in_data))
        if not in_data and data_link:
            box.page_link(DATA.path, label="Data page", icon=DATA.icon)
        return
    if score.suppressed:
        box.metric(m.short_label, "n too small", help=m.help)
        box.caption(f"n = {score.n:,}: fewer than {th.min_n} answers, so no score is shown.")
        return
    delta = None if change.change is None else fmt.change(metric, change.change)
    reason = "low base" if change.n_previous >= th.min_n else "too few answers before"
    box.metric(
        m.short_label,
        fmt.value(metric, score.value),
        delta=delta,
        delta_color=_delta_color(change.significant, m.higher_is_better),
        delta_description=fmt.significance(change.significant, reason) if delta else None,
        help=m.help,
    )
    low = " · **low base**" if score.low_base else ""
    before = (
        f"{fmt.value(metric, change.previous)} (n = {change.n_previous:,})"
        if change.previous is not None
        else fmt.too_small(change.n_previous)
    )
    box.caption(
        f"95% CI {fmt.ci(metric, score.ci_low, score.ci_high)} · n = {score.n:,}{low}"
        f"  \n{vs_label.capitalize()}: {before}{target_line(metric, score)}"
    )
    if why is not None:
        box.button(
            "Why did it move?", key=f"why_{metric}", on_click=why, args=(metric,),
            type="tertiary", icon=":material/waterfall_chart:",
            help=f"Split the change in {m.short_label} into the segments' own changes and "
            "the shift in the answer mix",
        )  # fmt: skip
    if trend is not None:
        hover = charts.score_hovers(trend, metric, month_labels(trend))
        _spark(
            box, trend, "period", m.value, f"spark_{metric}", hover, charts.GOOD,
            trend.get("partial"),
        )  # fmt: skip


def target_line(metric: str, score: Score) -> str:
    """The tile caption's target line ("" without a target): "Target 30.0: ✓ met", with
    "(target inside the 95% CI)" when the interval does not settle it. The admins set the
    targets (cxdata.targets); a wrong targets file shows none (score_targets.admin_note)."""
    target = score_targets.current().targets.get(metric)
    if target is None or fmt.is_missing(score.value):
        return ""
    verdict = "✓ met" if on_target(metric, score.value, target) else "✗ missed"
    low, high = score.ci_low, score.ci_high
    inside = low is not None and high is not None and low <= target <= high
    return f"  \nTarget {fmt.value(metric, target)}: {verdict}" + (
        " (target inside the 95% CI)" if inside else ""
    )


def volume_tile(
    where: Any, volume: VolumeChange, vs_label: str, trend: pd.DataFrame | None
) -> None:
    """The number of answers, its change and the Poisson test of the change; the sparkline
    shows answers per day of each period (`per_day`), so partial periods do not dip."""
    box = where.container(border=True)
    delta = None if volume.change_pct is None else f"{volume.change_pct:+.1f}%"
    box.metric(
        "Responses",
        fmt.count(volume.now),
        delta=delta,
        delta_color="off" if not volume.significant else "normal",
        delta_description=fmt.significance(volume.significant, "no answers before")
        if delta
        else None,
        help=RESPONSES_HELP,
    )
    box.caption(
        f"survey answers in the period  \n{vs_label.capitalize()}: {fmt.count(volume.previous)}"
    )
    if trend is not None:
        hover = [
            f"{label}: {d:,.0f} answers/day ({int(n):,} in the month)"
            for label, d, n in zip(
                month_labels(trend), trend["per_day"], trend["responses"], strict=True
            )
        ]
        _spark(
            box, trend, "period", "per_day", "spark_responses", hover, charts.NEUTRAL,
            trend.get("partial"),
        )  # fmt: skip


def unit_value(v: float | None, unit: str, escape: Callable[[str], str] = str) -> str:
    """86.8% · 4.70 min · 1,234. The unit comes from the data: `escape` makes it safe
    where the text is shown (fmt.md_escape for Markdown, fmt.plotly_escape for Plotly)."""
    if fmt.is_missing(v):
        return "–"
    if unit == "%":
        return f"{v:.1f}%"
    short = escape({"minutes": "min", "seconds": "s", "hours": "h"}.get(unit, unit))
    return f"{v:,.2f} {short}".strip()


def unit_change(d: float, unit: str, escape: Callable[[str], str] = str) -> str:
    """+0.2 pp · +0.25 min (the sign first and unescaped: st.metric reads it)."""
    if unit == "%":
        return f"{d:+.1f} pp"
    short = escape({"minutes": "min", "seconds": "s", "hours": "h"}.get(unit, unit))
    return f"{d:+,.2f} {short}".strip()


def values_span(first: dt.date | None, last: dt.date | None, cadence: str) -> str:
    """The dates a KPI value is made of: monthly values (dated on the 1st) by their months,
    "May – Jun 2026", "Dec 2025 – Jan 2026", "Jun 2026"; other cadences by day; "–"."""
    if first is None or last is None:
        return "–"
    if cadence != "monthly":
        return fmt.date_range(first, last)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first:%b %Y}"
    lead = f"{first:%b}" if first.year == last.year else f"{first:%b %Y}"
    return f"{lead} – {last:%b %Y}"


def metric_kpi_tile(
    where: Any,
    kpi: MetricKpi,
    vs_label: str,
    series: pd.DataFrame | None,
    key: str,
    ignored: Sequence[str] = (),
) -> None:
    """One metrics-dataset KPI: its value over the period (the pooled rate when the data
    gives its base, else the mean of the dated values), the change with its test or why it
    was not tested, target, the active filters it is `ignored` by, and a sparkline."""
    box = where.container(border=True)
    label = fmt.md_escape(kpi.metric[:1].upper() + kpi.metric[1:])  # a name from the data
    md = fmt.md_escape
    delta = None if kpi.change is None else unit_change(kpi.change, kpi.unit, md)
    pooled = kpi.base is not None
    box.metric(
        label,
        unit_value(kpi.value, kpi.unit, md),
        delta=delta,
        delta_color=_delta_color(kpi.significant, kpi.higher_is_better),
        # the reason a change was not tested is the caption's third line (no room here)
        delta_description=(
            fmt.significance(kpi.significant) if kpi.significant is not None else "not tested"
        )
        if delta
        else None,
        help=(
            "The rate over the period's dated values, Σ(value × base)/Σ base, with its base "
            "from the data; the change is tested on those counts (two-proportion z)."
            if pooled
            else "Mean of the dated values in the period; with several series (e.g. one per "
            "country) each date's value is their unweighted mean."
        )
        + f" Change vs the {vs_label}: {kpi.note}.",
    )
    span = values_span(kpi.first, kpi.last, kpi.cadence)
    values = f"{kpi.points} {kpi.cadence} value{'s' if kpi.points != 1 else ''}"
    first = (
        f"rate of {values}, base {kpi.base:,.0f} ({span})"
        if pooled
        else f"mean of {values} ({span})"
    )
    if kpi.series > 1:
        first += f" · {kpi.series} series"
    before = values_span(kpi.previous_first, kpi.previous_last, kpi.cadence)
    second = f"{vs_label.capitalize()} ({before}): {unit_value(kpi.previous, kpi.unit, md)}"
    if kpi.target is not None:
        met = {True: "✓ met", False: "✗ missed", None: ""}[kpi.on_target]
        second += f" · target {unit_value(kpi.target, kpi.unit, md)} {met}".rstrip()
    lines = [first, second, md(kpi.note[:1].upper() + kpi.note[1:]) + "."]
    if ignored:  # the filters this number could not apply (the metrics have no such column)
        note = fmt.not_narrowed(ignored)
        lines.append(f"**{md(note[:1].upper() + note[1:])}** (no such column in the metrics)")
    box.caption("  \n".join(lines))
    if series is not None and not series.empty:
        hover = [
            f"{pd.Timestamp(d):%b %Y}: {unit_value(v, kpi.unit, fmt.plotly_escape)}"
            for d, v in zip(series["date"], series["value"], strict=True)
        ]
        color = charts.GOOD if kpi.on_target in (True, None) else charts.BAD
        _spark(box, series, "date", "value", key, hover, color)
