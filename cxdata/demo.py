"""A deterministic, realistic demo dataset for a fictional Nordic/Slovenian retailer.

The retailer sells through web, mobile app, e-mail, phone, chat, store and social in Norway,
Denmark, Sweden and Slovenia. :func:`demo_responses` returns survey answers (NPS, CSAT, CES,
comments in five languages) and :func:`demo_metrics` returns monthly operational KPIs. Both
cover the 24 months (730 days) that end on ``end`` (default: today), so the data always looks
current, and both are fully determined by their arguments.

Three effects are planted so that a user of the dashboard has something to find; they are
described in :data:`PLANTED_EFFECTS` (or :func:`planted_effects` for another ``end``).

Generation is vectorised with numpy: loops only run over categories and templates, never over
rows (about 1.7 s of CPU per million rows on a 2-core AMD EPYC). More than
:data:`CHUNK_ROWS` rows come in chronological parts (:func:`demo_response_chunks`), which
:func:`store_demo` streams into the store in one transaction: 10M rows were stored with 46 s
of CPU time and 1.7 GB peak memory (all at once it was 7.1 GB). The comment texts (five
languages) are data, not code: ``cxdata/data/demo_phrasebook.json``, read and checked by
:func:`load_phrasebook`.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray

from cxdata import schema
from cxdata.lake import Commit

DEFAULT_ROWS = 300_000
DEFAULT_SEED = 7
CHUNK_ROWS = 1_000_000
"""Rows generated (and stored by store_demo) at a time: bigger sets come in parts."""
DAYS = 730
"""Number of days covered by the demo data, ending on ``end`` inclusive."""

LANGUAGES: tuple[str, ...] = ("en", "no", "da", "sv", "sl")
RESPONSE_COLUMNS: tuple[str, ...] = (
    "response_id",
    "submitted_at",
    "nps",
    "csat",
    "ces",
    "comment",
    "language",
    "touchpoint",
    "journey_stage",
    "channel",
    "customer_id",
    "country",
    "region",
    "city",
    "plan",
    "customer_type",
    "persona",
    "device",
)
METRIC_COLUMNS: tuple[str, ...] = (
    "date",
    "metric",
    "value",
    "unit",
    "touchpoint",
    "country",
    "target",
    "base",
)


# --------------------------------------------------------------------------------------------
# Planted effects
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlantedEffect:
    """An effect deliberately built into the demo data, for a guided tour or a test.

    ``filters`` maps response columns to the value that selects the affected answers.
    ``start``/``end`` give the affected period (inclusive dates); ``None`` means open-ended.
    For a step change (a fix) ``start`` is the day of the change and ``end`` is ``None``.
    """

    name: str
    description: str
    filters: dict[str, str] = field(hash=False)
    start: date | None
    end: date | None


FRICTION_TOUCHPOINT = "parcel delivery"
FRICTION_REGION = "Västra Götaland"
DECLINE_CUSTOMER_TYPE = "business"
FIX_TOUCHPOINT = "checkout"
FIX_CHANNEL = "mobile app"


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    """(year, month) shifted by a number of calendar months."""
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def _data_start(end: date) -> date:
    """First day covered by data ending on ``end``: 730 days inclusive."""
    return end - timedelta(days=DAYS - 1)


def _friction_quarter(end: date) -> tuple[date, date]:
    """The calendar quarter (first day, last day) whose first month is 9–11 months before end.

    Exactly one of the months 9, 10 and 11 months before ``end``'s month starts a quarter, so
    the quarter started roughly 9–12 months before ``end`` and is complete in the data.
    """
    for back in (9, 10, 11):
        year, month = _add_months(end.year, end.month, -back)
        if month in (1, 4, 7, 10):
            last_year, last_month = _add_months(year, month, 2)
            last_day = calendar.monthrange(last_year, last_month)[1]
            return date(year, month, 1), date(last_year, last_month, last_day)
    raise AssertionError("unreachable: three consecutive months always contain a quarter start")


def _fix_date(end: date) -> date:
    """The day the mobile-app checkout was fixed: the first of the month 7 months before end."""
    year, month = _add_months(end.year, end.month, -7)
    return date(year, month, 1)


def _quarter_label(first: date) -> str:
    return f"Q{(first.month - 1) // 3 + 1} {first.year}"


def planted_effects(end: date | None = None) -> tuple[PlantedEffect, ...]:
    """The effects planted in data generated with this ``end`` (default: today)."""
    end = end or date.today()
    q_start, q_end = _friction_quarter(end)
    data_start = _data_start(end)
    fix = _fix_date(end)
    return (
        PlantedEffect(
            name="Delivery friction spike",
            description=(
                f"Touchpoint 'parcel delivery' in region 'Västra Götaland' (Sweden) was much "
                f"worse in {_quarter_label(q_start)} ({q_start.isoformat()} to "
                f"{q_end.isoformat()}): NPS more than 50 points below its other quarters, more "
                f"than three times as many hard answers (CES ≤ 3) and far more slow-delivery "
                f"comments."
            ),
            filters={"touchpoint": FRICTION_TOUCHPOINT, "region": FRICTION_REGION},
            start=q_start,
            end=q_end,
        ),
        PlantedEffect(
            name="Business NPS decline",
            description=(
                f"NPS of customer_type 'business' falls steadily by about 30 points over the "
                f"24 months from {data_start.isoformat()} to {end.isoformat()}: above the "
                f"private customers' NPS at the start, well below it at the end; the monthly "
                f"churn rate rises with it."
            ),
            filters={"customer_type": DECLINE_CUSTOMER_TYPE},
            start=data_start,
            end=end,
        ),
        PlantedEffect(
            name="Mobile checkout fix",
            description=(
                f"Touchpoint 'checkout' on channel 'mobile app' was high-friction (mean CES "
                f"about 3, NPS negative) until a fix released on {fix.isoformat()}; from that "
                f"day on it is easy (mean CES above 5) and its NPS is clearly positive."
            ),
            filters={"touchpoint": FIX_TOUCHPOINT, "channel": FIX_CHANNEL},
            start=fix,
            end=None,
        ),
    )


PLANTED_EFFECTS: tuple[PlantedEffect, ...] = planted_effects()
"""The planted effects for data ending today (the default ``end``)."""


# --------------------------------------------------------------------------------------------
# Geography and segments
# --------------------------------------------------------------------------------------------

# country, share of customers, local language, latent satisfaction shift
_COUNTRIES: tuple[tuple[str, float, str, float], ...] = (
    ("Norway", 0.30, "no", 0.05),
    ("Denmark", 0.25, "da", 0.12),
    ("Sweden", 0.30, "sv", -0.03),
    ("Slovenia", 0.15, "sl", -0.12),
)
# country, region, share within country, cities with their share within the region
_REGIONS: tuple[tuple[str, str, float, tuple[tuple[str, float], ...]], ...] = (
    ("Norway", "Oslo", 0.32, (("Oslo", 1.0),)),
    ("Norway", "Viken", 0.33, (("Drammen", 0.4), ("Fredrikstad", 0.35), ("Lillestrøm", 0.25))),
    ("Norway", "Vestland", 0.20, (("Bergen", 0.8), ("Førde", 0.2))),
    ("Norway", "Trøndelag", 0.15, (("Trondheim", 0.8), ("Steinkjer", 0.2))),
    ("Denmark", "Hovedstaden", 0.45, (("København", 0.8), ("Hillerød", 0.2))),
    ("Denmark", "Midtjylland", 0.30, (("Aarhus", 0.65), ("Herning", 0.2), ("Silkeborg", 0.15))),
    ("Denmark", "Syddanmark", 0.25, (("Odense", 0.5), ("Esbjerg", 0.3), ("Kolding", 0.2))),
    ("Sweden", "Stockholm", 0.40, (("Stockholm", 0.85), ("Södertälje", 0.15))),
    ("Sweden", "Västra Götaland", 0.35, (("Göteborg", 0.7), ("Borås", 0.2), ("Trollhättan", 0.1))),
    ("Sweden", "Skåne", 0.25, (("Malmö", 0.6), ("Helsingborg", 0.25), ("Lund", 0.15))),
    ("Slovenia", "Osrednjeslovenska", 0.45, (("Ljubljana", 0.85), ("Domžale", 0.15))),
    ("Slovenia", "Podravska", 0.20, (("Maribor", 0.8), ("Ptuj", 0.2))),
    ("Slovenia", "Savinjska", 0.20, (("Celje", 0.7), ("Velenje", 0.3))),
    ("Slovenia", "Gorenjska", 0.15, (("Kranj", 0.7), ("Škofja Loka", 0.3))),
)
_CITIES: list[str] = [city for r in _REGIONS for city, _ in r[3]]
# value, share, latent satisfaction shift
_PLANS: tuple[tuple[str, float, float], ...] = (
    ("Basic", 0.50, -0.12),
    ("Plus", 0.32, 0.03),
    ("Premium", 0.18, 0.22),
)
_CUSTOMER_TYPES: tuple[tuple[str, float], ...] = (("private", 0.75), ("business", 0.25))
# persona, share among private customers, share among business customers, satisfaction shift
_PERSONAS: tuple[tuple[str, float, float, float], ...] = (
    ("Bargain hunter", 0.26, 0.15, -0.15),
    ("Busy parent", 0.24, 0.10, -0.08),
    ("Tech enthusiast", 0.18, 0.35, 0.0),
    ("Loyal regular", 0.18, 0.35, 0.30),
    ("Gift shopper", 0.14, 0.05, 0.05),
)
_DEVICES: tuple[str, ...] = ("desktop", "mobile", "tablet")
# share of desktop / mobile / tablet / no device per channel
_DEVICE_BY_CHANNEL: dict[str, tuple[float, float, float, float]] = {
    "web": (0.55, 0.33, 0.12, 0.0),
    "mobile app": (0.0, 0.85, 0.15, 0.0),
    "e-mail": (0.40, 0.50, 0.10, 0.0),
    "phone": (0.0, 0.0, 0.0, 1.0),
    "chat": (0.45, 0.45, 0.10, 0.0),
    "store": (0.0, 0.0, 0.0, 1.0),
    "social": (0.10, 0.85, 0.05, 0.0),
}
# latent satisfaction shift and extra ease (CES) shift per channel
_CHANNEL_EFFECTS: dict[str, tuple[float, float]] = {
    "web": (0.0, 0.0),
    "mobile app": (0.05, 0.05),
    "e-mail": (0.0, 0.0),
    "phone": (-0.10, -0.20),
    "chat": (0.0, 0.05),
    "store": (0.15, 0.15),
    "social": (-0.05, 0.0),
}


# --------------------------------------------------------------------------------------------
# Journey: touchpoints
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Touchpoint:
    """A touchpoint: stage, volume weight, channel mix, effects and comment themes."""

    name: str
    stage: str
    weight: float
    channels: dict[str, float]
    satisfaction: float  # shift of the latent satisfaction
    ease: float  # extra shift of the CES (effort) answer only
    negative: dict[str, float]  # themes of negative comments, with weights
    positive: dict[str, float]  # themes of positive comments, with weights


_TOUCHPOINTS: tuple[_Touchpoint, ...] = (
    _Touchpoint(
        "social ad", "awareness", 3, {"social": 1.0}, -0.05, 0.1,
        {"marketing": 3, "price": 1}, {"marketing": 2, "price": 2},
    ),
    _Touchpoint(
        "newsletter", "awareness", 3, {"e-mail": 1.0}, 0.0, 0.2,
        {"marketing": 3, "price": 1}, {"marketing": 3, "price": 2},
    ),
    _Touchpoint(
        "search ad", "awareness", 2, {"web": 0.8, "mobile app": 0.2}, 0.0, 0.1,
        {"price": 2, "marketing": 2, "product_info": 1}, {"price": 2, "marketing": 1},
    ),
    _Touchpoint(
        "product page", "research", 6, {"web": 0.6, "mobile app": 0.4}, 0.05, 0.0,
        {"product_info": 4, "price": 1, "app": 1}, {"product_info": 3, "price": 2, "app": 1},
    ),
    _Touchpoint(
        "reviews", "research", 3, {"web": 0.6, "mobile app": 0.3, "social": 0.1}, 0.12, 0.1,
        {"product_info": 2, "quality": 2}, {"product_info": 2, "quality": 2},
    ),
    _Touchpoint(
        "size guide", "research", 2, {"web": 0.7, "mobile app": 0.3}, -0.05, -0.2,
        {"size": 4, "product_info": 1}, {"size": 3, "product_info": 1},
    ),
    _Touchpoint(
        "checkout", "purchase", 8, {"web": 0.55, "mobile app": 0.45}, 0.0, 0.0,
        {"checkout": 4, "payment": 1, "price": 1, "app": 2, "delivery": 0.5},
        {"checkout": 3, "price": 1, "app": 1},
    ),
    _Touchpoint(
        "payment", "purchase", 4, {"web": 0.55, "mobile app": 0.45}, -0.15, -0.3,
        {"payment": 4, "checkout": 1}, {"payment": 2, "checkout": 2},
    ),
    _Touchpoint(
        "in-store checkout", "purchase", 5, {"store": 1.0}, 0.30, 0.3,
        {"staff": 3, "price": 1, "payment": 1}, {"staff": 4, "price": 1},
    ),
    _Touchpoint(
        "delivery tracking", "delivery", 5, {"web": 0.4, "mobile app": 0.4, "e-mail": 0.2},
        -0.15, -0.1,
        {"delivery": 5, "app": 1}, {"delivery": 2, "app": 1},
    ),
    _Touchpoint(
        "parcel delivery", "delivery", 9, {"e-mail": 0.5, "web": 0.2, "mobile app": 0.3},
        -0.25, 0.0,
        {"delivery": 8, "quality": 1}, {"delivery": 2, "quality": 1, "price": 1},
    ),
    _Touchpoint(
        "click & collect", "delivery", 3, {"store": 0.7, "mobile app": 0.15, "web": 0.15},
        0.30, 0.2,
        {"delivery": 2, "staff": 2}, {"staff": 2, "delivery": 1, "price": 1},
    ),
    _Touchpoint(
        "product quality", "use", 7, {"e-mail": 0.5, "web": 0.3, "mobile app": 0.2}, 0.12, 0.1,
        {"quality": 5, "size": 1, "product_info": 1, "delivery": 0.5}, {"quality": 4, "price": 2},
    ),
    _Touchpoint(
        "setup help", "use", 3, {"web": 0.4, "phone": 0.3, "chat": 0.3}, -0.10, -0.3,
        {"product_info": 2, "support_wait": 2, "quality": 1},
        {"staff": 2, "product_info": 2},
    ),
    _Touchpoint(
        "mobile app experience", "use", 5, {"mobile app": 1.0}, 0.0, 0.0,
        {"app": 5}, {"app": 4},
    ),
    _Touchpoint(
        "support call", "support", 6, {"phone": 1.0}, -0.45, -0.5,
        {"support_wait": 6, "staff": 1}, {"staff": 3, "support_wait": 2},
    ),
    _Touchpoint(
        "chatbot", "support", 4, {"chat": 1.0}, -0.30, -0.3,
        {"bot": 4, "support_wait": 1}, {"bot": 3, "chat": 1},
    ),
    _Touchpoint(
        "live chat", "support", 4, {"chat": 1.0}, 0.25, 0.3,
        {"chat": 2, "support_wait": 2}, {"chat": 4, "staff": 1},
    ),
    _Touchpoint(
        "returns", "support", 5, {"web": 0.5, "store": 0.3, "mobile app": 0.2}, -0.50, -0.6,
        {"returns": 6}, {"returns": 4, "staff": 1},
    ),
    _Touchpoint(
        "invoice", "renewal", 3, {"e-mail": 0.8, "web": 0.2}, -0.15, -0.1,
        {"billing": 4, "price": 1}, {"billing": 3},
    ),
    _Touchpoint(
        "loyalty programme", "renewal", 3, {"mobile app": 0.5, "web": 0.3, "e-mail": 0.2},
        0.30, 0.2,
        {"loyalty": 4}, {"loyalty": 4, "price": 1},
    ),
    _Touchpoint(
        "membership renewal", "renewal", 2, {"e-mail": 0.5, "web": 0.3, "phone": 0.2},
        -0.20, -0.2,
        {"price": 3, "loyalty": 2, "billing": 1}, {"loyalty": 2, "price": 2},
    ),
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Comment phrasebook: theme sentences, openers and closers in five languages. The texts live in
# data/demo_phrasebook.json; the themes, polarities and tones they must cover are defined here.
# --------------------------------------------------------------------------------------------

_THEMES: tuple[str, ...] = (
    "delivery",
    "support_wait",
    "checkout",
    "payment",
    "product_info",
    "size",
    "staff",
    "returns",
    "chat",
    "bot",
    "price",
    "app",
    "quality",
    "marketing",
    "billing",
    "loyalty",
)

_TONES: tuple[str, ...] = ("neg", "mixed", "pos")
_POLARITIES: tuple[str, ...] = ("neg", "pos")

PHRASEBOOK_FILE = "demo_phrasebook.json"


class Phrasebook(NamedTuple):
    """The demo's comment texts, as read from the phrasebook file."""

    sentences: dict[str, dict[str, dict[str, tuple[str, ...]]]]
    """language → polarity ("neg"/"pos") → theme → sentences"""
    openers: dict[str, dict[str, tuple[str, ...]]]
    """language → tone ("neg"/"mixed"/"pos") → optional first sentences"""
    closers: dict[str, dict[str, tuple[str, ...]]]
    """language → tone → optional last sentences"""


