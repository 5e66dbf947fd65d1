"""How numbers, changes, significance and names are written — on screen, in digests and
in reports (one place)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from cxdata.comments import neutralise
from cxdata.filters import NOT_SET, Filters
from cxdata.metrics import metric_def
from cxdata.ratings import scale_label
from cxdata.stats import corrected_wording as corrected  # re-exported: one wording
from cxdata.textsafe import clean_text as clean_text  # re-exported: one place for pages
from cxdata.textsafe import md_escape as md_escape
from cxdata.textsafe import plotly_escape as plotly_escape
from cxdata.voc.language import language_name


def is_missing(value: float | None) -> bool:
    """None or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def value(metric: str, v: float | None) -> str:
    """A metric value in its unit and number format (the registry's): NPS 24.9, CSAT
    76.4%, CES 4.95."""
    if is_missing(v):
        return "–"
    m = metric_def(metric)
    return f"{v:.{m.decimals}f}" + ("%" if m.unit == "%" else "")


def change(metric: str, d: float | None, unit: bool = True) -> str:
    """A change in the metric's unit: +1.2 pts, −0.8 pp, +0.05 (without `unit`: +1.2, where
    an axis title names it)."""
    if is_missing(d):
        return "–"
    m = metric_def(metric)
    return f"{d:+.{m.decimals}f} {m.change_unit if unit else ''}".strip()


def short_label(metric: str) -> str:
    """The metric's short label (tiles, legends, table headers): NPS, CSAT, Friction rate."""
    return metric_def(metric).short_label


def count(n: int | float | None) -> str:
    """12,345."""
    return "–" if is_missing(n) else f"{int(n):,}"


def ci(metric: str, low: float | None, high: float | None) -> str:
    """The 95% confidence interval, e.g. 23.1 – 26.7."""
    if is_missing(low) or is_missing(high):
        return "–"
    return f"{value(metric, low)} – {value(metric, high)}"


def too_small(n: int) -> str:
    """The honest placeholder for a suppressed score; "no answers" when there are none
    (n = 0 is not a small base: nothing was asked or answered)."""
    return f"n too small (n={int(n):,})" if int(n) else "no answers"


def no_answers(metric: str, in_data: bool) -> str:
    """Why a score has no answers at all: none in this selection (`in_data`: the data has
    some elsewhere), or none in the whole data — its column was never mapped."""
    label = short_label(metric)
    if in_data:
        return f"no {label} answers in this selection"
    return f"no {label} answers in this data — map a column on the Data page"


def hidden(n: int | None = None) -> str:
    """The placeholder for a value withheld by secondary suppression: its own n is large
    enough, but showing it would let a small group be worked out by subtraction."""
    return "hidden: would reveal a small group" + ("" if n is None else f" (n={int(n):,})")


def significance(
    significant: object, untested_reason: str = "low base", comparisons: object = None
) -> str:
    """The one wording of a test's outcome: "significant", "not significant", or "not
    tested (reason)" when no test was run (None / NA). Alone (`comparisons` None) the test
    is at 95%, two-sided; a result judged among `comparisons` tests run at once reads
    "significant after correcting for N comparisons (Benjamini–Hochberg, 5% FDR)"."""
    if significant is None or significant is pd.NA or is_missing(significant):  # type: ignore[arg-type]
        return f"not tested ({untested_reason})"
    word = "significant" if bool(significant) else "not significant"
    if comparisons is None or comparisons is pd.NA or is_missing(comparisons):  # type: ignore[arg-type]
        return word
    return f"{word} {corrected(int(comparisons))}"  # type: ignore[call-overload]


def hover_text(
    metric: str,
    v: float | None,
    n: int,
    ci_low: float | None = None,
    ci_high: float | None = None,
    *,
    suppressed: bool = False,
    low_base: bool = False,
    withheld: bool = False,
    name: str = "",
) -> str:
    """The one hover wording of a score: "NPS 24.9 (95% CI 20.1 – 29.5) · n = 1,234 · low
    base"; "n too small (n=7)" when suppressed; the placeholder of a value `withheld` by
    secondary suppression. `name` (e.g. the metric's short label) goes before the value."""
    if withheld:
        return hidden(n)
    if suppressed or is_missing(v):
        return too_small(n)
    ci_part = "" if is_missing(ci_low) else f" (95% CI {ci(metric, ci_low, ci_high)})"
    lead = f"{name} " if name else ""
    flag = " · low base" if low_base else ""
    return f"{lead}{value(metric, v)}{ci_part} · n = {int(n):,}{flag}"


