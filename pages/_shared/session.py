"""The session's engine cursor and the cached queries every page reads through.

- One Store per browser session (DESIGN §3: Ibis backends are not thread-safe; DuckDB
  gets one process-wide connection and a cursor per Store), kept in session state.
- `st.cache_data` cannot hash Ibis objects, so every cached function takes the Store as an
  unhashed `_store` argument and is keyed on plain values only: the DataKey (store location,
  row restriction and data version — an import changes the version, so nothing stale is
  served), the Filters (a frozen dataclass of dates and tuples) and the options.
- Results are small pandas frames / dataclasses: aggregates only, never raw rows.
"""

from __future__ import annotations

import datetime as dt
import os
import runpy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import streamlit as st

from cxdata import catalog, comments, kpi_metrics, queries, segments
from cxdata.access import Grant
from cxdata.config import Thresholds, thresholds
from cxdata.errors import CxError
from cxdata.filters import Filters
from cxdata.queries import Kpis
from cxdata.store import Store, connect, is_open
from pages._shared.auth import effective_grant
from pages._shared.urlstate import ViewFilters

ENTRYPOINT = Path(__file__).resolve().parents[2] / "dashboard.py"
_STORE = "_cx_store"
_SCOPED = "_cx_scoped_store"
_CTX = "_cx_ctx"
_ACTIVE = "_cx_in_entrypoint"
_CACHE = {"show_spinner": False, "max_entries": 256}


def database_url() -> str | None:
    """`[connections.cx] url` from the app's secrets if present, else $CX_DATABASE_URL."""
    try:
        url = st.secrets.get("connections", {}).get("cx", {}).get("url")
    except Exception:  # no secrets file (the normal case): Streamlit raises on access
        url = None
    return str(url) if url else (os.environ.get("CX_DATABASE_URL", "").strip() or None)


def session_store(grant: Grant | None = None) -> Store:
    """This session's Store (its own cursor), created on first use, narrowed to what
    `grant` may see (default: the grant of this session's sign-in)."""
    store = st.session_state.get(_STORE)
    if store is None or not is_open(store):  # after an engine failure dropped its connection
        store = connect(url=database_url())
        st.session_state[_STORE] = store
    grant = grant or effective_grant()
    if grant is None:
        raise CxError("nobody is signed in")
    if grant.policy is not None:  # an entry naming a missing dimension closes it for all
        grant.policy.check_store(store)
    restrict = dict(grant.restrict)
    scoped = st.session_state.get(_SCOPED)
    if (scoped is None or scoped.restrict != restrict or scoped.role != grant.role
            or scoped.raw is not store.raw or scoped.backend is not store.backend):
        # The user's rows and role travel with the Store: the engine's writers check both.
        scoped = (store.restricted(restrict) if restrict else store).acting_as(grant.role)
        st.session_state[_SCOPED] = scoped
    return scoped


def fresh_store(store: Store) -> Store:
    """A new Store on the same data with the same restriction, for work on another thread
    (a deferred download runs beside the session's script run)."""
    fresh = connect(store.location) if store.is_embedded else connect(url=database_url())
    fresh = fresh.restricted(store.restrict) if store.restrict else fresh
    return fresh.acting_as(store.role) if store.role is not None else fresh


@dataclass(frozen=True)
class DataKey:
    """What cached results depend on besides their arguments."""

    location: str
    restrict: tuple[tuple[str, tuple[str, ...]], ...]
    version: catalog.DataVersion


def data_key(store: Store) -> DataKey:
    """The cache key of the store's current data (two tiny aggregates per run)."""
    restrict = tuple(sorted((k, tuple(v)) for k, v in store.restrict.items()))
    return DataKey(store.location, restrict, catalog.data_version(store))


# --- cached queries (plain-value keys; `_store` is not hashed) ---------------------------


@st.cache_data(**_CACHE)
def _date_span(_store: Store, key: DataKey) -> tuple[dt.date, dt.date] | None:
    return catalog.date_span(_store)


@st.cache_data(**_CACHE)
def _all_dimension_values(_store: Store, key: DataKey) -> dict[str, list[str]]:
    return catalog.all_dimension_values(_store)


@st.cache_data(**_CACHE)
def _dimensions(_store: Store, key: DataKey) -> list[str]:
    return _store.dimensions()


@st.cache_data(**_CACHE)
def _kpis(_store: Store, key: DataKey, f: Filters, th: Thresholds) -> Kpis:
    return queries.kpis(_store, f, th)