def load_phrasebook(path: str | Path | Traversable | None = None) -> Phrasebook:
    """The phrasebook file (default: ``cxdata/data/demo_phrasebook.json``), checked.

    The file is a JSON object with ``sentences`` (language → polarity → theme), ``openers``
    and ``closers`` (language → tone); every language of LANGUAGES, polarity, tone and theme
    of the demo must be there and nothing else, and every entry is a non-empty list of
    non-empty strings. ValueError names the file and the key that is wrong.
    """
    source: Path | Traversable
    if path is None:
        source = resources.files("cxdata").joinpath("data", PHRASEBOOK_FILE)
    else:
        source = Path(path) if isinstance(path, str) else path
    try:
        doc = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: invalid JSON or UTF-8
        raise ValueError(f"{source}: cannot read the demo phrasebook: {exc}") from exc
    tables = {
        "sentences": (LANGUAGES, _POLARITIES, _THEMES),
        "openers": (LANGUAGES, _TONES),
        "closers": (LANGUAGES, _TONES),
    }
    top = _phrase_keys(doc, (*tables, "version"), tuple(tables), "", source)
    return Phrasebook(*(_phrase_table(top[k], (k,), tables[k], source) for k in tables))


def _phrase_keys(
    node: Any, allowed: Sequence[str], required: Sequence[str], here: str, source: object
) -> dict[str, Any]:
    """node, checked to be an object holding every required key and only allowed ones."""
    where = f"{source}: {here}" if here else f"{source}"
    if not isinstance(node, dict):
        raise ValueError(f"{where}: expected an object with the keys {', '.join(required)}")
    missing = [k for k in required if k not in node]
    if missing:
        raise ValueError(f"{where}: missing key {missing[0]!r} (expected {', '.join(required)})")
    unknown = [k for k in node if k not in allowed]
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (expected {', '.join(required)})")
    return node