def date_range(start: dt.date | None, end: dt.date | None) -> str:
    """27 Aug – 24 Nov 2026 (years only where needed)."""
    if start is None or end is None:
        return "all dates"
    if start == end:
        return f"{start:%-d %b %Y}"
    if start.year == end.year:
        return f"{start:%-d %b} – {end:%-d %b %Y}"
    return f"{start:%-d %b %Y} – {end:%-d %b %Y}"


def period_label(start: object, grain: str) -> str:
    """A period by its first day in the words of its grain: 06 Jan 2025 (day), week of 06
    Jan 2025, Jan 2025 (month), Q1 2025 (quarter)."""
    ts = pd.Timestamp(start)
    if grain == "quarter":
        return f"Q{ts.quarter} {ts.year}"
    if grain == "month":
        return f"{ts:%b %Y}"
    return f"week of {ts:%d %b %Y}" if grain == "week" else f"{ts:%d %b %Y}"


def partial_period(days: int, period_days: int) -> str:
    """A period the date range (or the data) covers only in part: "partial: 1 of 31 days"."""
    return f"partial: {int(days)} of {int(period_days)} days"


def not_narrowed(dims: Iterable[str]) -> str:
    """The filters a number could not apply: "not narrowed by Customer type, Plan" ("" when
    none)."""
    names = [dim_label(d) for d in dims]
    return f"not narrowed by {', '.join(names)}" if names else ""


def dim_label(dim: str) -> str:
    """journey_stage → Journey stage."""
    return dim.replace("_", " ").capitalize()


def value_label(dim: str, value: str) -> str:
    """A dimension value as people read it: language codes by name ("no" → Norwegian),
    "(not set)" as "(missing)", anything else as stored."""
    if value == NOT_SET:
        return "(missing)"
    return language_name(value) if dim == "language" else value


def segment_label(dim: str, value: str) -> str:
    """Language: Norwegian · Plan: Premium."""
    return f"{dim_label(dim)}: {value_label(dim, value)}"


def metric_label(metric: str) -> str:
    """The long label of a metric from the engine's registry."""
    return metric_def(metric).label


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


def rating_hover(r: Mapping[str, Any]) -> str:
    """The one wording of a touchpoint-rating group (a row of cxdata.ratings): "mean 3.42
    on 1–5 (95% CI 3.30 – 3.54) · top-2-box 48.1% (95% CI 44.0% – 52.2%) · n = 512";
    "n too small (n=7)" when suppressed; an unknown scale or an undefined top-2-box is
    said, never left blank."""
    n = int(r["n"])
    if bool(r["suppressed"]):
        return too_small(n)
    scale = scale_label(r["scale"])
    mean = (
        f"mean {r['mean']:.2f} on {scale} "
        f"(95% CI {r['mean_ci_low']:.2f} – {r['mean_ci_high']:.2f})"
    )
    if bool(r["top2_defined"]):
        top2 = (
            f"top-2-box {r['top2_pct']:.1f}% "
            f"(95% CI {r['top2_ci_low']:.1f}% – {r['top2_ci_high']:.1f}%)"
        )
    elif bool(r["scale_known"]):
        top2 = f"no top-2-box on a {scale} scale"
    else:
        top2 = "no top-2-box: the import stored no scale"
    flag = " · low base" if bool(r["low_base"]) else ""
    return f"{mean} · {top2} · n = {n:,}{flag}"


def view_context(filters: Filters, everything: str = "all answers") -> str:
    """The period and filters of a view as one plain line ("1 Sep 2026 – 29 Nov 2026 ·
    Region: Oslo"; `everything` without filters): charts' subtitles, digests, reports."""
    where = [f"{dim_label(d)}: {', '.join(v)}" for d, v in filters.where]
    return " · ".join([date_range(filters.start, filters.end), *(where or [everything])])