@st.cache_data(**_CACHE)
def _trend(
    _store: Store,
    key: DataKey,
    f: Filters,
    grain: str,
    by: str | None,
    top_n: int | None,
    th: Thresholds,
) -> pd.DataFrame:
    return queries.trend(_store, f, grain, by, top_n, th)


@st.cache_data(**_CACHE)
def _breakdown(
    _store: Store, key: DataKey, f: Filters, by: tuple[str, ...], th: Thresholds
) -> pd.DataFrame:
    return queries.breakdown(_store, f, list(by), th)


@st.cache_data(**_CACHE)
def _drilldown(
    _store: Store, key: DataKey, f: Filters, path: tuple[str, ...], th: Thresholds
) -> pd.DataFrame:
    return queries.drilldown(_store, f, list(path), th)


@st.cache_data(**_CACHE)
def _friction_matrix(
    _store: Store, key: DataKey, f: Filters, rows: str, cols: str, metric: str, th: Thresholds
) -> pd.DataFrame:
    return queries.friction_matrix(_store, f, rows, cols, metric, th)


@st.cache_data(**_CACHE)
def _hotspots(
    _store: Store, key: DataKey, f: Filters, by: str, limit: int, th: Thresholds
) -> pd.DataFrame:
    return queries.friction_hotspots(_store, f, by, limit, th)


@st.cache_data(**_CACHE)
def _movers(
    _store: Store,
    key: DataKey,
    cur: Filters,
    prev: Filters,
    dims: tuple[str, ...],
    metric: str,
    th: Thresholds,
) -> pd.DataFrame:
    return segments.movers(_store, cur, prev, list(dims), metric, th)


@st.cache_data(**_CACHE)
def _segment_vs_rest(
    _store: Store, key: DataKey, f: Filters, dim: str, metric: str, th: Thresholds
) -> pd.DataFrame:
    return segments.segment_vs_rest(_store, f, dim, metric, th)


@st.cache_data(**_CACHE)
def _metric_series(_store: Store, key: DataKey, f: Filters) -> pd.DataFrame:
    return kpi_metrics.metric_series(_store, f)


@st.cache_data(**_CACHE)
def _comment_page(
    _store: Store, key: DataKey, f: Filters, query: comments.CommentQuery, page: int, size: int
) -> comments.CommentPage:
    return comments.comment_page(_store, f, query, page, size)


# --- the per-run context the pages read -------------------------------------------------


