"""What the store holds: a version stamp per dataset, the date span and dimension values.

The dashboard caches every query on plain values; `data_version` is the part of the cache
key that changes when an import replaces or appends rows, so cached aggregates never
outlive the data they were computed from. Each function runs one small aggregate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import pandas as pd

from cxdata import schema
from cxdata.filters import NOT_SET
from cxdata.store import Store

# A multi-select with thousands of options is unusable; beyond this the most frequent
# values are offered (the filter itself still accepts any value, e.g. from a URL).
MAX_DIMENSION_VALUES = 1000


@dataclass(frozen=True)
class DataVersion:
    """The lake snapshot plus row counts and latest timestamps of the datasets: equal
    versions ⇒ same data.

    On the embedded lake the snapshot id alone decides (every committed write, from any
    process, makes a new one); the counts come along for the pages. On a warehouse
    (`snapshot` -1) the counts decide: not a cryptographic guarantee (a replace with
    identical counts and latest timestamps keeps the version), but every import path of the
    product changes one of them.
    """

    responses: int = 0
    responses_latest: str = ""
    metrics: int = 0
    metrics_latest: str = ""
    snapshot: int = -1

    @property
    def empty(self) -> bool:
        """True when there are no responses yet."""
        return self.responses == 0


def _count_and_latest(store: Store, name: str, column: str) -> tuple[int, str]:
    if not store.has(name):
        return 0, ""
    t = store.table(name)
    row = t.aggregate(n=t.count(), latest=t[column].max()).to_pandas().iloc[0]
    latest = row["latest"]
    return int(row["n"]), "" if pd.isna(latest) else str(latest)


# (location, restriction, snapshot) → its version: a snapshot's counts never change, so a
# rerun on an unchanged lake costs one catalog read (Store.refresh).
_VERSIONS: dict[tuple[object, ...], DataVersion] = {}
_VERSIONS_KEPT = 256


def data_version(store: Store) -> DataVersion:
    """The version stamp of the data this Store sees: the lake's snapshot (read anew on
    every call, so other processes' writes show) with the row counts and latest timestamps
    of the responses and metrics (two tiny aggregates, once per snapshot)."""
    snapshot = store.refresh()
    key = (store.location, store.restriction_key, snapshot)
    if snapshot >= 0 and key in _VERSIONS:
        return _VERSIONS[key]
    responses, r_latest = _count_and_latest(store, schema.RESPONSES, "submitted_at")
    metrics, m_latest = _count_and_latest(store, schema.METRICS, "date")
    version = DataVersion(responses, r_latest, metrics, m_latest, snapshot)
    if snapshot >= 0:
        if len(_VERSIONS) >= _VERSIONS_KEPT:
            _VERSIONS.clear()
        _VERSIONS[key] = version
    return version


DATE_COLUMNS: dict[str, str] = {schema.RESPONSES: "submitted_at", schema.METRICS: "date"}


def date_span(store: Store, name: str = schema.RESPONSES) -> tuple[dt.date, dt.date] | None:
    """First and last calendar day with a row of dataset `name` (responses, or the
    metrics dataset), or None when there are none."""
    if not store.has(name):
        return None
    t = store.table(name)
    column = t[DATE_COLUMNS[name]]
    row = t.aggregate(first=column.min(), last=column.max()).to_pandas()
    first, last = row["first"].iloc[0], row["last"].iloc[0]
    if pd.isna(first) or pd.isna(last):
        return None
    return pd.Timestamp(first).date(), pd.Timestamp(last).date()


def dimension_values(
    store: Store, dim: str, limit: int = MAX_DIMENSION_VALUES, name: str = schema.RESPONSES
) -> list[str]:
    """The values of one dimension, most frequent first; NOT_SET last when values are missing."""
    if dim not in store.dimensions(name):
        return []
    t = store.table(name)
    key = t[dim].fill_null(NOT_SET).name(dim)
    counts = (
        t.group_by(key)
        .aggregate(n=t.count())
        .order_by([ibis.desc("n"), dim])
        .limit(limit)
        .to_pandas()
    )
    values = [str(v) for v in counts[dim]]
    if NOT_SET in values:  # a filter on "missing" is rarely wanted: offer it, but last
        values.remove(NOT_SET)
        values.append(NOT_SET)
    return values


def _display_order(dim: str, values: list[str]) -> list[str]:
    """Journey stages in journey order, anything else alphabetically (case-insensitive);
    NOT_SET last."""
    rank = {s: i for i, s in enumerate(schema.JOURNEY_STAGES)} if dim == "journey_stage" else {}
    present = sorted(
        (v for v in values if v != NOT_SET), key=lambda v: (rank.get(v, len(rank)), v.casefold(), v)
    )
    return present + ([NOT_SET] if NOT_SET in values else [])


def all_dimension_values(
    store: Store, limit: int = MAX_DIMENSION_VALUES, name: str = schema.RESPONSES
) -> dict[str, list[str]]:
    """The values of every dimension, for filter lists: one aggregate collects the distinct
    values of all dimensions with at most `limit` of them (plus whether any is missing);
    a dimension with more gets its `limit` most frequent values from its own query."""
    card = dimension_cardinality(store, name)
    if not card:
        return {}
    t = store.table(name)
    small = [d for d, n in card.items() if n <= limit]
    out: dict[str, list[str]] = {}
    if small:
        aggs = {}
        for i, dim in enumerate(small):
            aggs[f"v{i}"] = t[dim].collect(distinct=True)
            aggs[f"m{i}"] = t[dim].isnull().any()
        row = t.aggregate(**aggs).to_pandas().iloc[0]
        for i, dim in enumerate(small):
            values = [str(v) for v in (row[f"v{i}"] if row[f"v{i}"] is not None else [])]
            if bool(row[f"m{i}"]):
                values.append(NOT_SET)
            out[dim] = _display_order(dim, values)
    for dim in (d for d in card if d not in out):
        out[dim] = dimension_values(store, dim, limit, name)
    return {d: out[d] for d in card}


# (location, restriction, snapshot, dataset) → distinct values per dimension: a full scan
# (2.7 s at 10M rows) that a snapshot never changes.
_CARDINALITIES: dict[tuple[object, ...], dict[str, int]] = {}


def dimension_cardinality(store: Store, name: str = schema.RESPONSES) -> dict[str, int]:
    """Distinct non-missing values per dimension, in one aggregate; on the embedded lake
    computed once per snapshot (one catalog read to check)."""
    dims = store.dimensions(name)
    if not dims:
        return {}
    snapshot = store.refresh()
    key = (store.location, store.restriction_key, snapshot, name)
    if snapshot >= 0 and key in _CARDINALITIES:
        return dict(_CARDINALITIES[key])
    t = store.table(name)
    row = t.aggregate(**{d: t[d].nunique() for d in dims}).to_pandas().iloc[0]
    found = {d: int(row[d]) for d in dims}
    if snapshot >= 0:
        if len(_CARDINALITIES) >= _VERSIONS_KEPT:
            _CARDINALITIES.clear()
        _CARDINALITIES[key] = found
    return dict(found)


# Journey and channel first, then who the customer is; anything else alphabetically.
_DIMENSION_ORDER: tuple[str, ...] = (
    "touchpoint", "journey_stage", "channel", "country", "region", "city", "plan",
    "customer_type", "persona", "device", "language",
)  # fmt: skip


def display_order(dims: Sequence[str]) -> list[str]:
    """`dims` in the product's display order (the sidebar's, the movers' and a digest's)."""
    rank = {d: i for i, d in enumerate(_DIMENSION_ORDER)}
    return sorted(dims, key=lambda d: (rank.get(d, len(rank)), d))
