"""How numbers, changes, significance and names are written in the UI (one place)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable

import pandas as pd

from cxdata.comments import neutralise
from cxdata.filters import Filters
from cxdata.queries import Score
from cxdata.scores import METRICS
from cxdata.textsafe import clean_text as clean_text  # re-exported: one place for pages
from cxdata.textsafe import md_escape as md_escape
from cxdata.textsafe import plotly_escape as plotly_escape

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


def hidden(n: int | None = None) -> str:
    """The placeholder for a value withheld by secondary suppression: its own n is large
    enough, but showing it would let a small group be worked out by subtraction."""
    return "hidden: would reveal a small group" + ("" if n is None else f" (n={int(n):,})")


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


def safe_cell(value: object) -> object:
    """A grid cell: text cleaned of bidi / control characters and neutralised like our CSV
    exports (a leading ' before = + - @ …); other values unchanged."""
    return neutralise(clean_text(value)) if isinstance(value, str) else value


def safe_table(frame: pd.DataFrame, keep: Iterable[str] = ()) -> pd.DataFrame:
    """`frame` for st.dataframe: data-derived text is shown cleaned and formula-neutralised,
    because the grid's toolbar downloads exactly what it shows as CSV. Columns in `keep`
    hold our own text (a signed number such as "-0.42") and are only cleaned."""
    out = frame.copy()
    kept = set(keep)
    for col in out.columns:
        if pd.api.types.is_numeric_dtype(out[col]) or pd.api.types.is_datetime64_any_dtype(
            out[col]
        ):
            continue
        cell = clean_text if col in kept else safe_cell
        out[col] = out[col].map(lambda v, f=cell: f(v) if isinstance(v, str) else v)
    headers = [safe_cell(c) if isinstance(c, str) else c for c in out.columns]
    if len(set(headers)) == len(headers):  # two headers that clean to one: leave them be
        out.columns = headers
    return out


def filters_summary(f: Filters) -> str:
    """region = Oslo, Viken · plan = Basic (markdown-escaped), or "all customers"."""
    parts = [f"{dim_label(dim)} = {', '.join(values)}" for dim, values in f.where]
    return md_escape(" · ".join(parts)) if parts else "all answers"
