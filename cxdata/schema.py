"""The data contract: canonical tables, columns, types and score scales, and the columns
derived from the scores that the embedded store keeps beside each response.

Everything that names a column of the store takes it from here, so the import, the
demo generator, the store and the queries agree by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

RESPONSES = "responses"
TOUCHPOINT_RATINGS = "touchpoint_ratings"
METRICS = "metrics"


@dataclass(frozen=True)
class Scale:
    """An answer scale: inclusive integer bounds."""

    name: str
    low: int
    high: int
    label: str


NPS = Scale("nps", 0, 10, "Net Promoter Score (0–10 likelihood to recommend)")
CSAT = Scale("csat", 1, 5, "Customer satisfaction (1–5)")
CES = Scale("ces", 1, 7, "Customer effort (1–7, 7 = very easy)")
SCALES: dict[str, Scale] = {s.name: s for s in (NPS, CSAT, CES)}

# Core response columns and their storage types (Ibis type strings).
RESPONSE_CORE: dict[str, str] = {
    "response_id": "string",
    "submitted_at": "timestamp",
    "nps": "int8",
    "csat": "int8",
    "ces": "int8",
    "comment": "string",
    "language": "string",
    "touchpoint": "string",
    "journey_stage": "string",
    "channel": "string",
    "customer_id": "string",
}
SCORE_COLUMNS: tuple[str, ...] = ("nps", "csat", "ces")
# String columns that identify or carry free text: never offered as a dimension.
NON_DIMENSION_COLUMNS: frozenset[str] = frozenset({"response_id", "comment", "customer_id"})
# Extra answer texts (a review's title, Booking-style positive / negative texts) are stored as
# `text_<name>`: shown with the comment and searched with it, never a dimension.
EXTRA_TEXT_PREFIX = "text_"

TOUCHPOINT_RATING_COLUMNS: dict[str, str] = {
    "response_id": "string",
    "touchpoint": "string",
    "rating": "float64",
    "scale": "string",
}

METRIC_CORE: dict[str, str] = {
    "date": "date",
    "metric": "string",
    "value": "float64",
    "unit": "string",
    "touchpoint": "string",
    "target": "float64",
    # optional: how many units a "%" value is a share of (customers at the start of the
    # month for churn, calls for first-contact resolution), so a change can be tested on
    # the counts (cxdata.kpi_metrics) instead of on a handful of monthly values
    "base": "float64",
}

# The customer journey in its natural order; pages sort stages by this.
JOURNEY_STAGES: tuple[str, ...] = (
    "awareness",
    "research",
    "purchase",
    "delivery",
    "use",
    "support",
    "renewal",
)

CHANNELS: tuple[str, ...] = ("web", "mobile app", "e-mail", "phone", "chat", "store", "social")


# --- columns derived from the scores ------------------------------------------------------
# Per-row values the embedded store keeps beside each response (computed once at write time
# from the expressions below), so the hot aggregates read one small column instead of
# evaluating the scores of every row; other engines compute them in the query (cxdata.scores
# reads them, decodes the score key and turns the counts into metrics).


def friction_event(t: ir.Table) -> ir.BooleanValue:
    """A response reports friction when CES ≤ 3 (hard), CSAT ≤ 2, or NPS ≤ 6 (detractor).

    Only responses tied to a touchpoint count: a touchpoint-tagged answer is a transactional
    survey about that touchpoint, which is when a detractor score is friction there.
    """
    return (
        (t.ces <= 3).fill_null(False)
        | (t.csat <= 2).fill_null(False)
        | (t.nps <= 6).fill_null(False)
    )


def any_score(t: ir.Table) -> ir.BooleanValue:
    """Whether a response has at least one score."""
    return t.nps.notnull() | t.csat.notnull() | t.ces.notnull()


# Every response maps to one small integer that encodes its three scores and whether it
# has a touchpoint: a < 12, b < 6, c < 8, so key = a + 12·b + 72·c + 576·tp < 1152.
KEY_NPS_W, KEY_CSAT_W, KEY_CES_W, KEY_TP_W = 1, 12, 72, 576


def _coded(col: ir.IntegerColumn, low: int, high: int, offset: int) -> ir.IntegerValue:
    """value + offset inside the scale, else 0 (missing or out of range)."""
    return ibis.cases((col.between(low, high), col.cast("int32") + offset), else_=0)


def score_key(t: ir.Table) -> ir.IntegerValue:
    """The per-response score key (see above); grouping on it is far cheaper than a dozen
    conditional aggregates, and the counts per key determine every metric exactly."""
    return (
        _coded(t.nps, 0, 10, 1) * KEY_NPS_W
        + _coded(t.csat, 1, 5, 0) * KEY_CSAT_W
        + _coded(t.ces, 1, 7, 0) * KEY_CES_W
        + ibis.cases((t.touchpoint.notnull(), KEY_TP_W), else_=0)
    ).name("score_key")


def friction_flag(t: ir.Table) -> ir.IntegerValue:
    """Per response: 1 friction, 0 none, NULL not counted (no touchpoint or no score)."""
    at_touchpoint = t.touchpoint.notnull() & any_score(t)
    # CASE with integer branches: PostgreSQL cannot cast a boolean to a small integer.
    return ibis.cases(
        (at_touchpoint & friction_event(t), 1), (at_touchpoint, 0), else_=None
    ).cast("int8")


def response_day(t: ir.Table) -> ir.DateValue:
    """Per response: the calendar day of submitted_at (the day date filters and periods
    count it in)."""
    return t.submitted_at.date()


DAY = "_day"  # the stored calendar day of each response (response_day)
# The derived response columns: name → (storage type, expression over a responses table).
DERIVED: dict[str, tuple[str, object]] = {
    "_score_key": ("int16", score_key),
    "_friction": ("int8", friction_flag),
    # date filters and period grouping read this 4-byte day, not the timestamp: 30-35% less
    # engine time for a weekly trend at 10M answers (bench/results.md)
    DAY: ("date", response_day),
}


def with_derived(t: ir.Table, names: Sequence[str] | None = None) -> ir.Table:
    """`t` plus the DERIVED columns `names` (default: all); scores, touchpoint or date
    missing in `t` count as empty."""
    missing: dict[str, ir.Value] = {
        c: ibis.null().cast("int8") for c in SCORE_COLUMNS if c not in t.columns
    }
    if "touchpoint" not in t.columns:
        missing["touchpoint"] = ibis.null().cast("string")
    if "submitted_at" not in t.columns:
        missing["submitted_at"] = ibis.null().cast("timestamp")
    base = t.mutate(**missing) if missing else t
    wanted = DERIVED if names is None else {n: DERIVED[n] for n in names}
    values = {name: fn(base).cast(dtype) for name, (dtype, fn) in wanted.items()}  # type: ignore[operator]
    out = base.mutate(**values)
    return out.drop(*missing) if missing else out


def time_column(t: ir.Table) -> str:
    """The column of a responses table that date filters compare: the stored day (DAY)
    when the store keeps it, else submitted_at (same rows: a day range is by calendar day)."""
    return DAY if DAY in t.columns else "submitted_at"


def period_start(t: ir.Table, unit: str) -> ir.TimestampValue:
    """Per response: the first day (as a timestamp at midnight) of its day, week (Monday),
    month or quarter (`unit`: Ibis truncation unit "D", "W", "M", "Q"), from the stored day
    when there is one."""
    if DAY in t.columns:
        return t[DAY].truncate(unit).cast("timestamp")
    return t.submitted_at.truncate(unit)