def _phrase_table(
    node: Any, keys: tuple[str, ...], levels: tuple[Sequence[str], ...], source: object
) -> Any:
    """One table of the phrasebook: nested objects with exactly the keys of ``levels`` (kept in
    the file's order; the generator looks them up by name), at the bottom tuples of sentences."""
    here = ".".join(keys)
    if not levels:
        if (
            not isinstance(node, list)
            or not node
            or not all(isinstance(s, str) and s.strip() for s in node)
        ):
            raise ValueError(f"{source}: {here}: expected a non-empty list of non-empty strings")
        return tuple(node)
    _phrase_keys(node, levels[0], levels[0], here, source)
    return {k: _phrase_table(v, (*keys, k), levels[1:], source) for k, v in node.items()}


_SENTENCES, _OPENERS, _CLOSERS = load_phrasebook()


# --------------------------------------------------------------------------------------------
# Score model (latent satisfaction → NPS, CSAT, CES); constants calibrated on the default data
# --------------------------------------------------------------------------------------------

_CUSTOMER_SD = 0.35  # persistent per-customer satisfaction
_ROW_SD = 0.75  # per-answer satisfaction noise
_NPS_CENTRE, _NPS_SCALE = 8.35, 2.05
_CSAT_CUTS = np.array([-2.05, -1.45, -0.8, 0.15])  # latent cut points between 1|2|3|4|5
_CES_CUTS = np.array([-2.6, -1.9, -1.25, -0.55, 0.15, 0.95])  # between 1|…|7
_BUSINESS_START, _BUSINESS_END = 0.15, -0.35  # latent shift at the first / last day
_FRICTION_SHIFT, _FRICTION_EASE = -1.2, -0.4
_CHECKOUT_BEFORE, _CHECKOUT_BEFORE_EASE = -0.7, -1.2
_CHECKOUT_AFTER, _CHECKOUT_AFTER_EASE = 0.3, 0.3
_P_NPS, _P_CSAT, _P_CES, _P_CES_HIGH = 0.85, 0.65, 0.32, 0.66
_P_COMMENT = {"neg": 0.6, "mixed": 0.38, "pos": 0.45}
_P_COMMENT_FRICTION = 0.8
_P_LOCAL_LANGUAGE = 0.8


