"""The data contract: canonical tables, columns, types and score scales.

Everything that names a column of the store takes it from here, so the import, the
demo generator and the queries agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

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
