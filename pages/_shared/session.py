"""The session's engine cursor and the cached queries every page reads through.

- One Store per browser session (DESIGN §3: Ibis backends are not thread-safe; DuckDB
  gets one process-wide connection and a cursor per Store), kept in session state.
- One cached query layer: QUERIES names every engine call a page makes and one
  `st.cache_data` function runs them. `st.cache_data` cannot hash Ibis objects, so it takes
  the Store as an unhashed `_store` argument and is keyed on plain values only: the DataKey
  (store location, row restriction and data version — an import changes the version, so
  nothing stale is served; for theme results also their version), the query's name and its
  arguments (Filters is a frozen dataclass of dates and tuples; lists become tuples).
  The Ctx methods the pages call are one-line wrappers of `Ctx.query`.
- Results are small pandas frames / dataclasses: aggregates only, never raw rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import runpy
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from cxdata import (
    annotations,
    catalog,
    comments,
    drivers,
    explain,
    kpi_metrics,
    queries,
    ratings,
    segments,
)
from cxdata.access import Grant
from cxdata.config import Thresholds, thresholds
from cxdata.errors import CxError
from cxdata.filters import Filters
from cxdata.queries import Kpis
from cxdata.store import Store, connect, is_open
from cxdata.urlstate import ViewFilters
from cxdata.voc import fit, impact, persist, verbatims
from pages._shared.auth import effective_grant

ENTRYPOINT = Path(__file__).resolve().parents[2] / "dashboard.py"
_STORE = "_cx_store"
_SCOPED = "_cx_scoped_store"
_CTX = "_cx_ctx"
_ACTIVE = "_cx_in_entrypoint"
_CACHE = {"show_spinner": False, "max_entries": 1024}  # one cache for all the queries


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
    author = grant.email or "dashboard (open access)"
    if (scoped is None or scoped.restrict != restrict or scoped.role != grant.role
            or scoped.author != author
            or scoped.raw is not store.raw or scoped.backend is not store.backend):
        # The user's rows and role travel with the Store: the engine's writers check both,
        # and the change log records who wrote.
        scoped = (store.restricted(restrict) if restrict else store).acting_as(grant.role)
        scoped = scoped.by(author)
        st.session_state[_SCOPED] = scoped
    return scoped


def fresh_store(store: Store) -> Store:
    """A new Store on the same data with the same restriction, for work on another thread
    (a deferred download runs beside the session's script run)."""
    fresh = connect(store.location) if store.is_embedded else connect(url=database_url())
    fresh = fresh.restricted(store.restrict) if store.restrict else fresh
    fresh = fresh.acting_as(store.role) if store.role is not None else fresh
    return fresh.by(store.author)


@dataclass(frozen=True)
class DataKey:
    """What cached results depend on besides their arguments: the store's location, its row
    restriction, the data version and, for results read from the stored themes
    (VOC_QUERIES), the version of those results (`results`, empty otherwise)."""

    location: str
    restrict: tuple[tuple[str, tuple[str, ...]], ...]
    version: catalog.DataVersion
    results: str = ""


def data_key(store: Store) -> DataKey:
    """The cache key of the store's current data (two tiny aggregates per run)."""
    return DataKey(store.location, store.restriction_key, catalog.data_version(store))


# --- the cached query layer (plain-value keys; `_store` is not hashed) -------------------


def _metric_kpis(
    store: Store, key: DataKey, window: Filters, current: Filters, previous: Filters
) -> list[kpi_metrics.MetricKpi]:
    """kpi_metrics.kpis_from_series over the cached metric_series of `window` (the applied
    filters of Ctx.metric_window); `current` and `previous` matter by their dates only."""
    series = cached_query(store, key, "metric_series", window)
    return kpi_metrics.kpis_from_series(series, current, previous)


def _explain(
    store: Store, key: DataKey, current: Filters, previous: Filters, metric: str,
    by: str | tuple[str, str], th: Thresholds,
) -> explain.Explanation | explain.Explanation2D:
    """explain.explain(store, current, previous, metric, by, th); along one dimension that
    rank_dimensions ranked, from the counts its cached result holds (explain_ranked: the
    same Explanation, no second query)."""
    if isinstance(by, str):
        ranking = cached_query(store, key, "rank_dimensions", current, previous, metric, th)
        if by in set(ranking["dimension"]):
            return explain.explain_ranked(ranking, by, metric, current, previous, th)
    return explain.explain(store, current, previous, metric, by, th)


# Every engine call a page makes, by name; each takes the Store first.
QUERIES: dict[str, Callable[..., Any]] = {
    # catalog
    "date_span": catalog.date_span,
    "dimension_values": catalog.all_dimension_values,
    "dimensions": Store.dimensions,
    # scores
    "kpis": queries.kpis,
    "kpis_pair": queries.kpis_pair,
    "trend": queries.trend,
    "breakdown": queries.breakdown,
    "drilldown": queries.drilldown,
    "friction_matrix": queries.friction_matrix,
    "hotspots": queries.friction_hotspots,
    "movers": segments.movers,
    "segment_vs_rest": segments.segment_vs_rest,
    "touchpoint_ratings": ratings.touchpoint_ratings,
    # why did it move (change decomposition)
    "explain": _explain,
    "rank_dimensions": explain.rank_dimensions,
    # key driver analysis (ratings and theme flags)
    "key_drivers": drivers.key_drivers,
    # metrics dataset and comments
    "metric_series": kpi_metrics.metric_series,
    "metric_kpis": _metric_kpis,
    "comment_page": comments.comment_page,
    "annotations_in": annotations.annotations_in,
    # themes (voice of the customer)
    "voc_status": persist.voc_status,
    "theme_impact": impact.theme_impact,
    "theme_trend": impact.theme_trend,
    "theme_matrix": impact.theme_matrix,
    "voc_languages": impact.voc_languages,
    "theme_verbatims": verbatims.theme_verbatims,
    "taxonomy_fit": fit.taxonomy_fit,
}
# Results read from the stored themes. "Compute themes" or a taxonomy edit changes them
# without changing the responses, so their key also carries persist.results_version.
VOC_QUERIES = frozenset(
    {"voc_status", "theme_impact", "theme_trend", "theme_matrix", "voc_languages",
     "theme_verbatims", "taxonomy_fit", "key_drivers"}
)  # fmt: skip


def _hashable(value: Any) -> Any:
    """`value` as a cache key part: lists (from the pages) become tuples."""
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


@st.cache_data(**_CACHE)
def _cached(
    _store: Store,
    key: DataKey,
    name: str,
    args: tuple[Any, ...],
    kwargs: tuple[tuple[str, Any], ...],
) -> Any:
    return QUERIES[name](_store, *args, **dict(kwargs))


@st.cache_data(**_CACHE)
def _cached_by_text(
    _store: Store,
    text: str,
    name: str,
    _args: tuple[Any, ...],
    _kwargs: tuple[tuple[str, Any], ...],
) -> Any:
    return QUERIES[name](_store, *_args, **dict(_kwargs))


# Exact types whose repr is their value (subclasses excluded: pd.Timestamp is a datetime).
_PLAIN = frozenset({type(None), bool, int, float, str, dt.date, dt.datetime, dt.time})


def key_text(value: Any) -> str:
    """`value` written out exactly, as one cache key string: plain values by their repr
    (which tells 1, 1.0 and True apart), lists and tuples alike (as the pages' lists reach
    the engine as tuples), frozen dataclasses by their class and fields. Raises TypeError
    for anything else (the caller then lets Streamlit hash it). Streamlit hashes such a
    string far faster than the dataclasses it describes."""
    kind = type(value)
    if kind in _PLAIN:
        return repr(value)
    if kind is tuple or kind is list:
        return "(" + ",".join(key_text(v) for v in value) + ",)"
    params = getattr(kind, "__dataclass_params__", None)
    if params is not None and params.frozen:
        fields = ",".join(
            f"{f.name}={key_text(getattr(value, f.name))}" for f in dataclasses.fields(value)
        )
        return f"{kind.__module__}.{kind.__qualname__}({fields})"
    raise TypeError(f"no exact key text for {kind.__name__}")


def cached_query(store: Store, key: DataKey, name: str, *args: Any, **kwargs: Any) -> Any:
    """`QUERIES[name](store, *args, **kwargs)`, cached on `key`, the name and the arguments
    (plain values: Filters, Thresholds, strings, numbers; lists are passed as tuples).
    `key` must be the store's DataKey, with `results` set for VOC_QUERIES (Ctx.query)."""
    if name not in QUERIES:
        raise KeyError(f"no cached query named {name!r}")
    frozen = tuple(sorted((k, _hashable(v)) for k, v in kwargs.items()))
    plain = _hashable(list(args))
    # by keyword: Streamlit looks up a positional argument's name with inspect.signature on
    # every call (the cache key skips `_` names), ~1/4 of a cache hit's cost
    try:
        text = key_text((key, name, plain, frozen))
    except TypeError:  # an argument of another kind: Streamlit hashes the values
        return _cached(_store=store, key=key, name=name, args=plain, kwargs=frozen)
    return _cached_by_text(_store=store, text=text, name=name, _args=plain, _kwargs=frozen)


# --- the per-run context the pages read -------------------------------------------------


# persist.results_version by data key, for keys with a lake snapshot (Ctx.voc_key)
_RESULT_VERSIONS: dict[DataKey, str] = {}
_RESULT_VERSIONS_KEPT = 256


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
    # this run's Kpis by filters, from kpis_now_and_before (a Ctx lives for one run; not
    # an init field, so dataclasses.replace — another store or role — starts empty)
    _kpis: dict[Filters, Kpis] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def anchor(self) -> dt.date:
        """The day the date presets end on: the latest day with data, never after today
        (a stray future date must not move every preset)."""
        return min(self.span[1], dt.date.today())

    @cached_property
    def voc_key(self) -> DataKey:
        """The data key with the version of the stored theme results (a Ctx lives for one
        run; computing themes or editing the taxonomy reruns), read once per lake snapshot:
        every write, theme results included, makes a new one. A warehouse (no snapshot)
        reads it on every run."""
        stamp = _RESULT_VERSIONS.get(self.key)
        if stamp is None:
            stamp = persist.results_version(self.store)
            if self.key.version.snapshot >= 0:
                if len(_RESULT_VERSIONS) >= _RESULT_VERSIONS_KEPT:
                    _RESULT_VERSIONS.clear()
                _RESULT_VERSIONS[self.key] = stamp
        return replace(self.key, results=stamp)

    def query(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """The cached engine call `name` (see QUERIES) on this run's store and key."""
        key = self.voc_key if name in VOC_QUERIES else self.key
        return cached_query(self.store, key, name, *args, **kwargs)

    # catalog
    def dimensions(self) -> list[str]:
        """Dimensions of the responses, in the order the sidebar shows them."""
        return catalog.display_order(self.query("dimensions"))

    def dimension_values(self, dim: str) -> list[str]:
        """A dimension's values in display order (journey order, else alphabetical)."""
        return self.query("dimension_values").get(dim, [])

    def cardinality(self) -> dict[str, int]:
        """Distinct values per dimension ("(not set)" counted as one)."""
        return {d: len(v) for d, v in self.query("dimension_values").items()}

    # scores
    def kpis(self, f: Filters | None = None) -> Kpis:
        """NPS / CSAT / CES / friction inside `f` (default: the view's filters); the view's
        and the comparison period's from this run's kpis_now_and_before when it ran."""
        f = f or self.filters
        got = self._kpis.get(f)
        return got if got is not None else self.query("kpis", f, self.th)

    def kpis_now_and_before(self) -> tuple[Kpis, Kpis]:
        """The Kpis of the view's filters and of the comparison period, from one query
        (queries.kpis_pair), asked once per run; later kpis() calls of this run for either
        are served from it."""
        if self.filters in self._kpis and self.previous in self._kpis:
            return self._kpis[self.filters], self._kpis[self.previous]
        now, before = self.query("kpis_pair", self.filters, self.previous, self.th)
        self._kpis.update({self.previous: before, self.filters: now})
        return now, before

    def trend(
        self,
        grain: str,
        by: str | None = None,
        top_n: int | None = None,
        f: Filters | None = None,
        values: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Scores per period; `values` (instead of `top_n`): the split's own lines."""
        if values is not None:
            return self.query("trend", f or self.filters, grain, by, None, self.th, values=values)
        return self.query("trend", f or self.filters, grain, by, top_n, self.th)

    def breakdown(self, by: Sequence[str], f: Filters | None = None) -> pd.DataFrame:
        """Scores per combination of `by`."""
        return self.query("breakdown", f or self.filters, list(by), self.th)

    def drilldown(self, path: Sequence[str]) -> pd.DataFrame:
        """Scores at every level of a dimension path."""
        return self.query("drilldown", self.filters, list(path), self.th)

    def friction_matrix(self, rows: str, cols: str, metric: str) -> pd.DataFrame:
        """The touchpoint × `cols` cells of `metric`."""
        return self.query("friction_matrix", self.filters, rows, cols, metric, self.th)

    def hotspots(self, by: str, limit: int = 5) -> pd.DataFrame:
        """The highest-friction touchpoint × `by` cells."""
        return self.query("hotspots", self.filters, by, limit, self.th)

    def touchpoint_ratings(self, by: str | None = None) -> pd.DataFrame:
        """Mean and top-2-box per rated touchpoint and scale (per value of `by`)."""
        return self.query("touchpoint_ratings", self.filters, by, self.th)

    def movers(self, dims: Sequence[str], metric: str = "nps") -> pd.DataFrame:
        """Segments whose `metric` changed significantly vs the comparison period."""
        return self.query("movers", self.filters, self.previous, list(dims), metric, self.th)

    def segment_vs_rest(self, dim: str, metric: str) -> pd.DataFrame:
        """Each value of `dim` vs all other answers."""
        return self.query("segment_vs_rest", self.filters, dim, metric, self.th)

    # why did it move
    def rank_dimensions(self, metric: str) -> pd.DataFrame:
        """The dimensions ranked by how much of `metric`'s change vs the comparison period
        they explain (explain.rank_dimensions: dimension, segments, within, mix, total,
        explained), largest first; empty when none qualifies."""
        return self.query("rank_dimensions", self.filters, self.previous, metric, self.th)

    def explain(
        self, metric: str, by: str | tuple[str, str]
    ) -> explain.Explanation | explain.Explanation2D:
        """`metric`'s change vs the comparison period decomposed along `by` (explain.explain,
        default bootstrap and seed): one dimension → Explanation, a tuple of two (A, B) →
        Explanation2D (Das Gupta). Raises explain.NotEnoughAnswers under min n."""
        return self.query("explain", self.key, self.filters, self.previous, metric, by, self.th)

    def key_drivers(self, outcome: str, bootstrap: int) -> drivers.Drivers:
        """The key drivers of `outcome` ("nps" | "csat") over the view's answers
        (drivers.key_drivers: ratings and theme flags, `bootstrap` resamples, seed 0, the
        engine's min n). Raises drivers.NotEnoughAnswers under min n, CxError without
        drivers."""
        return self.query("key_drivers", self.filters, outcome, bootstrap=bootstrap)

    # metrics dataset
    def metric_series(self, f: Filters | None = None) -> pd.DataFrame:
        """The metrics dataset's per-date values inside `f` (default: the view's filters),
        cached on the filters the metrics dataset can honour."""
        applied, _ = kpi_metrics.applicable_filters(self.store, f or self.filters)
        return self.query("metric_series", applied)

    def metric_window(self) -> Filters:
        """The 12 months to the period's end plus the comparison period: one query serves
        the KPI values, their changes and their sparklines."""
        return kpi_metrics.covering(kpi_metrics.trailing_window(self.filters), self.previous)

    def metric_kpis(self) -> list[kpi_metrics.MetricKpi]:
        """The metrics dataset's KPIs now vs the comparison period, cached on what they
        depend on: the applicable window and the two date ranges (so a filter the metrics
        dataset does not have does not recompute them)."""
        applied, _ = kpi_metrics.applicable_filters(self.store, self.metric_window())
        now, before = (Filters(f.start, f.end) for f in (self.filters, self.previous))
        return self.query("metric_kpis", self.key, applied, now, before)

    def metric_filters_ignored(self) -> tuple[str, ...]:
        """Filtered dimensions the metrics dataset does not have."""
        return kpi_metrics.applicable_filters(self.store, self.filters)[1]

    # comments
    def comment_page(
        self, query: comments.CommentQuery, page: int, size: int
    ) -> comments.CommentPage:
        """One page of matching comments."""
        return self.query("comment_page", self.filters, query, page, size)

    # themes (their key carries the results' version: voc_key)
    def voc_status(self) -> persist.VocStatus:
        """What is stored: analysed, pending and stale comments, whether the taxonomy is
        current."""
        return self.query("voc_status")

    def theme_impact(self, source: str) -> pd.DataFrame:
        """One row per theme of `source` (largest first): volume, share, NPS with and
        without, impact, t, significance (impact.theme_impact)."""
        return self.query("theme_impact", self.filters, source, self.th)

    def theme_trend(self, source: str, grain: str, themes: Sequence[str]) -> pd.DataFrame:
        """Per period and chosen theme: mentions, comments, share, NPS with the theme."""
        return self.query("theme_trend", self.filters, grain, list(themes), source, self.th)

    def theme_matrix(self, source: str, by: str = "touchpoint") -> pd.DataFrame:
        """Theme × `by` cells: mentions, comments, share, NPS with the theme."""
        return self.query("theme_matrix", self.filters, by, source, self.th)

    def voc_languages(self) -> pd.DataFrame:
        """Analysed comments per language with the sentiment lexicon each has."""
        return self.query("voc_languages", self.filters)

    def theme_verbatims(
        self, theme: str, page: int, size: int, band: str
    ) -> verbatims.VerbatimPage:
        """One page of the comments mentioning `theme`, newest first."""
        return self.query("theme_verbatims", self.filters, theme, page, size, band)


def build_context(store: Store, key: DataKey) -> Ctx | None:
    """The context of this run without filters yet (None when there are no responses)."""
    if key.version.empty:
        return None
    span = cached_query(store, key, "date_span")
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