def _draw(rng: np.random.Generator, probs: np.ndarray, group: np.ndarray) -> np.ndarray:
    """One category per row: row i draws from the distribution ``probs[group[i]]``.

    ``probs`` is a (groups × categories) array of non-negative weights (each row not all
    zero). Vectorised inverse-CDF sampling: one ``searchsorted`` over all groups at once.
    """
    probs = np.asarray(probs, dtype=np.float64)
    n_groups, n_cats = probs.shape
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    flat = (cum + np.arange(n_groups)[:, None]).ravel()
    group = np.asarray(group, dtype=np.int64)
    pos = np.searchsorted(flat, group + rng.random(group.size), side="right")
    return np.minimum(pos - group * n_cats, n_cats - 1).astype(np.int32)


def _strings(values: list[str] | tuple[str, ...], codes: np.ndarray) -> ExtensionArray:
    """A pandas ``str`` array of ``values[code]``; code -1 gives a missing value."""
    return pd.array(list(values), dtype="str").take(codes, allow_fill=True)


def _int8(values: np.ndarray, present: np.ndarray) -> pd.arrays.IntegerArray:
    """A nullable Int8 array: ``values`` where ``present``, missing elsewhere."""
    return pd.arrays.IntegerArray(values.astype(np.int8), ~present)


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pd.Series:
    """Identifiers like ``R0000001``: prefix plus a zero-padded number."""
    text = pd.Series(numbers, dtype=np.int64).astype("str").str.zfill(width)
    return prefix + text


def _day_weights(start: date) -> np.ndarray:
    """Relative number of answers per day: weekdays busier, some growth, Q4 peak."""
    days = np.arange(DAYS)
    day0 = np.datetime64(start, "D")
    dates = day0 + days
    weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday → Monday = 0
    month = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    weights = np.where(weekday < 5, 1.0, np.where(weekday == 5, 0.75, 0.7))
    weights *= 1.0 + 0.25 * days / (DAYS - 1)
    weights *= np.select([month == 11, month == 12, month == 1], [1.3, 1.35, 1.15], 1.0)
    return weights / weights.sum()


_HOUR_WEIGHTS = np.array(
    [0.3, 0.2, 0.1, 0.1, 0.1, 0.2, 0.6, 1.2, 2.0, 2.6, 3.0, 3.1,
     3.2, 3.0, 2.8, 2.7, 2.8, 3.0, 3.3, 3.5, 3.6, 3.0, 1.8, 0.8]
)  # fmt: skip


