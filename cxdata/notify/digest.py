"""A digest: the numbers of one saved dashboard view, computed for one reader.

`view_digest(store, view, …)` takes the reader's own Store — already narrowed by their
grant (access.Grant.scoped), so every number is computed under *their* restriction, with
min n applied after it — and a view saved as a URL (cxdata.urlstate: period, comparison,
filters, page options). It returns what the Overview shows for that URL, as values:

- the survey KPI tiles (NPS, CSAT, CES): value, 95% CI, n, the change vs the comparison
  period and its own 95% test, the admins' target met or missed (cxdata.targets);
- the number of answers and its change (answers per day, kpi_metrics.volume_change_between);
- the metrics dataset's KPIs with their targets (kpi_metrics.metric_kpis);
- the biggest movers (segments.movers: Benjamini–Hochberg over every segment tested);
- the friction hot spots (queries.friction_hotspots);
- the three themes whose share of the comments moved most (impact.theme_share_changes);
- what is withheld for a low base, in words; and the link that opens the same view.

The view's dates resolve exactly as the dashboard resolves them (ViewFilters.filters and
.compared with the anchor of session.Ctx: the reader's latest data day, never after
`today`). One difference, on purpose: a filter value the reader cannot see is kept (so the
view is empty for them and nothing is sent), where the dashboard drops it with a note —
a digest titled "Norway" must never carry another country's numbers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from cxdata import catalog, fmt, kpi_metrics, queries, segments
from cxdata.config import Thresholds
from cxdata.filters import Filters
from cxdata.metrics import METRICS, metric_def
from cxdata.queries import Score
from cxdata.store import Store
from cxdata.targets import Targets, on_target
from cxdata.urlstate import (
    Comparison,
    ViewFilters,
    decode_choice,
    query_string,
    unknown_params,
)
from cxdata.voc import impact, persist

TILE_METRICS: tuple[str, ...] = ("nps", "csat", "ces")
MOVERS_SHOWN = 5
HOTSPOTS_SHOWN = 5
THEMES_SHOWN = 3
THEME_SOURCE = "taxonomy"  # the curated themes: the same in every language


@dataclass(frozen=True)
class Tile:
    """One survey KPI of the view: `score` now, `previous` in the comparison period, the
    change and its test (kpi_metrics.ScoreChange), and the target (None: none set)."""

    metric: str
    score: Score
    change: kpi_metrics.ScoreChange
    target: float | None

    @property
    def shown(self) -> bool:
        """Whether the value is shown (n ≥ min n)."""
        return self.score.n > 0 and not self.score.suppressed

    @property
    def target_met(self) -> bool | None:
        """Target met (True) / missed (False); None without a target or a shown value."""
        if self.target is None or not self.shown or self.score.value is None:
            return None
        return on_target(self.metric, self.score.value, self.target)


@dataclass(frozen=True)
class Digest:
    """Everything a digest says about one view for one reader (see the module docstring).

    Frames: `movers` (segments.movers rows, at most MOVERS_SHOWN), `hotspots`
    (queries.friction_hotspots rows, by `hotspot_by`), `themes` (impact.theme_share_changes
    rows, at most THEMES_SHOWN, only those with a share in both periods), `trend`
    (queries.trend per month over the 12 months to the period's end, with coverage)."""

    title: str
    page: str
    current: Filters
    previous: Filters
    comparison: Comparison
    responses: int
    responses_previous: int
    volume: kpi_metrics.VolumeChange | None
    tiles: tuple[Tile, ...]
    metric_kpis: tuple[kpi_metrics.MetricKpi, ...]
    movers_metric: str
    movers: pd.DataFrame
    mover_tests: int
    hotspot_by: str | None
    hotspots: pd.DataFrame
    themes: pd.DataFrame
    theme_tests: int
    withheld: tuple[str, ...]
    link: str
    trend: pd.DataFrame = field(default_factory=pd.DataFrame)  # NPS per month, 12 months
    metric_ignored: tuple[str, ...] = ()  # filtered dimensions the metrics dataset lacks
    notes: tuple[str, ...] = field(default=())

    @property
    def sendable(self) -> bool:
        """Whether there is anything to send: answers in the view and at least one KPI
        shown (a view that is empty or wholly suppressed for this reader sends nothing)."""
        return self.responses > 0 and any(t.shown for t in self.tiles)

    @property
    def period_text(self) -> str:
        """The view's period and filters in words, as the charts' subtitles write them."""
        return fmt.view_context(self.current)


def view_link(base_url: str, page: str, params: Mapping[str, Sequence[str]]) -> str:
    """The dashboard URL of a view: `base_url` + the page's path + its query string."""
    path = "/" + page.strip("/")
    qs = query_string(params)
    return base_url.rstrip("/") + path + (f"?{qs}" if qs else "")


@dataclass(frozen=True)
class ResolvedView:
    """A saved view on one reader's data: the ViewFilters, the current and comparison
    Filters, the comparison used, and the span of the reader's dated answers."""

    view: ViewFilters
    current: Filters
    previous: Filters
    comparison: Comparison
    span: tuple[dt.date, dt.date]


def resolved_view(
    store: Store, params: Mapping[str, Sequence[str]], today: dt.date
) -> ResolvedView | None:
    """The view in `params` resolved on `store`'s data as the dashboard resolves it (the
    anchor is the latest data day, never after `today`). None when the reader has no
    dated answers at all."""
    span = catalog.date_span(store)
    if span is None:
        return None
    anchor = min(span[1], today)
    view = ViewFilters.from_params(params, store.dimensions())
    return ResolvedView(view, view.filters(anchor, span[0]), view.comparison(anchor, span[0]),
                        view.compared(anchor, span[0]), span)


def _tiles(
    store: Store, now: queries.Kpis, before: queries.Kpis, th: Thresholds, targets: Targets
) -> tuple[Tile, ...]:
    return tuple(
        Tile(m, now.score(m), kpi_metrics.score_change(m, now, before, th), targets.get(m))
        for m in TILE_METRICS
    )


def _withheld(tiles: Sequence[Tile], th: Thresholds) -> list[str]:
    """The tiles withheld or marked, in words (each with its n)."""
    out = []
    for t in tiles:
        label = metric_def(t.metric).short_label
        if t.score.n == 0:
            out.append(f"{label}: no answers in this view")
        elif t.score.suppressed:
            out.append(f"{label}: withheld, n = {t.score.n:,} (fewer than {th.min_n} answers)")
        elif t.change.significant is None:
            out.append(f"{label}: change not tested (low base: fewer than {th.low_base} "
                       "answers in a period)")
    return out


def _movers(
    store: Store, current: Filters, previous: Filters, metric: str, th: Thresholds
) -> tuple[pd.DataFrame, int]:
    dims = catalog.display_order(store.dimensions())
    card = {d: len(v) for d, v in catalog.all_dimension_values(store).items()}
    tested = segments.mover_dimensions(dims, card, current)
    found = segments.movers(store, current, previous, tested, metric, th)
    return found.head(MOVERS_SHOWN), int(found.attrs.get("comparisons", 0))


def _themes(
    store: Store, current: Filters, previous: Filters, th: Thresholds
) -> tuple[pd.DataFrame, int]:
    if not persist.has_results(store):
        return pd.DataFrame(), 0
    moved = impact.theme_share_changes(store, current, previous, THEME_SOURCE, th)
    if moved.empty:
        return moved, 0
    both = moved[moved["change"].notna()]
    return both.head(THEMES_SHOWN).reset_index(drop=True), int(moved["comparisons"].iloc[0])


def view_digest(
    store: Store,
    page: str,
    params: Mapping[str, Sequence[str]],
    *,
    th: Thresholds,
    targets: Targets,
    base_url: str,
    title: str,
    today: dt.date | None = None,
) -> Digest | None:
    """The digest of the view (`page`, `params`: a saved URL's path and query) on the
    reader's `store`. None when the reader has no dated answers at all. Raises what the
    engine raises for a broken store (CxError); never reads outside the Store's restriction.
    """
    resolved = resolved_view(store, params, today or dt.date.today())
    if resolved is None:
        return None
    current, previous, comparison = resolved.current, resolved.previous, resolved.comparison
    now, before = queries.kpis(store, current, th), queries.kpis(store, previous, th)
    tiles = _tiles(store, now, before, th, targets)
    volume = kpi_metrics.volume_change_between(now.responses, before.responses, current,
                                               previous)
    metric = decode_choice(params.get("metric"), list(METRICS), "nps")
    movers, mover_tests = (_movers(store, current, previous, metric, th)
                           if now.score(metric).n else (pd.DataFrame(), 0))
    by = queries.hotspot_dimension(store.dimensions())
    spots = (queries.friction_hotspots(store, current, by, HOTSPOTS_SHOWN, th)
             if by and now.responses else pd.DataFrame())
    themes, theme_tests = _themes(store, current, previous, th)
    window = kpi_metrics.trailing_window(current)
    trend = queries.with_coverage(queries.trend(store, window, "month", None, None, th), "month",
                                  window.start, window.end) if now.responses else pd.DataFrame()
    return Digest(
        title=title, page=page, current=current, previous=previous, comparison=comparison,
        responses=now.responses, responses_previous=before.responses, volume=volume,
        tiles=tiles, metric_kpis=tuple(kpi_metrics.metric_kpis(store, current, previous)),
        movers_metric=metric, movers=movers, mover_tests=mover_tests, hotspot_by=by,
        hotspots=spots, themes=themes, theme_tests=theme_tests,
        withheld=tuple(_withheld(tiles, th)), link=view_link(base_url, page, params),
        trend=trend, metric_ignored=kpi_metrics.applicable_filters(store, current)[1],
        notes=(*_notes(comparison, current, resolved.span, today or dt.date.today()),
               *_ignored(params, store.dimensions())),
    )  # fmt: skip


def _ignored(params: Mapping[str, Sequence[str]], dims: Sequence[str]) -> tuple[str, ...]:
    """A note naming the view's parameters that are no filter of the reader's data."""
    names = unknown_params(params, dims)
    if not names:
        return ()
    listed = ", ".join(repr(n) for n in names)
    return (f"The saved view names {listed}, which is not a filter of this data: it was "
            "left out, so these numbers are not narrowed by it.",)


def _notes(comparison: Comparison, current: Filters, span: tuple[dt.date, dt.date],
           today: dt.date) -> tuple[str, ...]:
    """What the reader should know about the dates: a comparison that is not the one
    chosen, and a period that ends on the reader's latest answers when those are older
    than yesterday (a preset period ends there, as on the dashboard)."""
    notes = [comparison.note] if comparison.note else []
    last = span[1]
    if current.end == last and (today - last).days > 1:
        notes.append(f"The latest answers you can see are from {current.end:%-d %b %Y}; "
                     "the period ends on that day.")
    return tuple(notes)
