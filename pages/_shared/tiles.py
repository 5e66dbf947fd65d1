"""KPI tiles: value, 95% CI and n, change vs the comparison period with its significance,
target where set, and a sparkline. A change is coloured only when it is significant;
otherwise it is grey and says "not significant" or why it was not tested (DESIGN §4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import pandas as pd

from cxdata.config import Thresholds
from cxdata.kpi_metrics import MetricKpi, ScoreChange, VolumeChange
from cxdata.metrics import metric_def
from cxdata.queries import Score
from pages._shared import charts, fmt

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
    where: Any, frame: pd.DataFrame | None, key: str, y: str, hover: list[str], color: str
) -> None:
    if frame is None or frame.empty or frame[y].notna().sum() < 2:
        where.caption("Not enough periods for a sparkline.")
        return
    fig = charts.sparkline(frame.iloc[:, 0], frame[y], hover, color)
    where.plotly_chart(fig, key=key, config=charts.SPARK_CONFIG, theme="streamlit")


def score_tile(
    where: Any,
    metric: str,
    score: Score,
    change: ScoreChange,
    vs_label: str,
    trend: pd.DataFrame | None,
    th: Thresholds,
) -> None:
    """One survey metric (NPS, CSAT, CES) as a bordered tile."""
    box = where.container(border=True)
    m = metric_def(metric)
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
        f"  \n{vs_label.capitalize()}: {before}"
    )
    if trend is not None:
        dates = [f"{pd.Timestamp(p):%d %b %Y}" for p in trend["period"]]
        hover = charts.score_hovers(trend, metric, dates)
        _spark(box, trend[["period", m.value]], f"spark_{metric}", m.value, hover, charts.GOOD)


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
            f"{pd.Timestamp(p):%d %b %Y}: {d:,.0f} answers/day ({int(n):,} in the period)"
            for p, d, n in zip(trend["period"], trend["per_day"], trend["responses"], strict=True)
        ]
        _spark(
            box, trend[["period", "per_day"]], "spark_responses", "per_day", hover, charts.NEUTRAL
        )


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


def metric_kpi_tile(
    where: Any, kpi: MetricKpi, vs_label: str, series: pd.DataFrame | None, key: str
) -> None:
    """One metrics-dataset KPI: period mean, change with its test, target, sparkline."""
    box = where.container(border=True)
    label = fmt.md_escape(kpi.metric[:1].upper() + kpi.metric[1:])  # a name from the data
    md = fmt.md_escape
    delta = None if kpi.change is None else unit_change(kpi.change, kpi.unit, md)
    verdict = "not tested" if kpi.significant is None else fmt.significance(kpi.significant)
    box.metric(
        label,
        unit_value(kpi.value, kpi.unit, md),
        delta=delta,
        delta_color=_delta_color(kpi.significant, kpi.higher_is_better),
        delta_description=verdict if delta else None,
        help=f"Mean of the dated values in the period; with several series (e.g. one "
        f"per country) each date's value is their unweighted mean. Change vs the "
        f"{vs_label}: {kpi.note}.",
    )
    span = fmt.date_range(kpi.first, kpi.last) if kpi.first else "–"
    first = f"mean of {kpi.points} value{'s' if kpi.points != 1 else ''} ({span})"
    if kpi.series > 1:
        first += f" · {kpi.series} series"
    second = f"{vs_label.capitalize()}: {unit_value(kpi.previous, kpi.unit, md)}"
    if kpi.target is not None:
        met = {True: "✓ met", False: "✗ missed", None: ""}[kpi.on_target]
        second += f" · target {unit_value(kpi.target, kpi.unit, md)} {met}".rstrip()
    box.caption(f"{first}  \n{second}")
    if series is not None and not series.empty:
        hover = [
            f"{pd.Timestamp(d):%b %Y}: {unit_value(v, kpi.unit, fmt.plotly_escape)}"
            for d, v in zip(series["date"], series["value"], strict=True)
        ]
        color = charts.GOOD if kpi.on_target in (True, None) else charts.BAD
        _spark(box, series[["date", "value"]], key, "value", hover, color)