@dataclass
class Ctx:
    """Everything a page needs: the store, the data key, the thresholds and the filters."""

    store: Store
    key: DataKey
    th: Thresholds
    span: tuple[dt.date, dt.date]
    view: ViewFilters = field(default_factory=ViewFilters)
    filters: Filters = field(default_factory=Filters)
    previous: Filters = field(default_factory=Filters)

    @property
    def anchor(self) -> dt.date:
        """The day the date presets end on: the latest day with data, never after today
        (a stray future date must not move every preset)."""
        return min(self.span[1], dt.date.today())

    # catalog
    def dimensions(self) -> list[str]:
        """Dimensions of the responses, in the order the sidebar shows them."""
        return order_dimensions(_dimensions(self.store, self.key))

    def dimension_values(self, dim: str) -> list[str]:
        """A dimension's values in display order (journey order, else alphabetical)."""
        return _all_dimension_values(self.store, self.key).get(dim, [])

    def cardinality(self) -> dict[str, int]:
        """Distinct values per dimension ("(not set)" counted as one)."""
        return {d: len(v) for d, v in _all_dimension_values(self.store, self.key).items()}

    # scores
    def kpis(self, f: Filters | None = None) -> Kpis:
        """NPS / CSAT / CES / friction inside `f` (default: the view's filters)."""
        return _kpis(self.store, self.key, f or self.filters, self.th)

    def trend(
        self,
        grain: str,
        by: str | None = None,
        top_n: int | None = None,
        f: Filters | None = None,
    ) -> pd.DataFrame:
        """Scores per period."""
        return _trend(self.store, self.key, f or self.filters, grain, by, top_n, self.th)

    def breakdown(self, by: Sequence[str], f: Filters | None = None) -> pd.DataFrame:
        """Scores per combination of `by`."""
        return _breakdown(self.store, self.key, f or self.filters, tuple(by), self.th)

    def drilldown(self, path: Sequence[str]) -> pd.DataFrame:
        """Scores at every level of a dimension path."""
        return _drilldown(self.store, self.key, self.filters, tuple(path), self.th)

    def friction_matrix(self, rows: str, cols: str, metric: str) -> pd.DataFrame:
        """The touchpoint × `cols` cells of `metric`."""
        return _friction_matrix(self.store, self.key, self.filters, rows, cols, metric, self.th)

    def hotspots(self, by: str, limit: int = 5) -> pd.DataFrame:
        """The highest-friction touchpoint × `by` cells."""
        return _hotspots(self.store, self.key, self.filters, by, limit, self.th)

    def movers(self, dims: Sequence[str], metric: str = "nps") -> pd.DataFrame:
        """Segments whose `metric` changed significantly vs the comparison period."""
        return _movers(
            self.store, self.key, self.filters, self.previous, tuple(dims), metric, self.th
        )

    def segment_vs_rest(self, dim: str, metric: str) -> pd.DataFrame:
        """Each value of `dim` vs all other answers."""
        return _segment_vs_rest(self.store, self.key, self.filters, dim, metric, self.th)

    # metrics dataset
    def metric_series(self, f: Filters | None = None) -> pd.DataFrame:
        """The metrics dataset's per-date values inside `f` (default: the view's filters),
        cached on the filters the metrics dataset can honour."""
        applied, _ = kpi_metrics.applicable_filters(self.store, f or self.filters)
        return _metric_series(self.store, self.key, applied)

    def metric_window(self) -> Filters:
        """The 12 months to the period's end plus the comparison period: one query serves
        the KPI values, their changes and their sparklines."""
        return kpi_metrics.covering(kpi_metrics.trailing_window(self.filters), self.previous)

    def metric_kpis(self) -> list[kpi_metrics.MetricKpi]:
        """The metrics dataset's KPIs now vs the comparison period."""
        series = self.metric_series(self.metric_window())
        return kpi_metrics.kpis_from_series(series, self.filters, self.previous)

    def metric_filters_ignored(self) -> tuple[str, ...]:
        """Filtered dimensions the metrics dataset does not have."""
        return kpi_metrics.applicable_filters(self.store, self.filters)[1]

    # comments
    def comment_page(
        self, query: comments.CommentQuery, page: int, size: int
    ) -> comments.CommentPage:
        """One page of matching comments."""
        return _comment_page(self.store, self.key, self.filters, query, page, size)


# Journey and channel first, then who the customer is; anything else alphabetically.
_DIMENSION_ORDER: tuple[str, ...] = (
    "touchpoint", "journey_stage", "channel", "country", "region", "city", "plan",
    "customer_type", "persona", "device", "language",
)  # fmt: skip


def order_dimensions(dims: Sequence[str]) -> list[str]:
    """`dims` in the product's display order."""
    rank = {d: i for i, d in enumerate(_DIMENSION_ORDER)}
    return sorted(dims, key=lambda d: (rank.get(d, len(rank)), d))


def build_context(store: Store, key: DataKey) -> Ctx | None:
    """The context of this run without filters yet (None when there are no responses)."""
    if key.version.empty:
        return None
    span = _date_span(store, key)
    if span is None:
        return None
    ctx = Ctx(store=store, key=key, th=thresholds(), span=span)
    st.session_state[_CTX] = ctx
    return ctx


@contextmanager
def entrypoint_run() -> Iterator[None]:
    """Mark the body as a run of dashboard.py (see `context`)."""
    st.session_state[_ACTIVE] = True
    try:
        yield
    finally:
        st.session_state[_ACTIVE] = False


def within_entrypoint() -> None:
    """Make sure this page runs inside dashboard.py (pages call this first).

    Because a pages/ folder exists, Streamlit starts each server process (and AppTest each
    run) in its legacy multipage mode, which runs a requested page file alone until
    st.navigation has been called. Then run the entry point instead: it signs in, calls
    st.navigation, prepares the context and runs this page inside; this outer run stops.
    """
    if not st.session_state.get(_ACTIVE):
        runpy.run_path(str(ENTRYPOINT))
        st.stop()


def context() -> Ctx:
    """The context dashboard.py prepared for this run (pages call this first)."""
    within_entrypoint()
    ctx = st.session_state.get(_CTX)
    if ctx is None:
        runpy.run_path(str(ENTRYPOINT))
        st.stop()
    return ctx