def _table(rows: list[list[float]]) -> np.ndarray:
    """A float (groups × categories) weight table for :func:`_draw`."""
    return np.asarray(rows, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def demo_responses(
    rows: int = DEFAULT_ROWS,
    seed: int = DEFAULT_SEED,
    end: date | None = None,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> pd.DataFrame:
    """Generate ``rows`` survey answers covering the 730 days ending on ``end`` (default today).

    Every answer's scores come from one latent satisfaction (touchpoint + channel + country +
    plan + persona + customer + planted effects + noise), so NPS (0–10), CSAT (1–5) and CES
    (1–7, 7 = very easy) correlate; each row has at least one of them. About 45 % of rows carry
    a comment in the country's language (80 %) or English that matches the score and the
    touchpoint. Customers recur (about ``rows / 3`` distinct). See :data:`PLANTED_EFFECTS`.

    Columns (in order): response_id, submitted_at (datetime64[us]), nps, csat, ces (Int8),
    comment, language, touchpoint, journey_stage, channel, customer_id, country, region, city,
    plan, customer_type, persona, device (pandas ``str`` dtype, missing as NaN). Rows are sorted
    by submitted_at and response_id follows that order. Same arguments → identical frame.

    More than ``chunk_rows`` rows are the concatenation of :func:`demo_response_chunks`
    (the rows `store_demo` stores); up to ``chunk_rows`` they are generated in one go.
    Raises ValueError for negative ``rows`` or ``chunk_rows`` < 1.
    """
    parts = list(demo_response_chunks(rows, seed, end, chunk_rows=chunk_rows))
    return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


def demo_response_chunks(
    rows: int = DEFAULT_ROWS,
    seed: int = DEFAULT_SEED,
    end: date | None = None,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """The rows of :func:`demo_responses` in chronological parts of at most ``chunk_rows``
    rows each (more only when one day alone has more), so big sets never need to be in
    memory at once (about 0.3 GB per million rows).

    Up to ``chunk_rows`` rows: one frame, identical to what the generator has always given.
    More: the number of answers per day and the customers are drawn first (from a generator
    spawned from ``seed``), then each run of whole days is one frame drawn with its own
    spawned generator; response_id continues from part to part (R0000001 … in
    submitted_at order, width as for ``rows`` in one go) and customers recur across parts.
    Same arguments → the same parts. Raises ValueError for negative ``rows`` or
    ``chunk_rows`` < 1 (before the first part).
    """
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    end = end or date.today()
    return _chunks(int(rows), seed, end, int(chunk_rows))


def _chunks(n: int, seed: int, end: date, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """demo_response_chunks after its argument checks (a generator: runs on first next())."""
    start = _data_start(end)
    day_weights = _day_weights(start)
    hour_p = _HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()
    id_width = max(7, len(str(n)))
    n_customers = max(1, round(n / 3))
    if n <= chunk_rows:  # the draws in the order they have always been made
        rng = np.random.default_rng(seed)
        seconds = rng.choice(DAYS, size=n, p=day_weights) * np.int64(86_400)
        seconds += rng.choice(24, size=n, p=hour_p) * 3_600
        seconds += rng.integers(0, 3_600, n)
        seconds.sort()
        cust = _customers(rng, n_customers)
        yield _responses(rng, start, end, seconds, cust, 1, id_width)
        return
    # Spawned one at a time: child k is the same whatever the number of parts.
    root = np.random.SeedSequence(seed)
    plan = np.random.default_rng(root.spawn(1)[0])
    per_day = plan.multinomial(n, day_weights)
    cust = _customers(plan, n_customers)
    first_day, first_id = 0, 1
    while first_day < DAYS:
        last_day, size = first_day + 1, int(per_day[first_day])
        while last_day < DAYS and size + per_day[last_day] <= chunk_rows:
            size += int(per_day[last_day])
            last_day += 1
        rng = np.random.default_rng(root.spawn(1)[0])
        days = np.arange(first_day, last_day, dtype=np.int64)
        days = np.repeat(days, per_day[first_day:last_day])
        seconds = days * np.int64(86_400) + rng.choice(24, size=size, p=hour_p) * 3_600
        seconds += rng.integers(0, 3_600, size)
        seconds.sort()  # within the part; the parts follow each other day by day
        del days
        yield _responses(rng, start, end, seconds, cust, first_id, id_width)
        first_day, first_id = last_day, first_id + size


def _responses(
    rng: np.random.Generator,
    start: date,
    end: date,
    seconds: np.ndarray,
    cust: dict[str, np.ndarray],
    first_id: int,
    id_width: int,
) -> pd.DataFrame:
    """The answers at ``seconds`` (sorted, since ``start``'s midnight) given by the customers
    ``cust`` (see _customers), numbered from ``first_id``: the rest of demo_responses."""
    n = seconds.size
    day = (seconds // 86_400).astype(np.int16)
    submitted_at = np.datetime64(start, "us") + seconds * np.int64(1_000_000)
    del seconds

    # --- who: customers with fixed attributes; answers draw customers with replacement
    n_customers = cust["effect"].size
    customer = rng.integers(0, n_customers, n).astype(np.int32)
    country = cust["country"][customer]
    region = cust["region"][customer]

    # --- where: touchpoint, its journey stage, channel and device
    tp_names = [tp.name for tp in _TOUCHPOINTS]
    tp_weights = np.array([tp.weight for tp in _TOUCHPOINTS], dtype=np.float64)
    touchpoint = rng.choice(len(_TOUCHPOINTS), size=n, p=tp_weights / tp_weights.sum())
    touchpoint = touchpoint.astype(np.int8)
    channels = list(schema.CHANNELS)
    channel_probs = _table([[tp.channels.get(ch, 0.0) for ch in channels] for tp in _TOUCHPOINTS])
    channel = _draw(rng, channel_probs, touchpoint)
    device = _draw(rng, _table([list(_DEVICE_BY_CHANNEL[ch]) for ch in channels]), channel)
    device[device == len(_DEVICES)] = -1  # no device for phone and store answers

    # --- the planted effects' rows
    q_start, q_end = _friction_quarter(end)
    friction = (
        (touchpoint == tp_names.index(FRICTION_TOUCHPOINT))
        & (region == [r[1] for r in _REGIONS].index(FRICTION_REGION))
        & (day >= (q_start - start).days)
        & (day <= (q_end - start).days)
    )
    app_checkout = (touchpoint == tp_names.index(FIX_TOUCHPOINT)) & (
        channel == channels.index(FIX_CHANNEL)
    )
    fixed = day >= (_fix_date(end) - start).days
    business_type = [c[0] for c in _CUSTOMER_TYPES].index(DECLINE_CUSTOMER_TYPE)

    # --- one latent satisfaction per answer; ease adds to it for CES only
    latent = rng.normal(0.0, _ROW_SD, n)
    latent += np.array([tp.satisfaction for tp in _TOUCHPOINTS])[touchpoint]
    latent += np.array([_CHANNEL_EFFECTS[ch][0] for ch in channels])[channel]
    latent += np.array([c[3] for c in _COUNTRIES])[country]
    latent += np.array([p[2] for p in _PLANS])[cust["plan"]][customer]
    latent += np.array([p[3] for p in _PERSONAS])[cust["persona"]][customer]
    latent += cust["effect"][customer]
    business_shift = _BUSINESS_START + (_BUSINESS_END - _BUSINESS_START) * day / (DAYS - 1)
    latent += np.where(cust["customer_type"][customer] == business_type, business_shift, 0.0)
    del business_shift
    latent[friction] += _FRICTION_SHIFT
    latent[app_checkout] += np.where(fixed[app_checkout], _CHECKOUT_AFTER, _CHECKOUT_BEFORE)
    ease = np.array([tp.ease for tp in _TOUCHPOINTS])[touchpoint]
    ease += np.array([_CHANNEL_EFFECTS[ch][1] for ch in channels])[channel]
    ease[friction] += _FRICTION_EASE
    ease[app_checkout] += np.where(fixed[app_checkout], _CHECKOUT_AFTER_EASE, _CHECKOUT_BEFORE_EASE)
    del fixed, app_checkout

    nps, csat, ces = _scores(rng, latent, ease)
    del latent, ease

    stage = np.array([schema.JOURNEY_STAGES.index(tp.stage) for tp in _TOUCHPOINTS])[touchpoint]
    stage = stage.astype(np.int8)
    high_ces = np.isin(stage, [schema.JOURNEY_STAGES.index(s) for s in ("purchase", "support")])
    has_nps = rng.random(n) < _P_NPS
    has_csat = rng.random(n) < _P_CSAT
    has_ces = rng.random(n) < np.where(high_ces, _P_CES_HIGH, _P_CES)
    has_nps |= ~(has_csat | has_ces)  # every answer has at least one score
    del high_ces

    # --- tone of the answer (0 unhappy, 1 passive, 2 happy): from NPS, else CSAT, else CES
    tone = np.where(
        has_nps,
        np.select([nps <= 6, nps <= 8], [0, 1], 2),
        np.where(
            has_csat,
            np.select([csat <= 2, csat == 3], [0, 1], 2),
            np.select([ces <= 3, ces <= 5], [0, 1], 2),
        ),
    ).astype(np.int8)
    comment, language = _comments(rng, n, tone, touchpoint, channel, country, friction)
    del tone, friction

    columns: dict[str, object] = {
        "response_id": _ids("R", np.arange(first_id, first_id + n), id_width),
        "submitted_at": pd.array(submitted_at, dtype="datetime64[us]"),
        "nps": _int8(nps, has_nps),
        "csat": _int8(csat, has_csat),
        "ces": _int8(ces, has_ces),
        "comment": comment,
        "language": language,
        "touchpoint": _strings(tp_names, touchpoint),
        "journey_stage": _strings(schema.JOURNEY_STAGES, stage),
        "channel": _strings(channels, channel),
        "customer_id": _ids("C", customer + 1, max(7, len(str(n_customers)))).array,
        "country": _strings([c[0] for c in _COUNTRIES], country),
        "region": _strings([r[1] for r in _REGIONS], region),
    }
    del submitted_at, nps, csat, ces, comment, language, touchpoint, stage, channel
    columns["city"] = _strings(_CITIES, cust["city"][customer])
    columns["plan"] = _strings([p[0] for p in _PLANS], cust["plan"][customer])
    types = [c[0] for c in _CUSTOMER_TYPES]
    columns["customer_type"] = _strings(types, cust["customer_type"][customer])
    columns["persona"] = _strings([p[0] for p in _PERSONAS], cust["persona"][customer])
    columns["device"] = _strings(_DEVICES, device)
    return pd.DataFrame(columns, columns=list(RESPONSE_COLUMNS))


def _customers(rng: np.random.Generator, n_customers: int) -> dict[str, np.ndarray]:
    """Per-customer attribute codes (country, region, city, plan, customer_type, persona) and
    the customer's persistent satisfaction shift ("effect")."""
    country = rng.choice(len(_COUNTRIES), size=n_customers, p=[c[1] for c in _COUNTRIES])
    region_probs = _table([[r[2] if r[0] == c[0] else 0.0 for r in _REGIONS] for c in _COUNTRIES])
    region = _draw(rng, region_probs, country)
    city_probs = np.zeros((len(_REGIONS), len(_CITIES)))
    for i, (_, _, _, cities) in enumerate(_REGIONS):
        for city, share in cities:
            city_probs[i, _CITIES.index(city)] = share
    city = _draw(rng, city_probs, region)
    plan = rng.choice(len(_PLANS), size=n_customers, p=[p[1] for p in _PLANS])
    ctype = rng.choice(len(_CUSTOMER_TYPES), size=n_customers, p=[c[1] for c in _CUSTOMER_TYPES])
    persona_probs = _table([[p[1] for p in _PERSONAS], [p[2] for p in _PERSONAS]])
    persona = _draw(rng, persona_probs, ctype)
    return {
        "country": country.astype(np.int8),
        "region": region.astype(np.int8),
        "city": city.astype(np.int8),
        "plan": plan.astype(np.int8),
        "customer_type": ctype.astype(np.int8),
        "persona": persona.astype(np.int8),
        "effect": rng.normal(0.0, _CUSTOMER_SD, n_customers),
    }


def _scores(
    rng: np.random.Generator, latent: np.ndarray, ease: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NPS (0–10), CSAT (1–5) and CES (1–7) from the latent satisfaction, each with own noise.

    NPS is a rounded linear map with a longer tail at the bottom (very unhappy customers
    answer 0–3); CSAT and CES cut the latent value at fixed points.
    """
    n = latent.size
    x = latent + rng.normal(0.0, 0.45, n)
    nps_cont = _NPS_CENTRE + _NPS_SCALE * x + 1.2 * np.minimum(x + 1.2, 0.0)
    nps = np.clip(np.rint(nps_cont), 0, 10).astype(np.int8)
    del x, nps_cont
    csat = (1 + np.searchsorted(_CSAT_CUTS, latent + rng.normal(0.0, 0.5, n))).astype(np.int8)
    ces_x = 0.8 * latent + ease + rng.normal(0.0, 0.6, n)
    ces = (1 + np.searchsorted(_CES_CUTS, ces_x)).astype(np.int8)
    return nps, csat, ces


def _comments(
    rng: np.random.Generator,
    n: int,
    tone: np.ndarray,
    touchpoint: np.ndarray,
    channel: np.ndarray,
    country: np.ndarray,
    friction: np.ndarray,
) -> tuple[ExtensionArray, ExtensionArray]:
    """Comment text and language per row (missing for rows without a comment).

    A comment is [opener] + theme sentence + [closer]. The theme depends on the touchpoint and
    the sentence polarity (negative for unhappy answers, positive for happy ones, either for
    passives); opener and closer follow the tone. Rows in the friction spike mostly complain
    about slow delivery.
    """
    p_comment = np.array([_P_COMMENT[t] for t in _TONES])[tone]
    p_comment = np.where(friction, _P_COMMENT_FRICTION, p_comment)
    has = rng.random(n) < p_comment
    idx = np.flatnonzero(has)
    m = idx.size
    tone_c = tone[idx]

    # language: the country's own (80 %) or English
    local = np.array([LANGUAGES.index(c[2]) for c in _COUNTRIES])[country[idx]]
    lang = np.where(rng.random(m) < _P_LOCAL_LANGUAGE, local, LANGUAGES.index("en"))

    # polarity of the theme sentence: 0 = negative, 1 = positive
    polarity = np.where(tone_c == 0, 0, np.where(tone_c == 2, 1, (rng.random(m) < 0.45) * 1))

    # theme: weights per (touchpoint, in the mobile app?, polarity); "app" only in the app
    app = channel[idx] == schema.CHANNELS.index("mobile app")
    n_tp = len(_TOUCHPOINTS)
    weights = np.zeros((n_tp * 2 * 2, len(_THEMES)))
    for i, tp in enumerate(_TOUCHPOINTS):
        for in_app in (0, 1):
            for pol, themes in enumerate((tp.negative, tp.positive)):
                row = weights[(i * 2 + in_app) * 2 + pol]
                for theme, w in themes.items():
                    if theme != "app" or in_app:
                        row[_THEMES.index(theme)] = w
                # general remarks at a low rate: prices anywhere, the product once bought
                row[_THEMES.index("price")] += 0.3
                if tp.stage not in ("awareness", "research"):
                    row[_THEMES.index("quality")] += 0.2
    theme = _draw(rng, weights, (touchpoint[idx].astype(np.int64) * 2 + app) * 2 + polarity)
    slow = friction[idx] & (polarity == 0) & (rng.random(m) < 0.9)
    theme[slow] = _THEMES.index("delivery")

    # catalogue of sentences, openers and closers, each with start/count per key
    sentences: list[str] = []
    s_start = np.zeros((len(LANGUAGES), 2, len(_THEMES)), dtype=np.int64)
    s_count = np.zeros_like(s_start)
    for li, lg in enumerate(LANGUAGES):
        for pi, pol in enumerate(_POLARITIES):
            for ti, th in enumerate(_THEMES):
                texts = _SENTENCES[lg][pol][th]
                s_start[li, pi, ti], s_count[li, pi, ti] = len(sentences), len(texts)
                sentences.extend(texts)
    openers: list[str] = [""]
    closers: list[str] = [""]
    o_start = np.zeros((len(LANGUAGES), 3), dtype=np.int64)
    o_count = np.zeros_like(o_start)
    e_start, e_count = np.zeros_like(o_start), np.zeros_like(o_start)
    for li, lg in enumerate(LANGUAGES):
        for ti, tn in enumerate(_TONES):
            o_start[li, ti], o_count[li, ti] = len(openers), len(_OPENERS[lg][tn])
            openers.extend(_OPENERS[lg][tn])
            e_start[li, ti], e_count[li, ti] = len(closers), len(_CLOSERS[lg][tn])
            closers.extend(_CLOSERS[lg][tn])

    # a uniform pick within each key's block; index 0 ("") = no opener / no closer
    u = rng.random((5, m))
    key = (lang, polarity, theme)
    sentence = s_start[key] + (u[0] * s_count[key]).astype(np.int64)
    with_open = u[3] < np.array([0.35, 0.6, 0.4])[tone_c]
    with_close = u[4] < np.array([0.3, 0.15, 0.35])[tone_c]
    pick_open = np.where(with_open, o_start[lang, tone_c] + (u[1] * o_count[lang, tone_c]), 0)
    pick_close = np.where(with_close, e_start[lang, tone_c] + (u[2] * e_count[lang, tone_c]), 0)
    pick_open, pick_close = pick_open.astype(np.int64), pick_close.astype(np.int64)

    # only the combinations actually used are turned into text
    combo = (sentence * len(openers) + pick_open) * len(closers) + pick_close
    used, inverse = np.unique(combo, return_inverse=True)
    texts: list[str] = []
    for code in used.tolist():
        rest, c = divmod(code, len(closers))
        s, o = divmod(rest, len(openers))
        texts.append(" ".join(part for part in (openers[o], sentences[s], closers[c]) if part))
    text_codes = np.full(n, -1, dtype=np.int64)
    text_codes[idx] = inverse
    lang_codes = np.full(n, -1, dtype=np.int64)
    lang_codes[idx] = lang
    return _strings(texts, text_codes), _strings(LANGUAGES, lang_codes)


# Customers per country at the start of the demo's first month (the churn and retention base).
_DEMO_CUSTOMERS: dict[str, int] = {"Norway": 42_000, "Denmark": 36_000, "Sweden": 55_000,
                                   "Slovenia": 18_000}  # fmt: skip


def demo_metrics(seed: int = DEFAULT_SEED, end: date | None = None) -> pd.DataFrame:
    """Monthly operational KPIs for the 24 months ending with ``end``'s month (default today).

    Columns: date (first day of the month, datetime64[us]), metric, value (float), unit,
    touchpoint, country (str or missing), target (float). Metrics:

    - "retention rate" (%, per country, target 85) and "churn rate" (%, per country, target 3):
      churn is private churn plus the business customers' churn, which rises over the period
      with their falling NPS; retention ≈ 100 − 4.3 × churn.
    - "support wait time" (minutes, touchpoint "support call", per country, target 5): busier
      in November–January, and longer in Sweden during the delivery friction quarter.
    - "first-contact resolution" (%, touchpoints "support call" and "live chat", all countries
      together, target 75).

    `base` is what a % value is a share of (customers at the start of the month, contacts
    handled), so changes of the rates are tested on the counts; wait time has none.
    """
    end = end or date.today()
    rng = np.random.default_rng([seed, 20_240_601])
    months = [_add_months(end.year, end.month, k - 23) for k in range(24)]
    firsts = [date(y, m, 1) for y, m in months]
    t = np.arange(24) / 23.0
    month_of_year = np.array([m for _, m in months])
    q_start, q_end = _friction_quarter(end)
    in_quarter = np.array([q_start <= d <= q_end for d in firsts])
    season = np.select(
        [month_of_year == 11, month_of_year == 12, month_of_year == 1], [0.8, 1.3, 1.0], 0.0
    )

    records: list[pd.DataFrame] = []

    def add(
        metric: str,
        unit: str,
        values: np.ndarray,
        touchpoint: str | None,
        country: str | None,
        target: float,
        base: np.ndarray | None = None,
    ) -> None:
        records.append(
            pd.DataFrame(
                {
                    "date": pd.to_datetime(firsts).as_unit("us"),
                    "metric": metric,
                    "value": np.round(values, 2),
                    "unit": unit,
                    "touchpoint": touchpoint,
                    "country": country,
                    "target": target,
                    "base": np.nan if base is None else np.round(base),
                }
            )
        )

    business_share = {"Norway": 0.24, "Denmark": 0.27, "Sweden": 0.25, "Slovenia": 0.22}
    private_churn = {"Norway": 2.3, "Denmark": 2.1, "Sweden": 2.5, "Slovenia": 2.8}
    base_wait = {"Norway": 4.2, "Denmark": 3.8, "Sweden": 4.6, "Slovenia": 5.4}
    business_churn = 1.8 + 4.4 * t  # % per month: rises as business NPS falls
    for country, _, _, _ in _COUNTRIES:
        share = business_share[country]
        churn = (1 - share) * (private_churn[country] + 0.15 * season) + share * business_churn
        churn = churn + rng.normal(0.0, 0.12, 24)
        retention = 100.0 - 4.3 * churn + rng.normal(0.0, 0.35, 24)
        wait = base_wait[country] * (1 + 0.18 * season) + rng.normal(0.0, 0.3, 24)
        if country == "Sweden":
            wait = wait + np.where(in_quarter, 3.5, 0.0)
        customers = _DEMO_CUSTOMERS[country] * (1 + 0.004 * np.arange(24))
        add("retention rate", "%", retention, None, country, 85.0, customers)
        add("churn rate", "%", churn, None, country, 3.0, customers)
        add("support wait time", "minutes", np.maximum(wait, 0.5), "support call", country, 5.0)
    fcr_call = 68.0 + 4.0 * t - 1.5 * season + rng.normal(0.0, 1.2, 24)
    fcr_chat = 77.0 + 3.0 * t - 1.0 * season + rng.normal(0.0, 1.2, 24)
    contacts = 1 + 0.3 * season
    add("first-contact resolution", "%", fcr_call, "support call", None, 75.0, 9_000 * contacts)
    add("first-contact resolution", "%", fcr_chat, "live chat", None, 75.0, 6_500 * contacts)

    frame = pd.concat(records, ignore_index=True)
    for column in ("metric", "unit", "touchpoint", "country"):
        frame[column] = frame[column].astype("str")
    frame["value"] = frame["value"].astype(np.float64)
    frame["target"] = frame["target"].astype(np.float64)
    frame["base"] = frame["base"].astype(np.float64)
    return frame.loc[:, list(METRIC_COLUMNS)]


def store_demo(
    store: Any,
    rows: int = DEFAULT_ROWS,
    seed: int = DEFAULT_SEED,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> None:
    """Replace the responses and metrics of `store` (a cxdata.store.Store) with the demo
    datasets, as one change in the store's log (kind "demo"): one transaction, one lake
    snapshot, all or nothing. The responses are generated and written ``chunk_rows`` at a
    time (demo_response_chunks), so memory stays at about one part whatever ``rows`` is.
    Raises ValueError for negative ``rows`` or ``chunk_rows`` < 1, and what Store.apply
    raises (AccessDenied without the "manage" right)."""
    from cxdata.store import Chunks, WriteOp  # the store module stays free of the generator

    parts = demo_response_chunks(rows, seed, chunk_rows=chunk_rows)
    store.apply(
        [
            WriteOp.replace(schema.RESPONSES, Chunks(parts, rows=int(rows))),
            WriteOp.replace(schema.METRICS, demo_metrics(seed=seed)),
        ],
        Commit("demo", details={"mode": "replace", "seed": seed}),
    )
