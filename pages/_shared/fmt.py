"""How numbers, changes, significance and names are written in the UI (one place)."""

from __future__ import annotations

import datetime as dt
import math
import re

from cxdata.filters import Filters
from cxdata.queries import Score
from cxdata.scores import METRICS

SHORT_LABELS: dict[str, str] = {
    "nps": "NPS",
    "csat": "CSAT",
    "ces": "CES",
    "ces_easy": "CES % easy",
    "friction": "Friction rate",
    "detractor_pct": "Detractors",
    "promoter_pct": "Promoters",
}
CHANGE_UNITS: dict[str, str] = {"nps": "pts", "ces": ""}  # shares change in percentage points

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def is_missing(value: float | None) -> bool:
    """None or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def value(metric: str, v: float | None) -> str:
    """A metric value in its unit: NPS 24.9, CSAT 76.4%, CES 4.95."""
    if is_missing(v):
        return "–"
    if metric == "ces":
        return f"{v:.2f}"
    if metric == "nps":
        return f"{v:.1f}"
    return f"{v:.1f}%"


def change(metric: str, d: float | None) -> str:
    """A change in the metric's unit: +1.2 pts, −0.8 pp, +0.05."""
    if is_missing(d):
        return "–"
    if metric == "ces":
        return f"{d:+.2f}"
    unit = CHANGE_UNITS.get(metric, "pp")
    return f"{d:+.1f} {unit}".strip()


def count(n: int | float | None) -> str:
    """12,345."""
    return "–" if is_missing(n) else f"{int(n):,}"


def ci(metric: str, low: float | None, high: float | None) -> str:
    """The 95% confidence interval, e.g. 23.1 – 26.7."""
    if is_missing(low) or is_missing(high):
        return "–"
    return f"{value(metric, low)} – {value(metric, high)}"


def score(metric: str, s: Score) -> str:
    """The number to show for a Score: the value, or "n too small (n=7)"."""
    return too_small(s.n) if s.suppressed else value(metric, s.value)


def too_small(n: int) -> str:
    """The honest placeholder for a suppressed score."""
    return f"n too small (n={int(n):,})"


def significance(significant: bool | None, untested_reason: str = "low base") -> str:
    """significant / not significant / not tested (reason)."""
    if significant is None:
        return f"not tested ({untested_reason})"
    return "significant" if significant else "not significant"


def significance_short(significant: bool | None) -> str:
    """significant / not significant / not tested (the reason goes in the caption)."""
    if significant is None:
        return "not tested"
    return "significant" if significant else "not significant"


def date_range(start: dt.date | None, end: dt.date | None) -> str:
    """27 Aug – 24 Nov 2026 (years only where needed)."""
    if start is None or end is None:
        return "all dates"
    if start == end:
        return f"{start:%-d %b %Y}"
    if start.year == end.year:
        return f"{start:%-d %b} – {end:%-d %b %Y}"
    return f"{start:%-d %b %Y} – {end:%-d %b %Y}"


def dim_label(dim: str) -> str:
    """journey_stage → Journey stage."""
    return dim.replace("_", " ").capitalize()


def metric_label(metric: str) -> str:
    """The long label of a metric from the engine's registry."""
    return METRICS[metric].label if metric in METRICS else metric


def md_escape(text: str) -> str:
    """Text from the data made safe inside markdown (labels of links, captions)."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def filters_summary(f: Filters) -> str:
    """region = Oslo, Viken · plan = Basic (markdown-escaped), or "all customers"."""
    parts = [f"{dim_label(dim)} = {', '.join(values)}" for dim, values in f.where]
    return md_escape(" · ".join(parts)) if parts else "all answers"
